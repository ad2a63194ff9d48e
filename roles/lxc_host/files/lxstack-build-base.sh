#!/bin/sh
# Builds an LXC base container with debootstrap, all or nothing (managed by lxstack.openstack).
# The rootfs is made in a temporary directory beside the final one and moved into place only
# when every step succeeded, so an interrupted or failed build leaves nothing half-made.
# With ARCHIVE (an image another host built, made by tar from LXC_PATH), the image is unpacked from
# it instead, all or nothing as well, and its config written for this host's LXC_PATH.
# usage: lxstack-build-base.sh NAME DISTRO MIRROR PACKAGES RECIPE_DIR LXC_PATH [ARCHIVE]
set -eu
name=$1 distro=$2 mirror=$3 packages=$4 recipe=$5 lxcpath=$6 archive=${7:-}
final="$lxcpath/$name"
tmp="$lxcpath/.$name.building"

unmount() {
    # debootstrap mounts proc/sys inside the target; an interrupted run may leave them.
    awk -v p="$tmp/" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
        umount -l "$m" || true
    done
}
cleanup() {
    unmount
    rm -rf --one-file-system "$tmp"
}

# One build per image at a time: a build left running by an interrupted play finishes first.
exec 9>"$recipe/.lock"
flock 9
[ -e "$final/config" ] && exit 0
cleanup
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
mkdir -p "$tmp"

finish() {
    sed -e "s|@ROOTFS@|$final/rootfs|" -e "s|@NAME@|$name|" "$recipe/config" >"$tmp/config"
    chmod 0755 "$tmp"
    rm -rf --one-file-system "$final"
    mv "$tmp" "$final"
    trap - EXIT
}

if [ -n "$archive" ]; then
    tar --extract --gzip --numeric-owner --xattrs --xattrs-include='*' --strip-components=1 \
        --file "$archive" --directory "$tmp" "$name/rootfs"
    finish
    echo "unpacked $name"
    exit 0
fi

# A mirror may drop a download now and then: retry, keeping the packages already fetched.
mkdir -p "$tmp/debs"
attempt=1
until debootstrap --variant=minbase --components=main --include="$packages" --cache-dir="$tmp/debs" \
        "$distro" "$tmp/rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1; do
    if [ "$attempt" -ge 3 ]; then
        tail -n 15 "$tmp/debootstrap.log" >&2
        echo "debootstrap of $distro from $mirror failed $attempt times (log above)" >&2
        exit 1
    fi
    echo "debootstrap attempt $attempt failed: $(grep '^E:' "$tmp/debootstrap.log" | tail -n 1)" >&2
    attempt=$((attempt + 1))
    unmount
    rm -rf --one-file-system "$tmp/rootfs"
    sleep 5
done
rm -rf "$tmp/debs"

# Lay the recipe's files (path inside the rootfs -> content) over the rootfs.
python3 - "$recipe/files.json" "$tmp/rootfs" <<'PY'
import json, os, sys
files, root = json.load(open(sys.argv[1])), sys.argv[2]
for rel, content in files.items():
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    if os.path.islink(path):
        os.unlink(path)
    with open(path, "w") as out:
        out.write(content)
    os.chmod(path, 0o644)
PY
rm -f "$tmp/rootfs/etc/apt/sources.list" "$tmp/rootfs/etc/hostname"
# Every clone gets its own machine-id at first boot (DHCP client ids, journal).
: >"$tmp/rootfs/etc/machine-id"
rm -f "$tmp/rootfs/var/lib/dbus/machine-id"
chroot "$tmp/rootfs" update-ca-certificates --fresh >/dev/null
chroot "$tmp/rootfs" systemctl enable systemd-networkd.service >/dev/null 2>&1
chroot "$tmp/rootfs" systemctl set-default multi-user.target >/dev/null 2>&1
chroot "$tmp/rootfs" apt-get clean
rm -rf "$tmp/rootfs/var/lib/apt/lists/"* "$tmp/debootstrap.log" "$tmp/rootfs/var/lib/apt/periodic/update-success-stamp"
# No package lists in the image: date their directory back so that apt's cache_valid_time in a
# new clone does not take the image's build time for a recent update.
touch -d @0 "$tmp/rootfs/var/lib/apt/lists"
finish
echo "built $name"
