# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Playbooks and scenarios call roles through their documented entry points only: every role they use
(roles:, include_role, import_role) with its tasks_from is an entry point of the role's
meta/argument_specs.yml, and no role-private variable (_<role>_...) of a role appears in them."""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
COLLECTION = "lxstack.openstack."
ROLES = sorted(p.name for p in (REPO / "roles").iterdir() if (p / "tasks").is_dir() or (p / "defaults").is_dir())
CALLERS = sorted([*(REPO / "playbooks").glob("*.yml"), *(REPO / "molecule").rglob("*.yml")])
# tasks_from given by a variable: the values the caller allows (it asserts them before the include)
TEMPLATED = {("playbooks/haproxy_drain.yml", "{{ haproxy_drain_action }}"): ("drain", "enable")}
INCLUDES = ("include_role", "import_role")


def entry_points(role):
    specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return set(specs["argument_specs"])


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def role_calls(path):
    """(role, entry point or a templated value) of every role use in a playbook or task file."""
    data = yaml.safe_load(path.read_text())
    for node in _walk(data):
        for key, value in node.items():
            if key.split(".")[-1] in INCLUDES and isinstance(value, dict):
                yield value["name"], value.get("tasks_from", "main")
            if key == "roles" and isinstance(value, list):
                for role in value:
                    yield (role["role"] if isinstance(role, dict) else role), "main"


def _relative(path):
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("path", CALLERS, ids=_relative)
def test_roles_are_called_through_documented_entry_points(path):
    for name, entry in role_calls(path):
        if not name.startswith(COLLECTION):
            continue  # the scenarios' own harness roles (tests/simhosts)
        role = name[len(COLLECTION):]
        allowed = TEMPLATED.get((_relative(path), entry), (entry,))
        for value in allowed:
            assert value in entry_points(role), (
                "%s calls %s with tasks_from %r, not an entry point of roles/%s/meta/argument_specs.yml (%s)"
                % (_relative(path), name, value, role, ", ".join(sorted(entry_points(role)))))


def _private_names(role):
    pattern = re.compile(r"\b_%s_\w+" % role)
    return {name for f in (REPO / "roles" / role).rglob("*") if f.is_file()
            for name in pattern.findall(f.read_text(errors="replace"))}


PRIVATE = {role: _private_names(role) for role in ROLES}


@pytest.mark.parametrize("path", CALLERS, ids=_relative)
def test_no_role_private_variable_is_used(path):
    text = path.read_text()
    used = sorted(name for names in PRIVATE.values() for name in names if re.search(r"\b%s\b" % name, text))
    assert not used, "%s uses the role-private variables %s" % (_relative(path), ", ".join(used))


def test_the_checks_see_the_calls():
    """The walk finds the calls it must judge (a playbook that calls a role through tasks_from)."""
    assert ("lxstack.openstack.lxc_host", "validate") in set(role_calls(REPO / "playbooks" / "prechecks.yml"))
    assert ("lxstack.openstack.lxc_host", "prune_bases") in set(role_calls(REPO / "playbooks" / "destroy.yml"))
    assert "_lxc_host_base_name" in PRIVATE["lxc_host"]
