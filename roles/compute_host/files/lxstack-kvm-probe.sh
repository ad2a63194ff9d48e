#!/bin/sh
# Does KVM run a real guest here? (managed by lxstack.openstack, roles/compute_host)
#   lxstack-kvm-probe.sh IMAGE [TIMEOUT]
# Prints one line, "kvm <reason>" or "qemu <reason>", and exits 0. kvm only when /dev/kvm opens AND
# the test image (roles/guest_image) reaches its userland under KVM within TIMEOUT seconds (default
# 60): its kernel writes "Run /init as init process" to the serial console as the init starts.
# /dev/kvm alone proves nothing: a paravirtual KVM (kvm_pvm) offers it, yet guests stop in firmware.
# LXSTACK_KVM_PROBE_ACCEL=tcg runs the same boot under emulation (the probe's own test).
set -u
image=${1:?usage: $0 IMAGE [TIMEOUT]}
timeout=${2:-60}
accel=${LXSTACK_KVM_PROBE_ACCEL:-kvm}
if [ "$accel" = kvm ]; then
    [ -c /dev/kvm ] || { echo "qemu /dev/kvm is absent"; exit 0; }
    if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then echo "qemu /dev/kvm cannot be opened"; exit 0; fi
    cpu="-cpu host"
else
    cpu=
fi
[ -r "$image" ] || { echo "qemu no test image to probe KVM with ($image)"; exit 0; }
command -v qemu-system-x86_64 >/dev/null || { echo "qemu qemu-system-x86_64 is missing"; exit 0; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# snapshot=on: the image is only read; no NIC: the guest reports "failed no eth0" once it is up
# shellcheck disable=SC2086  # $cpu: no argument or two
timeout "$timeout" qemu-system-x86_64 -accel "$accel" $cpu -m 128 -smp 1 -nodefaults -no-user-config \
    -display none -serial "file:$log" -drive "file=$image,if=virtio,snapshot=on" -no-reboot \
    >/dev/null 2>"$log.err" &
pid=$!
elapsed=0
while kill -0 "$pid" 2>/dev/null; do
    if grep -qE 'Run /init as init process|lxstack-(init|guest):' "$log" 2>/dev/null; then
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        rm -f "$log.err"
        echo "kvm the test image reached its userland under $accel in ${elapsed}s"
        exit 0
    fi
    sleep 1
    elapsed=$((elapsed + 1))
done
wait "$pid"
rc=$?
why=$(tr '\n' ' ' <"$log.err" | cut -c1-200)
rm -f "$log.err"
if [ "$rc" = 124 ]; then
    echo "qemu a guest under $accel did not reach its userland in ${timeout}s"
else
    echo "qemu QEMU with $accel failed (exit $rc): ${why:-no message}"
fi
