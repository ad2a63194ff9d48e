# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the tempest role writes, rendered by Ansible's templar from its own template and tasks:
tempest.conf from the admin's cloud and what the cloud holds (with and without TLS, an external network
and the dashboard), oslo.config's `$` escaped, overrides merged; the exclude list with its reasons."""

from __future__ import annotations

import configparser
import pathlib
import re

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

REPO = pathlib.Path(__file__).resolve().parents[1].parent
ROLE = REPO / "roles" / "tempest"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())

CLOUD = {"auth": {"auth_url": "https://203.0.113.10:5000/v3", "username": "admin", "password": "pa$word",
                  "project_name": "admin", "user_domain_name": "Default", "project_domain_name": "Default"},
         "region_name": "RegionTwo", "interface": "public", "cacert": "/etc/lxstack/aio/pki/ca.crt"}


def _render(text, variables):
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(text))


def _conf(cloud=None, public=True, dashboard="https://203.0.113.10/", overrides=None):
    cloud = CLOUD if cloud is None else cloud
    variables = {
        "ansible_managed": "managed", "tempest_dir": "/env/tempest", "tempest_clouds_yaml": "/env/clouds.yaml",
        "tempest_build_timeout": 300, "tempest_dashboard_url": dashboard,
        "tempest_conf_overrides": overrides or {},
        "_tempest_cloud": cloud, "_tempest_image": {"id": "image-1"},
        "_tempest_flavors": {"flavors": [{"id": "flavor-1"}]},
        "_tempest_public": [{"id": "net-1", "name": "public"}] if public else [],
        "_tempest_extensions": {"resources": [{"alias": "router"}, {"alias": "agent"}, {"alias": "security-group"}]},
    }
    parser = configparser.ConfigParser(interpolation=None, default_section="not-a-section")
    parser.read_string(_render((ROLE / "templates" / "tempest.conf.j2").read_text(), variables))
    return parser


def test_conf_from_the_cloud_with_tls():
    conf = _conf()
    assert dict(conf["identity"]) == {
        "uri_v3": "https://203.0.113.10:5000/v3", "auth_version": "v3", "v3_endpoint_type": "public",
        "region": "RegionTwo", "disable_ssl_certificate_validation": "false",
        "ca_certificates_file": "/etc/lxstack/aio/pki/ca.crt"}
    # oslo.config substitutes $name: the password's $ is written doubled
    assert conf["auth"]["admin_password"] == "pa$$word"
    assert conf["auth"]["use_dynamic_credentials"] == "true"
    assert (conf["compute"]["image_ref"], conf["compute"]["flavor_ref"]) == ("image-1", "flavor-1")
    assert conf["network"]["public_network_id"] == "net-1"
    assert conf["network-feature-enabled"]["floating_ips"] == "true"
    assert conf["network-feature-enabled"]["api_extensions"] == "agent,router,security-group"
    assert conf["service_available"]["horizon"] == "true"
    assert conf["dashboard"]["dashboard_url"] == "https://203.0.113.10/"
    assert (conf["service_available"]["cinder"], conf["service_available"]["swift"]) == ("false", "false")
    assert conf["validation"]["run_validation"] == "false"


def test_conf_without_tls_external_network_or_dashboard():
    cloud = dict(CLOUD, auth=dict(CLOUD["auth"], auth_url="http://192.0.2.10:5000/v3"))
    del cloud["cacert"]
    conf = _conf(cloud=cloud, public=False, dashboard="")
    assert "ca_certificates_file" not in conf["identity"]
    assert "public_network_id" not in conf["network"]
    assert conf["network-feature-enabled"]["floating_ips"] == "false"
    assert conf["service_available"]["horizon"] == "false"
    assert not conf.has_section("dashboard")


def test_conf_overrides_are_merged_over_the_written_settings():
    conf = _conf(overrides={"compute-feature-enabled": {"vnc_console": True, "resize": True}, "new": {"a": 1}})
    assert conf["compute-feature-enabled"]["vnc_console"] == "true"
    assert conf["compute-feature-enabled"]["resize"] == "true"
    assert conf["compute-feature-enabled"]["cold_migration"] == "false"
    assert conf["new"]["a"] == "1"


def test_exclude_list_gives_every_test_left_out_with_its_reason():
    tasks = yaml.safe_load((ROLE / "tasks" / "main.yml").read_text())
    task = next(t for t in tasks if t["name"] == "Write the list of tests left out, with the reasons")
    text = _render(task["ansible.builtin.copy"]["content"], {"tempest_exclude": DEFAULTS["tempest_exclude"]})
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(lines) == len(DEFAULTS["tempest_exclude"]) > 0
    for line, item in zip(lines, DEFAULTS["tempest_exclude"], strict=True):
        regex, reason = line.split("  # ", 1)
        assert regex == item["regex"] and reason and "\n" not in reason
        re.compile(regex)
    # stestr reads the text before the first # of a line as the regular expression
    assert re.search(lines[0].split("#")[0].strip(), "tempest.scenario.test_network_basic_ops.TestNetworkBasicOps.x")
