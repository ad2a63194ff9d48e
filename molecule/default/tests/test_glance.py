# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""glance in its containers: its own checks in each glance container, and, from a keystone container
(the admin's clouds.yaml there), an image uploaded through the internal VIP that every glance
container serves back from the one shared file store with the same checksum, then deleted."""

import base64
import json

import pytest
from inventory_vars import endpoint_urls, group, host_vars, setting

_CLIENT = r"""
import hashlib, json, os, sys, urllib.error, urllib.request
import yaml

auth = yaml.safe_load(open("/root/.config/openstack/clouds.yaml"))["clouds"]["admin"]["auth"]
body = json.dumps({"auth": {
    "identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "domain": {"id": "default"}, "password": auth["password"]}}},
    "scope": {"project": {"name": auth["project_name"], "domain": {"id": "default"}}}}}).encode()
request = urllib.request.Request(auth["auth_url"] + "/auth/tokens", data=body,
                                 headers={"Content-Type": "application/json"})
with urllib.request.urlopen(request, timeout=20) as answer:
    token = answer.headers["X-Subject-Token"]
    catalog = json.load(answer)["token"]["catalog"]


def call(method, url, data=None, content_type="application/json"):
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"X-Auth-Token": token, "Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


vip, public, *own = sys.argv[1:]
data = os.urandom(3 * 1024 * 1024 + 17)
out = {"catalog": [entry for entry in catalog if entry["type"] == "image"], "sha256": hashlib.sha256(data).hexdigest(),
       "sha512": hashlib.sha512(data).hexdigest(), "read": {}}
status, created = call("POST", vip + "/v2/images", json.dumps(
    {"name": "lxstack-test-store", "disk_format": "raw", "container_format": "bare"}).encode())
out["create"] = status
image = json.loads(created)["id"]
try:
    out["upload"] = call("PUT", "%s/v2/images/%s/file" % (vip, image), data, "application/octet-stream")[0]
    out["image"] = json.loads(call("GET", "%s/v2/images/%s" % (vip, image))[1])
    for base in own + [public]:
        status, got = call("GET", "%s/v2/images/%s/file" % (base, image))
        out["read"][base] = {"status": status, "sha256": hashlib.sha256(got).hexdigest(), "size": len(got)}
finally:
    out["delete"] = call("DELETE", "%s/v2/images/%s" % (vip, image))[0]
out["after_delete"] = call("GET", "%s/v2/images/%s" % (vip, image))[0]
print(json.dumps(out))
"""


@pytest.mark.testinfra_hosts("ansible://glance")
def test_glance_answers_and_its_schema_matches_the_code(host):
    name = host.backend.host
    address = host_vars(host, name)["management_address"]
    port = setting(host, name, "glance", "glance_port")
    health = host.run("python3 -c \"import urllib.request; print(urllib.request.urlopen("
                      "'http://%s:%s/healthcheck', timeout=10).status)\"" % (address, port))
    assert health.stdout.strip() == "200", health.stdout + health.stderr
    check = host.run("runuser -u glance -- /openstack/venvs/glance/bin/glance-manage db check")
    assert check.rc == 0, check.stdout + check.stderr


@pytest.mark.testinfra_hosts("ansible://glance")
def test_the_image_store_belongs_to_the_fixed_glance_ids(host):
    uid = setting(host, host.backend.host, "glance", "glance_uid")
    store = host.file(setting(host, host.backend.host, "glance", "glance_images_dir"))
    owner = (store.uid, store.gid, store.mode)
    assert store.is_directory and owner == (uid, uid, 0o750), (store.uid, store.gid, oct(store.mode))
    assert host.user("glance").uid == uid


@pytest.mark.testinfra_hosts("ansible://keystone", one=True)
def test_an_image_uploaded_through_the_vip_is_served_by_every_glance_container(host):
    urls = endpoint_urls(host, host.backend.host, "glance", "glance_port")
    port = setting(host, host.backend.host, "glance", "glance_port")
    own = ["http://%s:%s" % (host_vars(host, name)["management_address"], port) for name in group(host, "glance")]
    script = "/openstack/venvs/openstackclient/bin/python -c \"import base64; exec(base64.b64decode('%s'))\" %s" % (
        base64.b64encode(_CLIENT.encode()).decode(), " ".join([urls["internal"], urls["public"], *own]))
    out = json.loads(host.check_output(script))
    region = setting(host, host.backend.host, "keystone", "keystone_region")
    assert len(out["catalog"]) == 1, out["catalog"]
    got = sorted((e["interface"], e["url"], e["region_id"]) for e in out["catalog"][0]["endpoints"])
    assert got == sorted((kind, url, region) for kind, url in urls.items())
    assert (out["create"], out["upload"]) == (201, 204), out
    assert out["image"]["status"] == "active" and out["image"]["os_hash_value"] == out["sha512"], out["image"]
    assert set(out["read"]) == {*own, urls["public"]}
    for base, read in out["read"].items():
        assert read["status"] == 200 and read["sha256"] == out["sha256"], (base, read)
    assert (out["delete"], out["after_delete"]) == (204, 404), out
