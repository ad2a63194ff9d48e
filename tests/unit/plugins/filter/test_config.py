# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Data-driven tests of the config filters (cases in test_config.yaml)."""

from __future__ import annotations

import copy
import os
import pathlib
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "collections"))

from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible_collections.lxstack.openstack.plugins.filter import config  # noqa: E402

LOCAL_INVENTORY = "localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable
PLAYBOOK_CLI = str(pathlib.Path(sys.executable).parent / "ansible-playbook")
CASES = yaml.safe_load(pathlib.Path(__file__).with_suffix(".yaml").read_text())


def test_filters_registered():
    assert set(config.FilterModule().filters()) == {"to_ini", "config_merge", "to_python_settings"}


# the text renderers: each case gives its exact text or its error
RENDERERS = [(name, case) for name in ("to_ini", "to_python_settings") for case in CASES[name]]


@pytest.mark.parametrize("name, case", RENDERERS, ids=lambda v: v["id"] if isinstance(v, dict) else v)
def test_render(name, case):
    render = getattr(config, name)
    if "error" in case:
        with pytest.raises(AnsibleFilterError, match=case["error"]):
            render(case["input"])
        return
    text = render(case["input"])
    assert text == case["expect"]
    assert render(copy.deepcopy(case["input"])) == text  # deterministic


def _single_valued(case):
    if "error" in case:
        return False
    sections = [s for s in case["input"].values() if isinstance(s, dict)]
    return not any(isinstance(v, list) for s in sections for v in s.values())


@pytest.mark.parametrize("case", [c for c in CASES["to_ini"] if _single_valued(c)], ids=lambda c: c["id"])
def test_to_ini_reads_back_with_configparser(case):
    """What we write, an INI parser reads back (single-valued keys; configparser has no lists)."""
    import configparser

    parser = configparser.RawConfigParser(default_section="__none__")
    parser.optionxform = str  # keep the keys' case: compare exactly what was written
    parser.read_string(config.to_ini(case["input"]))
    # The whole file as read back, so every case asserts something (an empty mapping reads back as
    # no section at all) and an extra section or key fails as surely as a wrong value.
    read_back = {section: dict(parser.items(section)) for section in parser.sections()}
    expected = {
        # str(True) == "True", as to_ini writes booleans; None skips a key or a whole section
        section: {key: str(value) for key, value in options.items() if value is not None}
        for section, options in case["input"].items()
        if options is not None
    }
    assert read_back == expected


@pytest.mark.parametrize("case", [c for c in CASES["to_python_settings"] if "error" not in c], ids=lambda c: c["id"])
def test_to_python_settings_runs_back_to_the_data(case):
    """What we write, Python reads back as the same names and values (Django imports the module)."""
    namespace = {}
    exec(compile(config.to_python_settings(case["input"]), "local_settings.py", "exec"), {}, namespace)
    assert namespace == case["input"]


def test_to_python_settings_takes_any_mapping_order():
    """Insertion order of names and keys does not change the text (Ansible merges build mappings in any order)."""
    one = {"B": {"y": 1, "x": [2, 1]}, "A": True}
    two = {"A": True, "B": {"x": [2, 1], "y": 1}}
    assert config.to_python_settings(one) == config.to_python_settings(two)


@pytest.mark.parametrize("case", CASES["config_merge"], ids=lambda c: c["id"])
def test_config_merge(case):
    base = copy.deepcopy(case["base"])
    overrides = copy.deepcopy(case["overrides"])
    if "error" in case:
        with pytest.raises(AnsibleFilterError, match=case["error"]):
            config.config_merge(base, *overrides)
        return
    assert config.config_merge(base, *overrides) == case["expect"]
    assert base == case["base"] and overrides == case["overrides"]  # inputs untouched


def test_merge_then_render_through_ansible(tmp_path):
    """The filters work by their FQCN in a real template, as roles use them."""
    import subprocess

    playbook = tmp_path / "play.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "localhost",
                    "gather_facts": False,
                    "vars": {
                        # templated values arrive as lazy containers that cannot be deep-copied
                        "bind": "{{ ['10.0.0.5'] | map('trim') | first }}",
                        "conf": {"DEFAULT": {"debug": False, "bind_host": "{{ bind }}"}, "cache": {"enabled": True}},
                        "overrides": {"DEFAULT": {"debug": True, "hosts": ["{{ bind }}", "b"]}, "cache": None},
                        "settings": {"ALLOWED_HOSTS": ["{{ bind }}"], "DEBUG": "{{ 1 > 2 }}",
                                     "PORT": "{{ 8000 + 80 }}"},
                    },
                    "tasks": [
                        {
                            "name": "Render",
                            "ansible.builtin.copy": {
                                "content": "{{ conf | lxstack.openstack.config_merge(overrides)"
                                " | lxstack.openstack.to_ini }}",
                                "dest": str(tmp_path / "out.ini"),
                                "mode": "0644",
                            },
                        },
                        {
                            "name": "Render Python settings",
                            "ansible.builtin.copy": {
                                "content": "{{ settings | lxstack.openstack.config_merge({'CACHES': {'default': {}}})"
                                " | lxstack.openstack.to_python_settings }}",
                                "dest": str(tmp_path / "out.py"),
                                "mode": "0644",
                            },
                        },
                    ],
                }
            ]
        )
    )
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(LOCAL_INVENTORY)
    run = subprocess.run(
        [PLAYBOOK_CLI, "-i", str(inventory), str(playbook)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        # ansible.cfg enables only the topology inventory plugin
        env=dict(os.environ, ANSIBLE_INVENTORY_ENABLED="ansible.builtin.ini"),
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    expected = "[DEFAULT]\nbind_host = 10.0.0.5\ndebug = True\nhosts = 10.0.0.5\nhosts = b\n"
    assert (tmp_path / "out.ini").read_text() == expected
    # templated values keep their native types (a bool, an int), tagged strings their plain literal
    assert (tmp_path / "out.py").read_text() == (
        "ALLOWED_HOSTS = [\n    '10.0.0.5',\n]\nCACHES = {\n    'default': {},\n}\nDEBUG = False\nPORT = 8080\n")
