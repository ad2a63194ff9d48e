# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What service_common's config and uwsgi entry points write, rendered from their own task expressions by
Ansible's templar: every config format, and the uWSGI config with and without static-map lines (an API
that sets none gets the very text it got before the option existed)."""

from __future__ import annotations

import json
import pathlib

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

REPO = pathlib.Path(__file__).resolve().parents[1].parent
TASKS = REPO / "roles" / "service_common" / "tasks"
DEFAULTS = yaml.safe_load((REPO / "roles" / "service_common" / "defaults" / "main.yml").read_text())


def _task(name, path):
    for task in yaml.safe_load((TASKS / path).read_text()):
        if task["name"] == name:
            return task
        for inner in task.get("block", []):
            if inner["name"] == name:
                return dict(inner, vars=dict(task.get("vars", {}), **inner.get("vars", {})))
    raise AssertionError("no task %r in %s" % (name, path))


def _render(expression, variables):
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))


# ---------------------------------------------------------------- config entry point

CONFIG = {"DEFAULT": {"debug": False, "log_dir": "/var/log/lxtest"}, "cache": {"enabled": True}}
OVERRIDES = {"DEFAULT": {"debug": True}}


def _config_text(fmt):
    task = _task("Render the config file", "config.yml")
    variables = {"service_common_config": CONFIG, "service_common_config_overrides": OVERRIDES,
                 "service_common_config_format": fmt}
    variables.update({name: trust_as_template(value) for name, value in task["vars"].items()})
    return _render(task["ansible.builtin.copy"]["content"], variables)


MERGED = {"DEFAULT": {"debug": True, "log_dir": "/var/log/lxtest"}, "cache": {"enabled": True}}


def test_config_formats_ini_and_yaml():
    assert _config_text("ini") == "[DEFAULT]\ndebug = True\nlog_dir = /var/log/lxtest\n\n[cache]\nenabled = True\n"
    assert yaml.safe_load(_config_text("yaml")) == MERGED
    assert _config_text("yaml").startswith("DEFAULT:\n  debug: true\n")


def test_config_format_json():
    assert json.loads(_config_text("json")) == MERGED and _config_text("json").endswith("}\n")


def test_config_format_python():
    assert _config_text("python") == (
        "DEFAULT = {\n    'debug': True,\n    'log_dir': '/var/log/lxtest',\n}\ncache = {\n    'enabled': True,\n}\n")


def test_config_formats_are_the_documented_choices():
    specs = yaml.safe_load((REPO / "roles" / "service_common" / "meta" / "argument_specs.yml").read_text())
    choices = specs["argument_specs"]["config"]["options"]["service_common_config_format"]["choices"]
    assert choices == ["ini", "yaml", "json", "python"]


# ---------------------------------------------------------------- uwsgi entry point

# keystone's API as the keystone role calls the entry point, and the text its uWSGI config had before
# service_common_uwsgi_static_map existed
KEYSTONE = {"service_common_venv_root": "/openstack/venvs", "service_common_service": "keystone",
            "service_common_release": "2026.2", "service_common_uwsgi_name": "keystone-api",
            "service_common_uwsgi_module": "keystone.wsgi.api:application",
            "service_common_uwsgi_bind": "172.29.236.101", "service_common_uwsgi_port": 5000,
            "service_common_uwsgi_processes": 2, "service_common_uwsgi_threads": 1,
            "service_common_uwsgi_overrides": {}}
KEYSTONE_INI = """[uwsgi]
plugins = python3
virtualenv = /openstack/venvs/keystone-2026.2
module = keystone.wsgi.api:application
http11-socket = 172.29.236.101:5000
master = True
processes = 2
threads = 1
enable-threads = True
lazy-apps = True
need-app = True
die-on-term = True
buffer-size = 65535
thunder-lock = True
vacuum = True
log-x-forwarded-for = True
procname-prefix-spaced = keystone-api:
env = OS_DEFAULT__LOG_FILE=keystone-api.log
"""


def _uwsgi_ini(**variables):
    task = _task("Write the uWSGI config", "uwsgi.yml")
    return _render(task["ansible.builtin.copy"]["content"], {**KEYSTONE, **variables})


def test_uwsgi_config_without_static_map_is_unchanged():
    assert DEFAULTS["service_common_uwsgi_static_map"] == []
    assert _uwsgi_ini(service_common_uwsgi_static_map=DEFAULTS["service_common_uwsgi_static_map"]) == KEYSTONE_INI


@pytest.mark.parametrize("static_map", [["/static=/var/lib/horizon/static"],
                                        ["/static=/var/lib/horizon/static", "/media=/var/lib/horizon/media"]])
def test_uwsgi_config_static_map_one_line_an_entry(static_map):
    text = _uwsgi_ini(service_common_uwsgi_static_map=static_map)
    assert text == KEYSTONE_INI + "".join("static-map = %s\n" % entry for entry in static_map)
