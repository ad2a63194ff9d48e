# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keystone_registration_drift: what a service user's token shows missing of the service's registration."""

from __future__ import annotations

import copy
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "collections"))

from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible.template import Templar, trust_as_template  # noqa: E402
from ansible_collections.lxstack.openstack.plugins.filter import keystone  # noqa: E402

ENDPOINTS = {"public": "https://203.0.113.10:8778", "internal": "http://172.29.236.9:8778",
             "admin": "http://172.29.236.9:8778"}
ROLES = ["admin", "service"]


def _token(status=201):
    """A uri result of POST /v3/auth/tokens as keystone answers it (trimmed to what the filter reads)."""
    return {"status": status, "json": {"token": {
        "roles": [{"id": "1", "name": "admin"}, {"id": "2", "name": "service"}, {"id": "3", "name": "reader"}],
        "catalog": [
            {"name": "keystone", "type": "identity", "endpoints": [
                {"interface": "internal", "region_id": "RegionOne", "url": "http://172.29.236.9:5000"}]},
            {"name": "placement", "type": "placement", "endpoints": [
                {"interface": i, "region_id": "RegionOne", "region": "RegionOne", "url": u}
                for i, u in ENDPOINTS.items()] + [
                {"interface": "internal", "region_id": "RegionTwo", "url": "http://10.0.0.9:8778"}]},
        ]}}}


def drift(response, **changes):
    args = dict(name="placement", service_type="placement", endpoints=ENDPOINTS, region="RegionOne", roles=ROLES)
    args.update(changes)
    return keystone.keystone_registration_drift(response, **args)


def test_nothing_missing():
    assert drift(_token()) == []


def test_the_user_cannot_authenticate():
    assert drift(_token(401)) == ["the service user cannot get a token in its project (HTTP 401)"]
    assert drift({"status": -1, "msg": "connection refused"}) == [
        "the service user cannot get a token in its project (HTTP -1)"]


def test_a_missing_role():
    assert drift(_token(), roles=["admin", "service", "member"]) == [
        "the service user lacks the role member in its project"]


def test_no_catalogue_entry_of_that_name_and_type():
    assert drift(_token(), service_type="compute") == ["0 catalogue entries named placement of type compute"]
    token = _token()
    token["json"]["token"]["catalog"].append(copy.deepcopy(token["json"]["token"]["catalog"][1]))
    assert drift(token) == ["2 catalogue entries named placement of type placement"]


def test_a_missing_or_different_or_doubled_endpoint():
    assert drift(_token(), endpoints=dict(ENDPOINTS, internal="http://172.29.236.9:8779")) == [
        "the internal endpoint of placement in RegionOne is http://172.29.236.9:8778, not http://172.29.236.9:8779"]
    token = _token()
    endpoints = token["json"]["token"]["catalog"][1]["endpoints"]
    endpoints[:] = [e for e in endpoints if e["interface"] != "admin"]
    assert drift(token) == ["the admin endpoint of placement in RegionOne is missing, not http://172.29.236.9:8778"]
    endpoints.append({"interface": "public", "region_id": "RegionOne", "url": "https://old:8778"})
    assert "the public endpoint of placement in RegionOne is https://203.0.113.10:8778 and https://old:8778, " \
           "not https://203.0.113.10:8778" in drift(token)


def test_only_the_region_counts():
    assert drift(_token(), region="RegionTwo") == [
        "the admin endpoint of placement in RegionTwo is missing, not http://172.29.236.9:8778",
        "the internal endpoint of placement in RegionTwo is http://10.0.0.9:8778, not http://172.29.236.9:8778",
        "the public endpoint of placement in RegionTwo is missing, not https://203.0.113.10:8778"]


@pytest.mark.parametrize("changes, message", [
    ({"name": ""}, "the service name must be a non-empty string"),
    ({"endpoints": ["http://x"]}, "the endpoints must map an interface to a URL"),
    ({"roles": "admin"}, "the roles must be a list of strings"),
])
def test_bad_input_is_named(changes, message):
    with pytest.raises(AnsibleFilterError, match=message):
        drift(_token(), **changes)
    with pytest.raises(AnsibleFilterError, match="the response must be the uri result"):
        drift("201")


def test_as_ansible_calls_it():
    templar = Templar(variables={"token": _token(), "endpoints": ENDPOINTS})
    expression = ("{{ token | lxstack.openstack.keystone_registration_drift('placement', 'placement', endpoints, "
                  "'RegionOne', ['admin', 'service', 'member']) }}")
    assert templar.template(trust_as_template(expression)) == ["the service user lacks the role member in its project"]
