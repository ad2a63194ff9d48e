#!/usr/bin/env bash
# Create (or remove) the test containers lxinfra-1..3 for the infrastructure roles.
# Usage: tests/infra/containers.sh up|down
# eth0: lxcbr0 (lxc-net NAT, DHCP, egress to the Debian mirror)
# eth1: lxinfrabr0 10.98.0.0/24, static 10.98.0.11-13 (the "management" network; VIP 10.98.0.10)
set -euo pipefail
NAMES="lxinfra-1 lxinfra-2 lxinfra-3"
BRIDGE=lxinfrabr0
NET=10.98.0

up() {
    if ! ip link show lxcbr0 >/dev/null 2>&1 || ! pgrep -f 'dnsmasq.*lxcbr0' >/dev/null; then
        /usr/libexec/lxc/lxc-net stop || true
        /usr/libexec/lxc/lxc-net start
    fi
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link add "$BRIDGE" type bridge
        ip addr add "$NET.1/24" dev "$BRIDGE"
    fi
    ip link set "$BRIDGE" up
    local i=0 name
    for name in $NAMES; do
        i=$((i + 1))
        if ! lxc-info -n "$name" >/dev/null 2>&1; then
            lxc-create -n "$name" -t debian -- -r trixie >/dev/null
            cat >> "/var/lib/lxc/$name/config" <<CFG
lxc.net.1.type = veth
lxc.net.1.link = $BRIDGE
lxc.net.1.flags = up
lxc.net.1.name = eth1
lxc.net.1.hwaddr = 02:98:00:00:00:1$i
lxc.net.1.ipv4.address = $NET.1$i/24
CFG
        fi
        [ "$(lxc-info -n "$name" -sH)" = RUNNING ] || lxc-start -n "$name"
    done
    for name in $NAMES; do
        # wait for systemd and the DHCP address on eth0 (apt needs it)
        for _ in $(seq 60); do
            state=$(lxc-attach -n "$name" --clear-env -- systemctl is-system-running 2>/dev/null || true)
            if [[ "$state" =~ ^(running|degraded)$ ]] && \
               lxc-attach -n "$name" --clear-env -- ip -4 -o addr show eth0 | grep -q inet; then
                break
            fi
            sleep 1
        done
        lxc-attach -n "$name" --clear-env -- sh -c 'command -v python3 >/dev/null || \
            (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null)'
    done
}

down() {
    local name
    for name in $NAMES; do
        if lxc-info -n "$name" >/dev/null 2>&1; then
            lxc-stop -n "$name" -k 2>/dev/null || true
            lxc-destroy -n "$name"
        fi
    done
    if ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link del "$BRIDGE"
    fi
}

"${1:?usage: $0 up|down}"
