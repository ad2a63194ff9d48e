#!/bin/sh
# /init of the lxstack smoke-test guest (managed by lxstack.openstack, roles/guest_image): a busybox
# shell as PID 1 in the initramfs. It loads the virtio modules, takes an address by DHCP on eth0,
# reads the instance's identity from the metadata service and writes ONE marker line to the console:
#   lxstack-guest: ok address=<ip/prefix> uuid=<uuid> hostname=<hostname>
#   lxstack-guest: ok address=<ip/prefix> instance-id=<id> hostname=<hostname>   (EC2-style fallback)
#   lxstack-guest: failed <reason>
# Then it serves that line on port 80 (busybox httpd) and never exits (PID 1 must not).
# The whole wait for DHCP and metadata is bounded by LXSTACK_TIMEOUT seconds (/etc/lxstack-guest.conf,
# written at build time), which `lxstack.timeout=N` on the kernel command line overrides.
# Run by udhcpc (not as PID 1) it is udhcpc's event script instead.
# shellcheck disable=SC3043  # busybox ash has local

METADATA=http://169.254.169.254

# udhcpc's event script: $1 is the event, the lease comes in the environment (busybox's names).
# shellcheck disable=SC2154  # interface, ip, mask, subnet, router, mtu, staticroutes: from udhcpc
dhcp_event() {
    case "$1" in
        deconfig)
            ip -4 addr flush dev "$interface"
            ip link set dev "$interface" up
            ;;
        bound | renew)
            # mtu: OVN hands out the tunnel's smaller MTU (TCP stalls without it)
            if [ -n "$mtu" ]; then ip link set dev "$interface" mtu "$mtu"; fi
            local prefix="${mask:-$subnet}"
            if ! ip -4 addr show dev "$interface" | grep -q "inet $ip/"; then
                ip -4 addr flush dev "$interface"
                ip addr add "$ip/$prefix" dev "$interface"
            fi
            # classless static routes (option 121) replace the router option when present (RFC 3442);
            # Neutron routes 169.254.169.254 through them to its metadata port
            local default=""
            if [ -n "$staticroutes" ]; then
                # shellcheck disable=SC2086  # "dest gw dest gw ..." split into pairs
                set -- $staticroutes
                while [ $# -ge 2 ]; do
                    if [ "$2" = 0.0.0.0 ]; then
                        ip route replace "$1" dev "$interface"
                    else
                        ip route replace "$1" via "$2" dev "$interface"
                    fi
                    if [ "$1" = 0.0.0.0/0 ]; then default=yes; fi
                    shift 2
                done
            fi
            if [ -z "$default" ] && [ -z "$staticroutes" ] && [ -n "$router" ]; then
                # shellcheck disable=SC2086  # the first router of the list
                set -- $router
                ip route replace default via "$1" dev "$interface"
            fi
            ;;
    esac
    return 0
}

if [ "$$" != 1 ]; then
    dhcp_event "$@"
    exit 0
fi

/bin/busybox mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/bin
mount -t sysfs sysfs /sys
mkdir -p /run /tmp /www

LXSTACK_TIMEOUT=120
# shellcheck source=/dev/null
[ -r /etc/lxstack-guest.conf ] && . /etc/lxstack-guest.conf
read -r cmdline </proc/cmdline
for arg in $cmdline; do
    case "$arg" in
        lxstack.timeout=*) LXSTACK_TIMEOUT=${arg#lxstack.timeout=} ;;
    esac
done

say() { echo "lxstack-init: $*"; }

uptime_s() {
    local up
    read -r up _ </proc/uptime
    echo "${up%.*}"
}

# The one marker line: on the console, and on ttyS0 as well when the console is elsewhere.
marker() {
    local line="lxstack-guest: $*"
    echo "$line"
    if [ -c /dev/ttyS0 ] && ! grep -qw ttyS0 /sys/class/tty/console/active 2>/dev/null; then
        echo "$line" >/dev/ttyS0
    fi
    echo "$line" >/www/index.html
    httpd -p 80 -h /www
}

# A URL's body, waiting at most 10 s and never past the deadline (timeout: busybox 1.35's own wget -T
# crashes). A slow metadata service gets asked again until the deadline.
fetch() {
    local left=$((deadline - $(uptime_s)))
    [ "$left" -le 10 ] || left=10
    [ "$left" -ge 1 ] || left=1
    timeout "$left" wget -q -O - "$METADATA/$1" 2>/dev/null
}

# One value of a flat JSON object (meta_data.json's uuid, hostname): no JSON parser in busybox.
json_value() {
    tr ',{}' '\n' | sed -n "s/^[[:space:]]*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" | head -n 1
}

run() {
    local m address="" json uuid hostname id
    deadline=$(($(uptime_s) + LXSTACK_TIMEOUT))
    ip link set lo up
    while read -r m; do
        [ -n "$m" ] && { insmod "/lib/modules/$m.ko" || say "insmod $m failed"; }
    done </etc/modules
    while [ ! -e /sys/class/net/eth0 ]; do
        [ "$(uptime_s)" -lt "$deadline" ] || { marker "failed no eth0 (virtio_net)"; return; }
        sleep 1
    done
    # -b: on to the background both after a lease (renewals) and after failed tries (keeps trying)
    udhcpc -i eth0 -s /init -O mtu -O staticroutes -t 4 -T 2 -A 2 -b -p /run/udhcpc.pid
    while :; do
        address=$(ip -o -4 addr show dev eth0 | sed -n 's/.* inet \([0-9./]*\).*/\1/p' | head -n 1)
        [ -z "$address" ] || break
        [ "$(uptime_s)" -lt "$deadline" ] || { marker "failed no DHCP lease on eth0"; return; }
        sleep 1
    done
    say "eth0 $address, asking $METADATA"
    while :; do
        if json=$(fetch openstack/latest/meta_data.json); then
            uuid=$(echo "$json" | json_value uuid)
            hostname=$(echo "$json" | json_value hostname)
            if [ -n "$uuid" ]; then
                marker "ok address=$address uuid=$uuid hostname=${hostname:-unknown}"
                return
            fi
        fi
        if id=$(fetch latest/meta-data/instance-id) && [ -n "$id" ]; then
            hostname=$(fetch latest/meta-data/hostname)
            marker "ok address=$address instance-id=$id hostname=${hostname:-unknown}"
            return
        fi
        [ "$(uptime_s)" -lt "$deadline" ] \
            || { marker "failed no metadata from $METADATA within ${LXSTACK_TIMEOUT}s address=$address"; return; }
        sleep 2
    done
}

run
# PID 1 must not exit: the kernel would panic.
while :; do
    sleep 3600
done
