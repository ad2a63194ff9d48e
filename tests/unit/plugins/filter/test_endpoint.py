# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""endpoint_urls: the one rule for the public, internal and admin URLs of a service, and the role
defaults that derive their endpoints from it."""

from __future__ import annotations

import pathlib
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "collections"))

from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.template import Templar, trust_as_template  # noqa: E402
from ansible_collections.lxstack.openstack.plugins.filter import endpoint  # noqa: E402

urls = endpoint.endpoint_urls


def test_without_an_external_vip_the_internal_url_is_public():
    assert urls(5000, "10.0.0.10") == {"public": "http://10.0.0.10:5000", "internal": "http://10.0.0.10:5000",
                                       "admin": "http://10.0.0.10:5000"}


def test_public_on_the_external_vip_with_its_own_tls():
    got = urls("8778", "10.0.0.10", "203.0.113.10", False, True)
    assert got == {"public": "https://203.0.113.10:8778", "internal": "http://10.0.0.10:8778",
                   "admin": "http://10.0.0.10:8778"}
    assert urls(9292, "10.0.0.10", "203.0.113.10", True, False)["internal"] == "https://10.0.0.10:9292"


def test_a_tls_port_is_used_where_the_vip_terminates_tls_only():
    got = urls(80, "10.0.0.10", "203.0.113.10", False, True, tls_port=443)
    assert (got["internal"], got["public"]) == ("http://10.0.0.10:80", "https://203.0.113.10:443")
    got = urls(80, "10.0.0.10", "", True, False, "", "443")
    assert got["internal"] == got["public"] == "https://10.0.0.10:443"
    assert urls(80, "10.0.0.10", tls_port="")["internal"] == "http://10.0.0.10:80"


def test_ipv6_in_brackets_and_names_as_they_are():
    got = urls(8774, "fd00::0a", "cloud.example.org", path="v2.1")
    assert got["internal"] == "http://[fd00::a]:8774/v2.1"
    assert got["public"] == "http://cloud.example.org:8774/v2.1"


@pytest.mark.parametrize("args, message", [
    (("x", "10.0.0.10"), "the port must be a number"),
    ((0, "10.0.0.10"), "the port must be in 1-65535"),
    ((80, "10.0.0.10", "", False, False, "", 70000), "the tls_port must be in 1-65535"),
    ((5000, ""), "the internal VIP must be an address or a name"),
    ((5000, None), "the internal VIP must be an address or a name"),
    ((5000, "10.0.0.10", "", "maybe"), "the TLS switches must be booleans"),
])
def test_bad_input_is_named(args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        urls(*args)


def test_tls_switches_given_as_text_are_read_as_booleans():
    got = urls(5000, "10.0.0.10", "203.0.113.10", "False", "true")
    assert (got["internal"], got["public"]) == ("http://10.0.0.10:5000", "https://203.0.113.10:5000")


# The roles whose endpoint URLs come from the filter: role -> its URL variables, port and path.
ROLES = {"keystone": ("keystone", 5000, ""), "placement": ("placement", 8778, ""), "glance": ("glance", 9292, ""),
         "nova": ("nova", 8774, "/v2.1"), "neutron": ("neutron", 9696, "")}


def _trusted(value):
    """Role defaults as the templar takes them: every string a trusted template."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {key: _trusted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_trusted(item) for item in value]
    return value


@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("external, tls_internal, tls_external", [
    ("", False, False), ("203.0.113.10", False, True), ("203.0.113.10", True, True)])
def test_role_defaults_render_the_filter_result(role, external, tls_internal, tls_external):
    prefix, port, path = ROLES[role]
    # the role's defaults over service_common's (its meta dependency), as Ansible sees them
    variables = yaml.safe_load((ROOT / "roles" / "service_common" / "defaults" / "main.yml").read_text())
    variables.update(yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()))
    variables.update(lxstack_internal_vip_address="10.0.0.10", lxstack_external_vip_address=external,
                     haproxy_tls_internal=tls_internal, haproxy_tls_enabled=tls_external,
                     management_address="10.0.0.21")
    templar = Templar(loader=DataLoader(), variables=_trusted(variables))
    want = urls(port, "10.0.0.10", external, tls_internal, tls_external, path)
    keystone = urls(5000, "10.0.0.10", external, tls_internal, tls_external)
    for kind in ("public", "internal", "admin"):
        assert templar.template(trust_as_template("{{ %s_%s_url }}" % (prefix, kind))) == want[kind]
    if role != "keystone":
        for kind in ("public", "internal"):
            assert templar.template(trust_as_template("{{ %s_keystone_%s_url }}" % (prefix, kind))) == keystone[kind]
    assert templar.template(trust_as_template("{{ service_common_keystone_auth_url }}")) == keystone["internal"] + "/v3"
