# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Service containers on the simulated hosts, checked through lxstack.openstack.lxc_attach.

testinfra's ansible backend hands connection plugins it does not know to ``ansible`` itself, so every
command runs on the container's physical host (over SSH) as ``lxc-attach``. One probe per container
(a Python script run once in it) gathers what the tests check, to keep the number of round trips
low. Expected values come from the topology inventory, not from literals.
"""

import base64
import json

import pytest
from inventory_vars import host_vars as _vars

testinfra_hosts = ["ansible://all_containers"]

# Runs inside the container (python3 of the base image): systemd state, addresses, an ICMP echo
# to a container on the other simulated host (raw socket: the image need not ship ping), and a
# real `pip download` over HTTPS from a throwaway venv (fails without the site CA).
_PROBE = r"""
import json, os, shutil, socket, struct, subprocess, sys, tempfile, time

def run(*cmd):
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"rc": -1, "out": "", "err": str(exc)}
    return {"rc": proc.returncode, "out": proc.stdout, "err": proc.stderr[-3000:]}

def csum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xffff)
    total += total >> 16
    return ~total & 0xffff

def ping(dst):
    ident = os.getpid() & 0xffff
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.settimeout(1)
    for seq in range(5):
        body = struct.pack("!HH", ident, seq) + b"lxstack!"
        sock.sendto(struct.pack("!BBH", 8, 0, csum(struct.pack("!BBH", 8, 0, 0) + body)) + body, (dst, 0))
        end = time.time() + 1
        while time.time() < end:
            try:
                data, addr = sock.recvfrom(1024)
            except socket.timeout:
                break
            hl = (data[0] & 15) * 4
            kind, _code, _sum, rid, rseq = struct.unpack("!BBHHH", data[hl:hl + 8])
            if addr[0] == dst and kind == 0 and rid == ident and rseq == seq:
                return {"rc": 0, "out": "reply from %s seq %d" % (dst, seq)}
    return {"rc": 1, "out": "no reply from %s to 5 echo requests" % dst}

def pip_download():
    work = tempfile.mkdtemp(prefix="lxstack-probe-")
    try:
        result = run(sys.executable, "-m", "venv", work + "/venv")
        if result["rc"] == 0:
            result = run(work + "/venv/bin/pip", "download", "--no-deps", "--no-cache-dir",
                         "--disable-pip-version-check", "-d", work + "/dl", "six")
        result["files"] = sorted(os.listdir(work + "/dl")) if os.path.isdir(work + "/dl") else []
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)

addr = run("ip", "-j", "addr", "show")
print(json.dumps({
    "systemd": run("systemctl", "is-system-running")["out"].strip(),
    "failed_units": run("systemctl", "--failed", "--no-legend", "--plain")["out"].strip(),
    "links": json.loads(addr["out"]) if addr["rc"] == 0 else [],
    "ping": ping(sys.argv[1]),
    "pip": pip_download(),
}))
"""
_PROBE_CMD = "python3 -c \"import base64; exec(base64.b64decode('%s'))\"" % base64.b64encode(_PROBE.encode()).decode()
_PROBES = {}


def _peer(host):
    """A container on another simulated host (spread deterministically over that host's containers);
    with a single host, another container of the same host."""
    runner = host.backend.ansible_runner
    names = sorted(runner.get_hosts("all_containers"))
    own = _vars(host, host.backend.host)["physical_host"]
    peers = [name for name in names if _vars(host, name)["physical_host"] != own]
    if not peers and len(runner.get_hosts("lxc_hosts")) == 1:
        peers = [name for name in names if name != host.backend.host]
    assert peers, "no container on a simulated host other than %s" % own
    return peers[names.index(host.backend.host) % len(peers)]


@pytest.fixture
def probe(host):
    name = host.backend.host
    if name not in _PROBES:
        peer = _peer(host)
        address = _vars(host, peer)["management_address"]
        result = host.run(_PROBE_CMD + " %s", address)
        assert result.rc == 0, "probe failed in %s: %s %s" % (name, result.stdout, result.stderr)
        _PROBES[name] = dict(json.loads(result.stdout), peer=peer, peer_address=address)
    return _PROBES[name]


def test_systemd_runs(probe):
    assert probe["systemd"] in ("running", "degraded"), "systemd is %r; failed units: %s" % (
        probe["systemd"], probe["failed_units"])


def test_addresses_of_every_network(host, probe):
    links = {link["ifname"]: link for link in probe["links"]}
    networks = _vars(host, host.backend.host)["container_networks"]
    assert networks, "no networks in the inventory for %s" % host.backend.host
    for net, spec in networks.items():
        link = links.get(spec["interface"])
        assert link is not None, "%s: no interface %s (have %s)" % (net, spec["interface"], sorted(links))
        addrs = {"%s/%s" % (a["local"], a["prefixlen"]) for a in link.get("addr_info", []) if a["family"] == "inet"}
        assert "%s/%s" % (spec["address"], spec["prefix"]) in addrs, "%s on %s: %s" % (net, spec["interface"], addrs)
        assert link["address"].lower() == spec["mac"].lower(), "%s: MAC %s" % (net, link["address"])
        assert "UP" in link["flags"], "%s: %s is down" % (net, spec["interface"])


def test_reaches_other_host_over_management(probe):
    assert probe["ping"]["rc"] == 0, "%s (%s): %s" % (probe["peer"], probe["peer_address"], probe["ping"]["out"])


def test_pip_download_over_https(probe):
    pip = probe["pip"]
    assert pip["rc"] == 0, pip["out"][-2000:] + pip["err"]
    assert any(f.endswith((".whl", ".tar.gz")) for f in pip["files"]), pip["files"]
