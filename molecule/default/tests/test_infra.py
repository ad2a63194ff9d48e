# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The infrastructure services and the service install path, as a client sees them.

Runs after the scenario's side effects (failover, drain/enable, cold stop and recovery when the
topology has a Galera cluster). Expected values come from the inventory; the secrets file is read
on this machine and its values are never printed or passed on a command line.
"""

import base64
import hashlib
import json
import os
import pathlib
import re
import stat

import pytest
import testinfra
import yaml
from inventory_vars import constraints_file, group, host_vars, inventory_dir, pinned_version, release_packages, setting


def _sql(host, statement, *extra):
    """Run SQL on the container's own MariaDB server (root over the unix socket; ``extra``: client options)."""
    out = host.check_output("mariadb" + " %s" * len(extra) + " -Nse %s", *extra, statement)
    return [line.split("\t") for line in out.splitlines()]


@pytest.mark.testinfra_hosts("ansible://galera")
def test_galera_node_is_synced_in_the_whole_cluster(host):
    members = group(host, "galera")
    status = dict(_sql(host, "SHOW GLOBAL STATUS WHERE Variable_name IN "
                             "('wsrep_cluster_size', 'wsrep_local_state_comment', 'wsrep_ready', "
                             "'wsrep_cluster_status')"))
    if len(members) == 1:
        assert status == {} or status.get("wsrep_cluster_size") in (None, "0", "1"), status
        return
    assert status["wsrep_cluster_size"] == str(len(members)), status
    assert status["wsrep_cluster_status"] == "Primary", status
    assert status["wsrep_local_state_comment"] == "Synced", status
    assert status["wsrep_ready"] == "ON", status


# MariaDB comes from the container distro
_MARIADB_SERIES = {"trixie": "11.8.", "bookworm": "10.11."}


@pytest.mark.testinfra_hosts("ansible://galera")
def test_mariadb_of_the_container_distro_on_the_management_address(host):
    me = host_vars(host, host.backend.host)
    version = _sql(host, "SELECT VERSION()")[0][0]
    assert version.startswith(_MARIADB_SERIES[me["lxstack_container_distro"]]), version
    listening = host.check_output("ss -ltnH")
    assert re.search(r"\s%s:3306\s" % re.escape(me["management_address"]), listening), listening
    assert not re.search(r"\s(0\.0\.0\.0|\*|\[::\]):3306\s", listening), listening


@pytest.mark.testinfra_hosts("ansible://galera")
def test_rows_written_before_the_side_effects_are_read_on_every_node(host):
    notes = [row[0] for row in _sql(host, "SELECT note FROM lxstack_test.t ORDER BY id")]
    assert "through the vip" in notes, notes
    if len(group(host, "galera")) > 1:
        # written during the failover check, with one node stopped
        assert "one node stopped" in notes, notes
    if os.environ.get("LXSTACK_SIDE_EFFECT") == "drills.yml":
        # make drills: written before the cold stop of every node, and while the last member was already down
        assert "before the clean stop" in notes, notes
        assert "clean: last member stopped" in notes, notes


@pytest.mark.testinfra_hosts("ansible://galera")
def test_mariadb_answers_through_the_haproxy_vip(host):
    me = host_vars(host, host.backend.host)
    vip = me["lxstack_internal_vip_address"]
    # the monitoring account's client file; -h sends the query to the VIP instead of this node
    rows = _sql(host, "SELECT @@hostname", "--defaults-extra-file=/etc/mysql/lxstack-monitor.cnf", "-h", vip)
    galera_names = [host_vars(host, name)["container_name"] for name in group(host, "galera")]
    assert rows and rows[0][0] in galera_names, rows


_VIP_HOLDERS = {}


@pytest.mark.testinfra_hosts("ansible://haproxy")
def test_haproxy_runs_and_reports_its_vips(host):
    me = host_vars(host, host.backend.host)
    vips = {me["lxstack_internal_vip_address"], me.get("lxstack_external_vip_address")} - {None, ""}
    assert host.service("haproxy").is_running
    # frontends on the internal VIP for the database and for an API whose group has members
    listening = host.check_output("ss -ltnH")
    for port in (3306, 5000):
        assert re.search(r"\s%s:%d\s" % (re.escape(me["lxstack_internal_vip_address"]), port), listening), listening
    addrs = host.check_output("ip -4 -o addr show")
    _VIP_HOLDERS[host.backend.host] = {vip: bool(re.search(r"inet %s/" % re.escape(vip), addrs)) for vip in vips}


def test_vips_are_held_by_exactly_one_haproxy_node():
    assert _VIP_HOLDERS, "no HAProxy node was checked"
    vips = set().union(*_VIP_HOLDERS.values())
    assert vips, _VIP_HOLDERS
    for vip in vips:
        assert sum(held[vip] for held in _VIP_HOLDERS.values()) == 1, _VIP_HOLDERS


@pytest.mark.testinfra_hosts("ansible://rabbitmq")
def test_rabbitmq_cluster_lists_every_node_running(host):
    status = json.loads(host.check_output("rabbitmqctl cluster_status --formatter json"))
    expected = sorted("rabbit@%s" % host_vars(host, name)["container_name"] for name in group(host, "rabbitmq"))
    assert sorted(status["running_nodes"]) == expected, status
    users = [user["user"] for user in json.loads(host.check_output("rabbitmqctl list_users --formatter json"))]
    assert "guest" not in users, users


# From a service container (keystone), the way a service reaches its infrastructure: memcached on
# every node, the repo service over HTTP, and the keystone venv itself.
_CLIENT_PROBE = r"""
import json, socket, sys, urllib.request
out = {"memcached": {}}
for addr in sys.argv[2].split(","):
    try:
        with socket.create_connection((addr, 11211), timeout=5) as sock:
            sock.sendall(b"set lxstack_probe 0 60 2\r\nok\r\nget lxstack_probe\r\nquit\r\n")
            data = b""
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        out["memcached"][addr] = data.decode()
    except OSError as exc:
        out["memcached"][addr] = "error: %s" % exc
try:
    out["repo_index"] = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
except OSError as exc:
    out["repo_index"] = "error: %s" % exc
print(json.dumps(out))
"""


_CLIENT_PROBES = {}


def _repo_url(host):
    """The release's directory on the repo service, as service_common derives it (repo_url, venv_archive_url)."""
    repo = host_vars(host, group(host, "repo")[0])["management_address"]
    port = setting(host, host.backend.host, "service_common", "service_common_repo_port")
    return "http://%s:%s/%s/" % (repo, port, host_vars(host, host.backend.host)["lxstack_release"])


def _keystone_version(host):
    """keystone's version in the release manifest the roles install from."""
    return pinned_version(release_packages(host, host.backend.host, "keystone"), "keystone")


@pytest.fixture
def keystone_probe(host):
    if host.backend.host in _CLIENT_PROBES:
        return _CLIENT_PROBES[host.backend.host]
    url = _repo_url(host) + "wheels/"
    memcached = ",".join(host_vars(host, name)["management_address"] for name in group(host, "memcached"))
    script = "/usr/bin/python3 -c \"import base64; exec(base64.b64decode('%s'))\" %s %s" % (
        base64.b64encode(_CLIENT_PROBE.encode()).decode(), url, memcached)
    _CLIENT_PROBES[host.backend.host] = (json.loads(host.check_output(script)), url)
    return _CLIENT_PROBES[host.backend.host]


@pytest.mark.testinfra_hosts("ansible://keystone")
def test_memcached_answers_every_node(keystone_probe):
    answers = keystone_probe[0]["memcached"]
    assert answers, "no memcached node in the inventory"
    for addr, data in answers.items():
        assert "STORED" in data and "VALUE lxstack_probe 0 2\r\nok" in data, (addr, data)


def _repo_built_wheels(host, service):
    """Whether the repo container built ``service``'s wheels (its build marker); when it copied the venv
    archive from the deploy host's cache it built none."""
    repo = group(host, "repo")[0]
    other = testinfra.get_host("ansible://%s" % repo, ansible_inventory=host.backend.ansible_inventory,
                               force_ansible=host.backend.force_ansible)
    build_dir = setting(host, repo, "repo", "repo_build_dir")
    return other.file("%s/%s/%s.sha256" % (build_dir, host_vars(host, repo)["lxstack_release"], service)).exists


@pytest.mark.testinfra_hosts("ansible://keystone")
def test_repo_serves_the_wheels_of_the_release(host, keystone_probe):
    index, url = keystone_probe
    assert not index["repo_index"].startswith("error"), (url, index["repo_index"])
    wheel = r'href="keystone-%s-[^"]+\.whl"' % re.escape(_keystone_version(host))
    if _repo_built_wheels(host, "keystone"):
        assert re.search(wheel, index["repo_index"]), (wheel, url, index["repo_index"][:500])
    else:
        # the venv archive came from the deploy host's cache (test_repo_keeps_every_venv_archive_in_the_cache)
        assert _venv_cache_dir(host), "the repo built no keystone wheels although it has no venv archive cache"


def _venv_cache_dir(host):
    """The deploy host's venv archive cache (repo_venv_cache_dir; its default is under $HOME)."""
    repo = group(host, "repo")[0]
    variables = host_vars(host, repo)
    if "repo_venv_cache_dir" in variables:
        return variables["repo_venv_cache_dir"]
    return os.path.expanduser("~/.cache/lxstack/venvs")


@pytest.mark.testinfra_hosts("ansible://repo", one=True)
def test_repo_keeps_every_venv_archive_in_the_cache(host):
    """Every archive the repo publishes is in the deploy host's cache, byte for byte (its .sha256 file,
    which names the archive's sha256), whether the repo built it or copied it from there."""
    cache = _venv_cache_dir(host)
    if not cache or not setting(host, host.backend.host, "repo", "repo_venv_archives"):
        pytest.skip("no venv archive cache on this deploy host")
    venvs = "%s/%s/venvs" % (setting(host, host.backend.host, "repo", "repo_root"),
                             host_vars(host, host.backend.host)["lxstack_release"])
    published = host.check_output("cd %s && ls *.tar.zst.sha256", venvs).split()
    assert any(name.startswith("keystone-") for name in published), published
    for name in published:
        copies = sorted(pathlib.Path(cache).glob("*/" + name))
        assert len(copies) == 1, "%s: %d copies in %s" % (name, len(copies), cache)
        assert copies[0].read_text() == host.file("%s/%s" % (venvs, name)).content_string, name
        archive = copies[0].with_name(name[:-len(".sha256")])
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        assert copies[0].read_text().split()[0] == digest, "%s in the cache does not match its sha256" % archive


@pytest.mark.testinfra_hosts("ansible://keystone")
def test_keystone_venv_of_the_release_with_the_constraints(host):
    me = host_vars(host, host.backend.host)
    release = me["lxstack_release"]
    venv = "/openstack/venvs/keystone-%s" % release
    assert host.file("/openstack/venvs/keystone").linked_to == venv
    assert host.run("%s/bin/keystone-manage --help", venv).rc == 0
    installed = dict(line.split("==", 1) for line in host.check_output(
        "%s/bin/python -m pip freeze --disable-pip-version-check --all", venv).splitlines() if "==" in line)
    assert installed.get("keystone") == _keystone_version(host), installed.get("keystone")
    pins = {}
    for line in constraints_file(release).read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)===([^;\s]+)(?:;(.*))?$", line.strip())
        if match and not match.group(3):
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    checked = 0
    for name, version in installed.items():
        pin = pins.get(name.lower().replace("_", "-"))
        if pin is not None:
            assert version == pin, "%s %s in the venv, %s in the constraints" % (name, version, pin)
            checked += 1
    assert checked > 30, "only %d packages of the venv are in the constraints" % checked


# The archive's .sha256 file on the repo, read from the container as venv.yml reads it (HTTP 404: none).
_ARCHIVE_SUM = r"""
import sys, urllib.error, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode().split()[0])
except urllib.error.HTTPError as exc:
    if exc.code != 404:
        raise
    print("none")
"""


@pytest.mark.testinfra_hosts("ansible://keystone")
def test_keystone_venv_comes_from_the_repo_archive_of_its_hash(host):
    me = host_vars(host, host.backend.host)
    name = "keystone-%s" % me["lxstack_release"]
    venv = "/openstack/venvs/%s" % name
    requirement_hash = host.file(venv + "/.lxstack-requirements.sha256").content_string.strip()
    source = host.file(venv + "/.lxstack-venv-source")
    assert source.exists, "%s records no source (written by service_common's venv.yml)" % venv
    archive = "%s-%s.tar.zst" % (name, requirement_hash)
    url = _repo_url(host) + "venvs/" + archive + ".sha256"
    script = "/usr/bin/python3 -c \"import base64; exec(base64.b64decode('%s'))\" %s" % (
        base64.b64encode(_ARCHIVE_SUM.encode()).decode(), url)
    published = host.check_output(script)
    if setting(host, group(host, "repo")[0], "repo", "repo_venv_archives"):
        assert published != "none", "the repo publishes venv archives, but not %s" % url
    if published != "none":
        assert source.content_string.strip() == "archive %s sha256:%s" % (archive, published), (
            "%s came from %r although the repo has its archive %s" % (venv, source.content_string.strip(), url))
    else:
        assert source.content_string.strip() == "pip", source.content_string


def test_secrets_file_is_private_and_never_printed():
    path = inventory_dir() / "secrets.yml"
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o600, oct(mode)
    secrets = yaml.safe_load(path.read_text())
    assert {"galera_root_password", "rabbitmq_erlang_cookie"} <= set(secrets)
    log = (inventory_dir().parent / "ansible.log").read_text(errors="replace")
    # the log holds every run of the scenario at -v (molecule.yml: ANSIBLE_VERBOSITY, ANSIBLE_LOG_PATH)
    assert "changed: [" in log and "=> " in log, "the log does not hold verbose task results"
    leaked = sorted(key for key, value in secrets.items() if str(value) in log)
    assert not leaked, "secret values of %s appear in the output" % leaked
