# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HAProxy config the haproxy role writes, rendered from its template by Ansible's templar: a
frontend with a tls_port (the dashboard) binds https there and redirects its plain port on a VIP with
TLS, and stays plain http elsewhere; a check with host_header names the internal VIP."""

from __future__ import annotations

import pathlib

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

REPO = pathlib.Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "haproxy"
CATALOG = yaml.safe_load((REPO / "roles" / "service_catalog" / "defaults" / "main.yml").read_text())


def _config(**inventory):
    scope = dict(CATALOG)
    scope.update(yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()))
    scope.update({"lxstack_internal_vip_address": "10.0.0.9", "ansible_managed": "managed",
                  "groups": {"horizon": ["c1", "c2"]},
                  "hostvars": {"c1": {"management_address": "10.0.0.51"}, "c2": {"management_address": "10.0.0.52"}}})
    scope.update(inventory)
    scope = {key: trust_as_template(value) if isinstance(value, str) else value for key, value in scope.items()}
    templar = Templar(loader=DataLoader(), variables=scope)
    return templar.template(trust_as_template((ROLE / "templates" / "haproxy.cfg.j2").read_text()))


def _section(text, header):
    lines = text.split("\n")
    start = lines.index(header)
    end = next((i for i in range(start + 1, len(lines)) if lines[i] and not lines[i].startswith(" ")), len(lines))
    return [line.strip() for line in lines[start + 1:end] if line.strip()]


def test_the_dashboard_redirects_its_plain_port_on_the_vip_with_tls():
    text = _config(lxstack_external_vip_address="203.0.113.10", haproxy_tls_enabled=True)
    frontend = _section(text, "frontend horizon")
    assert [line for line in frontend if line.startswith(("bind", "http-request redirect"))] == [
        "bind 10.0.0.9:80",
        "bind 203.0.113.10:443 ssl crt /etc/haproxy/ssl/lxstack.pem",
        "bind 203.0.113.10:80",
        "http-request redirect scheme https code 301 if !{ ssl_fc } { dst 203.0.113.10 }",
    ]
    backend = _section(text, "backend horizon")
    assert "server c1 10.0.0.51:8080" in backend and "server c2 10.0.0.52:8080" in backend
    assert "http-check send meth GET uri /auth/login/ ver HTTP/1.1 hdr Host 10.0.0.9" in backend


@pytest.mark.parametrize("inventory", [{}, {"lxstack_external_vip_address": "203.0.113.10"}])
def test_without_tls_the_dashboard_is_plain_http_on_its_port(inventory):
    frontend = _section(_config(**inventory), "frontend horizon")
    binds = [line for line in frontend if line.startswith(("bind", "http-request redirect"))]
    assert binds == ["bind %s:80" % vip for vip in ["10.0.0.9", *inventory.values()]]


def test_a_frontend_without_tls_port_terminates_tls_on_its_own_port():
    text = _config(lxstack_external_vip_address="203.0.113.10", haproxy_tls_enabled=True,
                   groups={"keystone": ["c1"]})
    frontend = _section(text, "frontend keystone")
    assert [line for line in frontend if line.startswith("bind")] == [
        "bind 10.0.0.9:5000", "bind 203.0.113.10:5000 ssl crt /etc/haproxy/ssl/lxstack.pem"]
    backend = _section(text, "backend keystone")
    assert "option httpchk GET /v3" in backend and not any(line.startswith("http-check send") for line in backend)
