# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Service containers on the simulated hosts, checked through lxstack.openstack.lxc_attach.

Every command runs on the container's physical host (over SSH) as ``lxc-attach``, the way the
connection plugin runs it (conftest.py: one multiplexed SSH connection per host). One probe per container
(a Python script run once in it) gathers what the tests check, to keep the number of round trips
low. Expected values come from the topology inventory, not from literals.
"""

import base64
import json
import os
import re

import pytest
import testinfra
from inventory_vars import host_vars as _vars
from inventory_vars import role_defaults

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
    "listening": run("ss", "-Hltunp"),
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


# Units allowed to fail in a service container, each with the reason (none: every unit of the image
# and of the roles must work in LXC).
_FAILED_UNITS_ALLOWED = {}


def test_systemd_runs_with_no_failed_unit(probe):
    failed = [line.split()[0] for line in probe["failed_units"].splitlines() if line.strip()]
    assert [unit for unit in failed if unit not in _FAILED_UNITS_ALLOWED] == [], "failed units: %s" % (
        probe["failed_units"])
    assert probe["systemd"] == "running" or (failed and probe["systemd"] == "degraded"), (
        "systemd is %r" % probe["systemd"])


# Sockets that may listen on a wildcard address or on the egress interface (eth0, on the host's NAT
# egress bridge: see docs/architecture.md), each with the reason. Every service binds its container's
# management address (or loopback, or a VIP); a socket anywhere else is reachable from the egress
# network. Key: (protocol, port, process name as `ss -p` prints it).
_EXPOSED_ALLOWED = {
    # eth0's own DHCP client: systemd-networkd keeps a UDP socket on the leased address of eth0
    # (bound to the device) to renew the lease from the host's egress dnsmasq
    ("udp", 68, "systemd-network"): "DHCP client of eth0",
}
_SS_LINE = re.compile(r"^(?P<proto>\S+)\s+\S+\s+\d+\s+\d+\s+(?P<local>\S+)\s+\S+(?:\s+(?P<process>.*))?$")
_WILDCARDS = {"*", "0.0.0.0", "::"}


def _listeners(text):
    """Parse `ss -Hltunp`: protocol, address, device (the %<ifname> of a socket bound to one), port, processes."""
    for line in text.splitlines():
        match = _SS_LINE.match(line.strip())
        assert match, "cannot parse this line of ss: %r" % line
        address, _sep, port = match["local"].rpartition(":")
        address, _sep, device = address.partition("%")
        yield {"proto": match["proto"], "address": address.strip("[]"), "device": device or None, "port": int(port),
               "processes": re.findall(r'\("([^"]+)",pid=', match["process"] or ""), "line": line.strip()}


def _exposed(host, probe, listening):
    """The lines of `ss -Hltunp` output (listening) bound to a wildcard or to the egress interface and
    not on the allow-list; the egress interface is every link of the container (probe) but loopback
    and the networks the inventory gives it."""
    networks = _vars(host, host.backend.host)["container_networks"]
    egress = {link["ifname"] for link in probe["links"]} - {spec["interface"] for spec in networks.values()} - {"lo"}
    assert egress, "no egress interface besides the networks of the inventory"
    egress_addresses = {addr["local"] for link in probe["links"] if link["ifname"] in egress
                        for addr in link.get("addr_info", [])}
    exposed = []
    for sock in _listeners(listening):
        if sock["device"] is not None and sock["device"] not in egress:
            continue  # bound to a network interface of the inventory
        if sock["address"] not in _WILDCARDS | egress_addresses and sock["device"] is None:
            continue
        if any((sock["proto"], sock["port"], name) in _EXPOSED_ALLOWED for name in sock["processes"]):
            continue
        exposed.append(sock["line"])
    return egress, egress_addresses, exposed


def test_no_socket_listens_on_a_wildcard_or_the_egress_interface(host, probe):
    assert probe["listening"]["rc"] == 0, probe["listening"]
    egress, egress_addresses, exposed = _exposed(host, probe, probe["listening"]["out"])
    assert exposed == [], "listening on a wildcard or the egress interface %s (%s):\n%s" % (
        sorted(egress), sorted(egress_addresses), "\n".join(exposed))


# The check above must see a service that listens on every address: in each memcached container, a
# second memcached is started on 0.0.0.0 (and the real one stays on the management address) while
# `ss` lists the sockets; the check must name the wildcard one, and only it.
_WILDCARD_PORT = 11299
_WILDCARD_CMD = (
    "memcached -u memcache -U 0 -l 0.0.0.0 -p %d & pid=$!; "
    "for i in $(seq 50); do ss -Hltn 'sport = :%d' | grep -q . && break; sleep 0.1; done; "
    "ss -Hltunp; rc=$?; kill $pid; wait $pid; exit $rc" % (_WILDCARD_PORT, _WILDCARD_PORT))


@pytest.mark.testinfra_hosts("ansible://memcached")
def test_socket_check_names_a_service_bound_to_every_address(host, probe):
    result = host.run(_WILDCARD_CMD)
    assert result.rc == 0, "ss with a wildcard memcached: %s %s" % (result.stdout, result.stderr)
    _egress, _addresses, exposed = _exposed(host, probe, result.stdout)
    assert [re.sub(r"\s+", " ", line).split(" ")[4] for line in exposed] == ["0.0.0.0:%d" % _WILDCARD_PORT], (
        "the check should name exactly the wildcard memcached, it named:\n%s" % "\n".join(exposed))


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


@pytest.mark.testinfra_hosts("ansible://lxc_hosts")
def test_sshd_takes_a_session_for_every_container_of_the_host(host):
    # every container of the host rides on the deploy host's one multiplexed SSH connection
    name = host.backend.host
    runner = host.backend.ansible_runner
    containers = [c for c in runner.get_hosts("all_containers") if _vars(host, c)["physical_host"] == name]
    # through Ansible (its SSH settings: the deploy key), as every task reaches the host
    effective = host.ansible("command", "sshd -T", check=False)["stdout"]
    found = re.search(r"^maxsessions (\d+)$", effective, re.M)
    assert found and int(found.group(1)) > len(containers), (found and found.group(0), len(containers))


@pytest.mark.testinfra_hosts("ansible://lxc_hosts")
def test_the_host_bridges_let_the_network_come_online(host):
    # systemd-networkd manages only the project's bridges here (the host's NIC is ifupdown's): unless a
    # bridge counts, wait-online waits for its 2-minute timeout, at boot and whenever a package starts a
    # unit ordered after network-online.target (Open vSwitch's ovs-record-hostname)
    # through Ansible, as the other host checks (testinfra's own run cannot reach a simulated host)
    result = host.ansible("command", "/usr/lib/systemd/systemd-networkd-wait-online --timeout=10", check=False)
    assert result.get("rc") == 0, "systemd-networkd-wait-online: %s" % result


@pytest.mark.testinfra_hosts("ansible://lxc_hosts", one=True)
def test_the_base_image_is_built_once_and_unpacked_on_the_other_hosts(host):
    # copies of one build keep its file times; independent debootstraps would differ
    runner = host.backend.ansible_runner
    listings, images = {}, set()
    for name in runner.get_hosts("lxc_hosts"):
        # through Ansible (its SSH settings), as the parametrized host itself
        other = testinfra.get_host("ansible://%s" % name, ansible_inventory=host.backend.ansible_inventory,
                                   force_ansible=True)
        image = json.loads(other.check_output("cat /var/lib/lxstack/lxc-host.json"))["base_image"]
        images.add(image)
        listings[name] = other.check_output(
            "find /var/lib/lxc/%s/rootfs/usr/bin /var/lib/lxc/%s/rootfs/etc -maxdepth 1 -printf '%%P %%T@\\n'"
            " | sort | sha256sum", image, image)
    assert len(images) == 1, images
    assert len(set(listings.values())) == 1, listings
    # the deploy host (where the tests run) keeps the archive the other hosts unpacked
    cache = os.path.expanduser("~/.cache/lxstack/images")
    assert os.path.isfile(os.path.join(cache, "%s.tar.gz" % images.pop())), os.listdir(cache)


def test_every_uwsgi_api_logs_to_a_file_named_after_it(host):
    # oslo.log would name the file after the outermost Python frame: "<frozen importlib._bootstrap>.log"
    service = _vars(host, host.backend.host)["container_service"]
    log_dir = role_defaults("service_catalog")["lxstack_service_catalog"][service].get("log_dir")
    apis = host.run("ls /etc/lxstack/uwsgi").stdout.split()
    logs = host.run("ls %s", log_dir).stdout.split() if log_dir else []
    assert [f for f in logs if "<" in f or "frozen" in f] == [], logs
    for ini in apis:
        assert ini[:-len(".ini")] + ".log" in logs, (ini, log_dir, logs)
