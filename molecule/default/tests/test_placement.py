# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""placement in its containers: its own checks in each placement container, and the API as a client
sees it from a keystone container (the admin's clouds.yaml there): a token, the catalogue's
placement endpoints (the VIPs of the inventory) and an authenticated request through both VIPs."""

import base64
import json

import pytest
from inventory_vars import endpoint_urls, host_vars, setting

_CLIENT = r"""
import json, sys, urllib.error, urllib.request
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
out = {"catalog": [entry for entry in catalog if entry["type"] == "placement"], "through": {}}
for url in sys.argv[1:]:
    request = urllib.request.Request(url + "/resource_providers", headers={
        "X-Auth-Token": token, "OpenStack-API-Version": "placement latest"})
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            out["through"][url] = {"status": answer.status, "body": json.load(answer)}
    except urllib.error.HTTPError as exc:
        out["through"][url] = {"status": exc.code}
    unauthenticated = urllib.request.Request(url + "/resource_providers")
    try:
        urllib.request.urlopen(unauthenticated, timeout=20)
        out["through"][url]["anonymous"] = 200
    except urllib.error.HTTPError as exc:
        out["through"][url]["anonymous"] = exc.code
print(json.dumps(out))
"""


@pytest.mark.testinfra_hosts("ansible://placement")
def test_placement_answers_and_passes_its_upgrade_check(host):
    address = host_vars(host, host.backend.host)["management_address"]
    port = setting(host, host.backend.host, "placement", "placement_port")
    root = json.loads(host.check_output("python3 -c \"import urllib.request; print(urllib.request.urlopen("
                                        "'http://%s:%s/', timeout=10).read().decode())\"" % (address, port)))
    assert root["versions"][0]["status"] == "CURRENT", root
    check = host.run("runuser -u placement -- /openstack/venvs/placement/bin/placement-status upgrade check")
    assert check.rc == 0, check.stdout + check.stderr


@pytest.mark.testinfra_hosts("ansible://keystone", one=True)
def test_placement_api_through_both_vips_with_a_token(host):
    urls = endpoint_urls(host, host.backend.host, "placement", "placement_port")
    script = "/openstack/venvs/openstackclient/bin/python -c \"import base64; exec(base64.b64decode('%s'))\" %s %s" % (
        base64.b64encode(_CLIENT.encode()).decode(), urls["internal"], urls["public"])
    out = json.loads(host.check_output(script))
    region = setting(host, host.backend.host, "keystone", "keystone_region")
    assert len(out["catalog"]) == 1, out["catalog"]
    got = sorted((e["interface"], e["url"], e["region_id"]) for e in out["catalog"][0]["endpoints"])
    assert got == sorted((kind, url, region) for kind, url in urls.items())
    for url in (urls["internal"], urls["public"]):
        answer = out["through"][url]
        assert answer["status"] == 200 and "resource_providers" in answer["body"], (url, answer)
        assert answer["anonymous"] == 401, (url, answer)
