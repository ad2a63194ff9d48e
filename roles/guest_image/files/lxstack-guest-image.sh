#!/usr/bin/env bash
# Builds the lxstack smoke-test guest image from Debian packages (managed by lxstack.openstack,
# roles/guest_image), without root, mounts or loop devices: Debian's kernel and the virtio modules
# it needs (apt-get download, dpkg-deb -x), an initramfs of busybox-static and lxstack-guest-init.sh
# as /init (cpio, gzip), on an unpartitioned FAT disk (mkfs.fat, mcopy) made bootable by syslinux
# (its mtools variant writes the boot sector and ldlinux.sys into the image file); a compressed qcow2
# by qemu-img.
#
# usage: lxstack-guest-image.sh plan|build [--option value]...
#   --cache-dir DIR      where the image is kept (required)
#   --init FILE          the guest's /init (required)
#   --format qcow2|raw   (qcow2)
#   --kernel PACKAGE     a linux-image-* metapackage or a versioned one (linux-image-cloud-amd64)
#   --busybox PACKAGE    (busybox-static)
#   --modules "A B"      modules loaded at boot, with their dependencies (virtio_pci virtio_blk virtio_net)
#   --append "ARGS"      kernel arguments after console=ttyS0 ('')
#   --timeout SECONDS    the guest's wait for DHCP and metadata before its failure marker (120)
# plan prints, as JSON, the image's name and path (lxstack-guest-<hash>.<format>, the hash of every
# input: the package versions apt would fetch now, syslinux's version, this script, the init and the
# options) and the packages; it changes nothing. build makes that image unless it exists: in a
# temporary directory of the cache directory, renamed into place at the end, so an interrupted build
# leaves no image; the next build removes what it left. It prints the plan, then "built" or "exists".
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin
export LC_ALL=C

mode=${1:-}
case "$mode" in plan | build) shift ;; *) echo "usage: $0 plan|build [--option value]..." >&2; exit 2 ;; esac
cache_dir="" init="" format=qcow2 kernel=linux-image-cloud-amd64 busybox=busybox-static
modules="virtio_pci virtio_blk virtio_net" append="" timeout=120
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || { echo "$1: value missing" >&2; exit 2; }
    case "$1" in
        --cache-dir) cache_dir=$2 ;;
        --init) init=$2 ;;
        --format) format=$2 ;;
        --kernel) kernel=$2 ;;
        --busybox) busybox=$2 ;;
        --modules) modules=$2 ;;
        --append) append=$2 ;;
        --timeout) timeout=$2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift 2
done
if [ -z "$cache_dir" ] || [ ! -r "$init" ]; then
    echo "--cache-dir and a readable --init are required" >&2
    exit 2
fi
init=$(readlink -f "$init")
case "$format" in qcow2 | raw) ;; *) echo "--format: qcow2 or raw, not $format" >&2; exit 2 ;; esac
case "$timeout" in '' | *[!0-9]*) echo "--timeout: seconds, not $timeout" >&2; exit 2 ;; esac

die() {
    echo "$*" >&2
    exit 1
}

# The candidate versions apt would fetch (the host's own sources), in one apt-cache call: without
# a package cache file apt-cache reads all its lists each time (about a second here).
# stdout: "package version depends" per package asked for
candidates() {
    apt-cache show --no-all-versions "$@" 2>/dev/null | awk -F': ' '
        /^Package: / { p = $2 } /^Version: / { v = $2 } /^Depends: / { d = $2 }
        /^$/ { if (p != "") print p "\t" v "\t" d; p = v = d = "" }
        END { if (p != "") print p "\t" v "\t" d }'
}
field() { # package column: of the candidates() output in $1
    awk -F'\t' -v p="$2" -v c="$3" '$1 == p { print $c; exit }' <<<"$1"
}
known=$(candidates "$kernel" "$busybox")
for p in "$kernel" "$busybox"; do
    [ -n "$(field "$known" "$p" 2)" ] || die "apt knows no package $p (is it in this host's apt sources? apt-get update?)"
done
busybox_version=$(field "$known" "$busybox" 2)
# linux-image-cloud-amd64 is a metapackage: the kernel is in the versioned package it depends on,
# pinned to its own version (= V), which saves asking apt again.
case "$kernel" in
    linux-image-[0-9]*)
        kernel_pkg=$kernel
        kernel_version=$(field "$known" "$kernel" 2)
        ;;
    *)
        depends=$(field "$known" "$kernel" 3)
        kernel_pkg=$(sed -n 's/^.*\(linux-image-[0-9][^ ,]*\).*/\1/p' <<<"$depends")
        [ -n "$kernel_pkg" ] || die "$kernel: no versioned linux-image-* package among its dependencies"
        kernel_version=$(sed -n "s/^.*$kernel_pkg (= \([^)]*\)).*/\1/p" <<<"$depends")
        if [ -z "$kernel_version" ]; then
            kernel_version=$(field "$(candidates "$kernel_pkg")" "$kernel_pkg" 2)
            [ -n "$kernel_version" ] || die "apt knows no package $kernel_pkg (the kernel of $kernel)"
        fi
        ;;
esac
syslinux_version=$(dpkg-query -W -f '${Version}' syslinux 2>/dev/null || echo unknown)

self=$(sha256sum "$0" | cut -d' ' -f1)
init_sum=$(sha256sum "$init" | cut -d' ' -f1)
hash=$(printf '%s\n' "script=$self" "init=$init_sum" "$kernel_pkg=$kernel_version" "$busybox=$busybox_version" \
    "syslinux=$syslinux_version" "format=$format" "modules=$modules" "append=$append" "timeout=$timeout" \
    | sha256sum | cut -c1-16)
name=lxstack-guest-$hash.$format
image=$cache_dir/$name

json_plan() {
    printf '{"name": "%s", "path": "%s", "format": "%s", "hash": "%s", "packages": {"%s": "%s", "%s": "%s"}}\n' \
        "$name" "$image" "$format" "$hash" "$kernel_pkg" "$kernel_version" "$busybox" "$busybox_version"
}

if [ "$mode" = plan ]; then
    json_plan
    exit 0
fi

mkdir -p "$cache_dir"
# One build at a time per cache directory: a build left running by an interrupted play finishes first.
exec 9>"$cache_dir/.lxstack-guest.lock"
flock 9
json_plan
if [ -e "$image" ]; then
    echo exists
    exit 0
fi
# what an interrupted build left
rm -rf "$cache_dir"/.lxstack-guest-*.building
work=$(mktemp -d "$cache_dir/.lxstack-guest-$hash.XXXXXX.building")
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM HUP

cd "$work"
# apt drops to its _apt user for downloads, who cannot write here (a 0700 cache below a HOME)
sandbox=()
[ "$(id -u)" != 0 ] || sandbox=(-o APT::Sandbox::User=root)
apt-get download -q "${sandbox[@]}" "$kernel_pkg=$kernel_version" "$busybox=$busybox_version" >apt.log 2>&1 \
    || { cat apt.log >&2; die "apt-get download of $kernel_pkg $kernel_version and $busybox $busybox_version failed"; }
dpkg-deb -x "$kernel_pkg"_*.deb kernel
dpkg-deb -x "$busybox"_*.deb busybox

mkdir -p initramfs/bin initramfs/etc initramfs/lib/modules initramfs/proc initramfs/sys initramfs/dev
cp busybox/bin/busybox initramfs/bin/busybox
ln -s busybox initramfs/bin/sh
cp "$init" initramfs/init
chmod 0755 initramfs/init initramfs/bin/busybox
printf 'LXSTACK_TIMEOUT=%s\n' "$timeout" >initramfs/etc/lxstack-guest.conf

# The modules and, first, those they depend on (the .ko's depends= field: the package has no
# modules.dep, depmod writes it at installation); built-in ones (modules.builtin) are skipped.
kdir=$(echo kernel/lib/modules/*)
[ -e "$kdir/modules.order" ] || die "$kernel_pkg: no lib/modules/<version>/modules.order"
vmlinuz=$(echo kernel/boot/vmlinuz-*)
[ -f "$vmlinuz" ] || die "$kernel_pkg: no boot/vmlinuz-*"
# name (dashes as underscores) of each module path in a modules.order or modules.builtin list
module_path() {
    awk -v n="$1" '{ b = $0; sub(/.*\//, "", b); sub(/\.ko(\.[a-z]+)?$/, "", b); gsub(/-/, "_", b)
                     if (b == n) { print; exit } }' "$2"
}
# compressed modules (Debian 13's kernels): busybox's insmod takes them uncompressed
unpack() {
    command -v "$1" >/dev/null || die "$3 is compressed: $1 (Debian package $2) is needed to unpack it"
    "$1" -qdc "$3"
}
loaded=" "
add_module() {
    local name=${1//-/_} path deps dep
    case "$loaded" in *" $name "*) return ;; esac
    loaded="$loaded$name "
    [ -z "$(module_path "$name" "$kdir/modules.builtin")" ] || return 0
    path=$(module_path "$name" "$kdir/modules.order")
    [ -n "$path" ] || die "$kernel_pkg has no module $name"
    case "$path" in
        *.ko) cp "$kdir/$path" "initramfs/lib/modules/$name.ko" ;;
        *.ko.xz) unpack xz xz-utils "$kdir/$path" >"initramfs/lib/modules/$name.ko" ;;
        *.ko.zst) unpack zstd zstd "$kdir/$path" >"initramfs/lib/modules/$name.ko" ;;
        *) die "$path: unknown module compression" ;;
    esac
    deps=$(tr '\0' '\n' <"initramfs/lib/modules/$name.ko" | sed -n 's/^depends=//p' | head -n 1)
    for dep in ${deps//,/ }; do
        add_module "$dep"
    done
    echo "$name" >>initramfs/etc/modules
}
: >initramfs/etc/modules
for m in $modules; do
    add_module "$m"
done

(cd initramfs && find . | sort | cpio --quiet -o -H newc -R 0:0) | gzip -9 -n >initrd.gz

cat >syslinux.cfg <<EOF
SERIAL 0 115200
DEFAULT lxstack
PROMPT 0
TIMEOUT 0
LABEL lxstack
  LINUX /vmlinuz
  INITRD /initrd.gz
  APPEND console=ttyS0${append:+ $append}
EOF
# FAT16 holding the files with a little room for the FAT and ldlinux.sys; unpartitioned (SeaBIOS
# runs the volume's own boot sector, which syslinux wrote)
kib=$(du -k --apparent-size "$vmlinuz" initrd.gz | awk '{ s += $1 } END { print int((s * 1.04 + 1023) / 1024 + 1) * 1024 }')
mkfs.fat -C -n LXSTACK disk.raw "$kib" >/dev/null
syslinux --install disk.raw
cp "$vmlinuz" vmlinuz
mcopy -i disk.raw vmlinuz initrd.gz syslinux.cfg ::
if [ "$format" = qcow2 ]; then
    qemu-img convert -c -f raw -O qcow2 disk.raw disk.out
else
    mv disk.raw disk.out
fi
chmod 0644 disk.out
mv disk.out "$image"
echo built
