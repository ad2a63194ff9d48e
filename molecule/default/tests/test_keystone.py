# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keystone in its containers, checked from each keystone container through the project's connection.

One probe per container (run by the OpenStack client venv's Python, which has PyYAML; the admin's
credentials come from the clouds.yaml the role writes there, never from a command line) asks for an
admin token on the container's own address and through both VIPs, validates a token issued by
another keystone container, hashes the key repositories and lists the service project with the
`openstack` CLI. Expected values (VIPs, TLS, port, region) come from the inventory and role defaults.
"""

import base64
import json

import pytest
import testinfra
from inventory_vars import endpoint_urls, group, host_vars, setting

testinfra_hosts = ["ansible://keystone"]

_PROBE = r"""
import hashlib, json, os, subprocess, sys, urllib.error, urllib.request
import yaml

cloud = yaml.safe_load(open("/root/.config/openstack/clouds.yaml"))["clouds"]["admin"]
auth = cloud["auth"]
body = json.dumps({"auth": {
    "identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "domain": {"id": "default"}, "password": auth["password"]}}},
    "scope": {"project": {"name": auth["project_name"], "domain": {"id": "default"}}}}}).encode()

def token(base):
    request = urllib.request.Request(base + "/v3/auth/tokens", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            data = json.load(answer)
            return {"status": answer.status, "token": answer.headers["X-Subject-Token"],
                    "catalog": data["token"]["catalog"]}
    except (urllib.error.URLError, OSError) as exc:
        return {"status": getattr(exc, "code", None), "error": str(exc)}

def validate(base, subject):
    request = urllib.request.Request(base + "/v3/auth/tokens",
                                     headers={"X-Auth-Token": subject, "X-Subject-Token": subject})
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code

def keys(path):
    return {name: hashlib.sha256(open(os.path.join(path, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(path))}

own, internal, public, project = sys.argv[1:5]
out = {"own": token(own), "internal": token(internal), "public": token(public),
       "fernet": keys("/etc/keystone/fernet-keys"), "credential": keys("/etc/keystone/credential-keys")}
for where in ("internal", "public"):
    out[where].pop("token", None)
if len(sys.argv) > 5:
    out["validated"] = validate(own, sys.argv[5])
else:
    cli = subprocess.run(["/openstack/venvs/openstackclient/bin/openstack", "--os-cloud", "admin",
                          "project", "show", "-f", "json", project], capture_output=True, text=True)
    out["project"] = json.loads(cli.stdout) if cli.returncode == 0 else {"error": cli.stderr[-2000:]}
print(json.dumps(out))
"""
_PROBES = {}
_CLIENT_PYTHON = "/openstack/venvs/openstackclient/bin/python"


def _urls(host):
    """The identity endpoints (inventory_vars.endpoint_urls) and the container's own address."""
    name = host.backend.host
    own = "http://%s:%s" % (host_vars(host, name)["management_address"],
                            setting(host, name, "keystone", "keystone_port"))
    return {"own": own, **endpoint_urls(host, name, "keystone", "keystone_port")}


def _probe(host, subject=""):
    """The probe's answer in the container of ``host``; with ``subject``, it also validates that token."""
    urls = _urls(host)
    project = setting(host, host.backend.host, "keystone", "keystone_service_project")
    script = "%s -c \"import base64; exec(base64.b64decode('%s'))\" %s %s %s %s %s" % (
        _CLIENT_PYTHON, base64.b64encode(_PROBE.encode()).decode(), urls["own"], urls["internal"], urls["public"],
        project, subject)
    return json.loads(host.check_output(script))


def _probe_of(host, name):
    """The probe of inventory host ``name`` (another keystone container), run once per verify."""
    if name not in _PROBES:
        other = testinfra.get_host("ansible://%s" % name, ansible_inventory=host.backend.ansible_inventory,
                                   force_ansible=host.backend.force_ansible)
        _PROBES[name] = _probe(other)
    return _PROBES[name]


@pytest.fixture
def probe(host):
    return _probe_of(host, host.backend.host)


def test_admin_gets_a_token_on_its_own_address_and_through_both_vips(probe):
    for where in ("own", "internal", "public"):
        assert probe[where]["status"] == 201, (where, probe[where])


def test_identity_endpoints_are_the_vips_of_the_inventory(host, probe):
    region = setting(host, host.backend.host, "keystone", "keystone_region")
    identity = [entry for entry in probe["own"]["catalog"] if entry["type"] == "identity"]
    assert len(identity) == 1, probe["own"]["catalog"]
    urls = _urls(host)
    got = sorted((e["interface"], e["url"], e["region_id"]) for e in identity[0]["endpoints"])
    assert got == sorted((kind, urls[kind], region) for kind in ("admin", "internal", "public"))


def test_a_token_of_the_first_container_validates_on_every_container(host, probe):
    """Identical fernet keys in practice: a token issued by the first keystone container is accepted
    by each container on its own address (not through the VIP, which could send it elsewhere)."""
    issued = _probe_of(host, group(host, "keystone")[0])["own"]
    assert issued["status"] == 201, issued
    checked = _probe(host, subject=issued["token"])
    assert checked["validated"] == 200, checked


def test_key_repositories_are_identical_on_every_container(host, probe):
    first = _probe_of(host, group(host, "keystone")[0])
    max_keys = setting(host, host.backend.host, "keystone", "keystone_fernet_max_active_keys")
    assert 2 <= len(probe["fernet"]) <= max_keys, probe["fernet"]
    assert probe["fernet"] == first["fernet"]
    assert probe["credential"] and probe["credential"] == first["credential"]


def test_key_repositories_and_config_are_private(host):
    for path in ("/etc/keystone/fernet-keys", "/etc/keystone/credential-keys"):
        repo = host.file(path)
        assert repo.user == "keystone" and repo.mode == 0o700, (path, repo.user, oct(repo.mode))
        for name in host.check_output("ls %s", path).split():
            key = host.file("%s/%s" % (path, name))
            assert key.user == "keystone" and key.mode == 0o600, (key.path, oct(key.mode))
    conf = host.file("/etc/keystone/keystone.conf")
    assert (conf.user, conf.group, conf.mode) == ("root", "keystone", 0o640)
    clouds = host.file("/root/.config/openstack/clouds.yaml")
    assert (clouds.user, clouds.mode) == ("root", 0o600)


def test_service_project_exists_through_the_openstack_cli(host, probe):
    project = setting(host, host.backend.host, "keystone", "keystone_service_project")
    assert probe["project"].get("name") == project, probe["project"]
    assert probe["project"].get("enabled") is True, probe["project"]
