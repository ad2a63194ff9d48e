# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The horizon role's local_settings.py as its own data renders it for an inventory (the role's defaults and
vars over service_common's and the catalogue's, as Ansible layers them), read back by Python as Django
imports it; the port scheme against the catalogue; when the static files are made again."""

from __future__ import annotations

import pathlib

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

REPO = pathlib.Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "horizon"
MEMCACHED = {"infra1-memcached": "172.29.236.71", "infra2-memcached": "172.29.236.72"}


def _load(path):
    return DataLoader().load_from_file(str(path), trusted_as_template=True)


def _templar(**inventory):
    scope = {}
    for path in (REPO / "roles" / "service_catalog" / "defaults" / "main.yml",
                 REPO / "roles" / "service_common" / "defaults" / "main.yml",
                 ROLE / "defaults" / "main.yml", ROLE / "vars" / "main.yml"):
        scope.update(_load(path))
    scope.update({
        "lxstack_release": "2026.2", "lxstack_internal_vip_address": "172.29.236.9",
        "management_address": "172.29.236.81", "horizon_secret_key": "k" * 64,
        "groups": {"memcached": list(MEMCACHED)},
        "hostvars": {name: {"management_address": address} for name, address in MEMCACHED.items()},
        "_horizon_venv": {"hash": "0" * 64, "changed": False},
        # the inventory's container service, and service_common's main task (a meta dependency) before the role
        "container_service": "horizon", "_service_common_nproc": {"stdout": "2"},
    })
    scope.update(inventory)
    return Templar(loader=DataLoader(), variables=scope)


def _render(templar, expression):
    return templar.template(trust_as_template(expression))


def _settings(**inventory):
    """local_settings.py's text, and the names it defines as Python reads them."""
    text = _render(_templar(**inventory), "{{ _horizon_local_settings | lxstack.openstack.config_merge("
                                          "horizon_local_settings_overrides) | lxstack.openstack.to_python_settings }}")
    namespace = {}
    exec(compile(text, "local_settings.py", "exec"), {}, namespace)
    return text, namespace


def test_internal_vip_only_without_tls():
    _text, settings = _settings()
    assert settings["ALLOWED_HOSTS"] == ["172.29.236.9", "172.29.236.81"]
    assert settings["OPENSTACK_HOST"] == "172.29.236.9"
    assert settings["OPENSTACK_KEYSTONE_URL"] == "http://172.29.236.9:5000/v3"
    assert settings["SESSION_COOKIE_SECURE"] is False and settings["CSRF_COOKIE_SECURE"] is False
    assert settings["SESSION_ENGINE"] == "django.contrib.sessions.backends.cache"
    assert settings["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.memcached.PyMemcacheCache"
    assert settings["CACHES"]["default"]["LOCATION"] == ["172.29.236.71:11211", "172.29.236.72:11211"]
    assert settings["CACHES"]["default"]["OPTIONS"] == {"ignore_exc": True, "connect_timeout": 1, "timeout": 1}
    assert settings["SECRET_KEY"] == "k" * 64
    assert (settings["WEBROOT"], settings["STATIC_ROOT"], settings["COMPRESS_OFFLINE"]) == (
        "/", "/var/lib/horizon/static", True)
    assert (settings["OPENSTACK_KEYSTONE_DEFAULT_ROLE"], settings["TIME_ZONE"], settings["DEBUG"]) == (
        "member", "UTC", False)
    assert settings["LOGGING"]["handlers"]["file"]["filename"] == "/var/log/horizon/horizon.log"
    assert settings["LOGGING"]["root"] == {"handlers": ["file"], "level": "INFO"}


def test_tls_on_the_external_vip():
    _text, settings = _settings(lxstack_external_vip_address="203.0.113.10", haproxy_tls_enabled=True,
                                haproxy_tls_names=["cloud.example.org"])
    assert settings["ALLOWED_HOSTS"] == ["172.29.236.9", "203.0.113.10", "cloud.example.org", "172.29.236.81"]
    assert settings["SESSION_COOKIE_SECURE"] is True and settings["CSRF_COOKIE_SECURE"] is True
    # keystone through the internal VIP all the same
    assert settings["OPENSTACK_KEYSTONE_URL"] == "http://172.29.236.9:5000/v3"


def test_tls_on_the_internal_vip_only_secures_cookies_without_an_external_vip():
    _text, settings = _settings(haproxy_tls_internal=True)
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["OPENSTACK_KEYSTONE_URL"] == "https://172.29.236.9:5000/v3"
    _text, settings = _settings(haproxy_tls_internal=True, lxstack_external_vip_address="203.0.113.10")
    assert settings["SESSION_COOKIE_SECURE"] is False


def test_ipv6_addresses_in_brackets():
    _text, settings = _settings(lxstack_internal_vip_address="fd00::9", management_address="fd00::81")
    assert settings["ALLOWED_HOSTS"] == ["[fd00::9]", "[fd00::81]"]


def test_overrides_merge_and_remove():
    _text, settings = _settings(horizon_local_settings_overrides={
        "CACHES": {"default": {"OPTIONS": None}}, "DEBUG": True, "TIME_ZONE": None, "SITE_BRANDING": "lxstack"})
    assert settings["CACHES"]["default"] == {
        "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
        "LOCATION": ["172.29.236.71:11211", "172.29.236.72:11211"]}
    assert settings["DEBUG"] is True and "TIME_ZONE" not in settings and settings["SITE_BRANDING"] == "lxstack"


def test_the_text_is_the_same_for_the_same_data():
    assert _settings()[0] == _settings()[0]
    assert _settings()[0].startswith("ALLOWED_HOSTS = [\n")


# ---------------------------------------------------------------- ports: the catalogue's horizon frontend

def test_ports_follow_the_catalogue_frontend():
    catalog = _load(REPO / "roles" / "service_catalog" / "defaults" / "main.yml")["lxstack_service_catalog"]
    frontend = catalog["horizon"]["frontends"][0]
    assert _render(_templar(), "{{ horizon_port }}") == frontend["backend_port"]
    catalog["horizon"]["frontends"] = [{"name": "horizon", "port": 8000, "tls_port": 8001, "backend_port": 8443}]
    templar = _templar(lxstack_service_catalog=catalog)
    assert _render(templar, "{{ horizon_port }}") == 8443
    assert _render(templar, "{{ horizon_vip_check_url }}") == "http://172.29.236.9:8000/auth/login/"


def test_urls_are_https_on_the_tls_port_of_a_vip_with_tls():
    catalog = _load(REPO / "roles" / "service_catalog" / "defaults" / "main.yml")["lxstack_service_catalog"]
    frontend = catalog["horizon"]["frontends"][0]
    urls = _render(_templar(lxstack_external_vip_address="203.0.113.10", haproxy_tls_enabled=True),
                   "{{ horizon_endpoint_urls }}")
    assert (urls["public"], urls["internal"]) == ("https://203.0.113.10:%d" % frontend["tls_port"],
                                                  "http://172.29.236.9:%d" % frontend["port"])
    urls = _render(_templar(lxstack_external_vip_address="203.0.113.10", haproxy_tls_enabled=True,
                            haproxy_tls_internal=True), "{{ horizon_endpoint_urls }}")
    assert urls["internal"] == "https://172.29.236.9:%d" % frontend["tls_port"]


# ---------------------------------------------------------------- the static files and uWSGI

def _stamp(venv_hash="0" * 64, settings_checksum="a" * 40):
    # the results of service_common's venv and config entry points (the config's checksum: of its text)
    return _render(_templar(_horizon_venv={"hash": venv_hash, "changed": False},
                            _horizon_settings_result={"checksum": settings_checksum, "changed": False}),
                   "{{ _horizon_static_stamp }}")


def test_static_files_are_made_again_only_for_a_new_venv_or_new_settings():
    assert _stamp() == _stamp()
    assert _stamp(venv_hash="1" * 64) != _stamp()
    assert _stamp(settings_checksum="b" * 40) != _stamp()
    assert len(_stamp()) == 64


def _uwsgi_vars():
    for task in yaml.safe_load((ROLE / "tasks" / "main.yml").read_text()):
        if task.get("ansible.builtin.include_role", {}).get("tasks_from") == "uwsgi":
            return task["vars"]
    raise AssertionError("the role does not call service_common's uwsgi entry point")


@pytest.mark.parametrize("webroot, static_map, check_path", [
    ("/", "/static=/var/lib/horizon/static", "/auth/login/"),
    ("/dashboard", "/dashboard/static=/var/lib/horizon/static", "/dashboard/auth/login/"),
])
def test_uwsgi_serves_static_root_at_static_url(webroot, static_map, check_path):
    templar = _templar(horizon_webroot=webroot)
    uwsgi = _uwsgi_vars()
    assert [_render(templar, entry) for entry in uwsgi["service_common_uwsgi_static_map"]] == [static_map]
    assert _render(templar, uwsgi["service_common_uwsgi_check_path"]) == check_path
    assert _render(templar, uwsgi["service_common_uwsgi_bind"]) == "172.29.236.81"
    assert uwsgi["service_common_uwsgi_module"] == "openstack_dashboard.wsgi:application"


# ---------------------------------------------------------------- the argument spec

def test_the_rendered_defaults_pass_the_argument_spec():
    """What the role validates at its start: every default, rendered for an inventory, fits its spec."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    spec = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    assert set(defaults) | {"horizon_secret_key"} == set(spec), "defaults and argument spec name other variables"
    templar = _templar(lxstack_external_vip_address="203.0.113.10", haproxy_tls_enabled=True)
    values = {name: _render(templar, "{{ %s }}" % name) for name in spec}
    result = ArgumentSpecValidator(spec).validate(values)
    assert not result.error_messages
    for name, option in spec.items():
        if "default" in option:
            assert values[name] == option["default"], name
