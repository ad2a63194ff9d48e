# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The venv requirement hash: one filter computes it, pinned here, and the repo role and service_common's
venv entry point get the same text and hash from it for the same inputs (their own task expressions,
rendered by Ansible's templar)."""

from __future__ import annotations

import hashlib
import pathlib
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "collections"))

from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.template import Templar, trust_as_template  # noqa: E402
from ansible_collections.lxstack.openstack.plugins.filter import venv  # noqa: E402

PACKAGES = ["keystone==30.0.0", "PyMySQL"]
CONSTRAINTS = "# comment\nPyMySQL===1.1.1\nhorizon===25.0.0\nsix===1.17.0\n"
# Pinned: a change of this value renames every venv archive and rebuilds every installed venv.
PINNED = "ef246e6c06c38994bba3bb61e85f275a04206238c76e892579c76415e3b17e4f"


def test_filters_registered():
    assert set(venv.FilterModule().filters()) == {"venv_constraints", "venv_requirements_hash"}


def test_a_fixed_input_gives_a_fixed_hash():
    assert venv.venv_requirements_hash(PACKAGES, CONSTRAINTS, ["Horizon"]) == PINNED


def test_the_hash_is_the_documented_text():
    """sha256 of '<requirements, one a line>\\n--\\n<constraints without the dropped pins>'."""
    text = "keystone==30.0.0\nPyMySQL\n--\n# comment\nPyMySQL===1.1.1\nsix===1.17.0\n"
    assert venv.venv_requirements_hash(PACKAGES, CONSTRAINTS, ["horizon"]) == hashlib.sha256(text.encode()).hexdigest()


def test_the_hash_is_the_one_of_the_earlier_templates():
    """Venvs and archives built before the filter keep their hash: the expression both roles had (in YAML
    double-quoted scalars, which turned each \\n into a newline before Jinja saw it)."""
    templar = Templar(loader=DataLoader(), variables={"reqs": PACKAGES, "constraints": CONSTRAINTS})
    before = templar.template(trust_as_template(
        "{{ (reqs | join('\n') ~ '\n' ~ '--\n' ~ (constraints.splitlines() | reject('search', '^(horizon)===',"
        " ignorecase=true) | join('\n') ~ '\n')) | hash('sha256') }}"))
    assert before == PINNED


@pytest.mark.parametrize("packages, constraints, drop", [
    ([*PACKAGES, "six"], CONSTRAINTS, ["horizon"]),        # one more package
    (list(reversed(PACKAGES)), CONSTRAINTS, ["horizon"]),  # install order is part of the set
    (PACKAGES, CONSTRAINTS.replace("1.17.0", "1.16.0"), ["horizon"]),
    (PACKAGES, CONSTRAINTS, []),                           # the horizon pin kept
])
def test_any_change_of_the_set_changes_the_hash(packages, constraints, drop):
    assert venv.venv_requirements_hash(packages, constraints, drop) != PINNED


def test_constraints_drop_only_the_named_pins():
    text = "Horizon===25.0.0\nhorizon-plugin===1.0\nxhorizon===2\nsix===1.17.0"
    assert venv.venv_constraints(text, ["HORIZON"]) == "horizon-plugin===1.0\nxhorizon===2\nsix===1.17.0\n"
    assert venv.venv_constraints(text) == text + "\n"
    assert venv.venv_constraints("") == "\n"


def test_prepared_constraints_give_the_same_text_and_hash():
    prepared = venv.venv_constraints(CONSTRAINTS, ["horizon"])
    assert venv.venv_constraints(prepared) == prepared
    assert venv.venv_requirements_hash(PACKAGES, prepared) == PINNED


@pytest.mark.parametrize("call, message", [
    (lambda: venv.venv_requirements_hash("keystone", CONSTRAINTS), "the packages must be a list of strings"),
    (lambda: venv.venv_requirements_hash(["keystone", 1], CONSTRAINTS), "the packages must be a list of strings"),
    (lambda: venv.venv_requirements_hash(PACKAGES, ["six===1"]), "the constraints must be text, got list"),
    (lambda: venv.venv_constraints(None), "the constraints must be text, got NoneType"),
    (lambda: venv.venv_constraints(CONSTRAINTS, "horizon"), "drop must be a list of strings"),
])
def test_bad_input_is_named(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()


# ---------------------------------------------------------------- both roles, through their own expressions

def _task_vars(path, task_name):
    for task in yaml.safe_load((ROOT / path).read_text()):
        if task["name"] == task_name:
            return task["ansible.builtin.set_fact"]
    raise AssertionError("no task %r in %s" % (task_name, path))


def _render(expression, variables):
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))


@pytest.mark.parametrize("drop", [[], ["horizon"]])
def test_repo_and_service_common_agree(tmp_path, drop):
    constraints_file = tmp_path / "upper-constraints.txt"
    constraints_file.write_text(CONSTRAINTS)

    common = {"service_common_upper_constraints": str(constraints_file), "service_common_constraints_drop": drop,
              "service_common_packages": PACKAGES, "service_common_packages_extra": []}
    common_venv = "roles/service_common/tasks/venv.yml"
    common["_service_common_constraints"] = _render(
        _task_vars(common_venv, "Compute the venv state wanted")["_service_common_constraints"], common)
    common_hash = _render(
        _task_vars(common_venv, "Derive the paths and the requirement hash")["_service_common_venv_hash"], common)

    repo = {"repo_upper_constraints": str(constraints_file), "repo_constraints_drop": drop,
            "_repo_service": {"key": "keystone", "value": PACKAGES}}
    repo["_repo_constraints_text"] = _render(
        _task_vars("roles/repo/tasks/main.yml", "Read the release's constraints")["_repo_constraints_text"], repo)
    repo_hash = _render(_task_vars("roles/repo/tasks/venv_lookup.yml",
                                   "Derive the venv archive of {{ _repo_service.key }}")["_repo_venv_hash"], repo)

    assert common["_service_common_constraints"] == repo["_repo_constraints_text"] == venv.venv_constraints(
        CONSTRAINTS, drop)
    assert common_hash == repo_hash == venv.venv_requirements_hash(PACKAGES, CONSTRAINTS, drop)
    if drop:
        assert common_hash == PINNED
