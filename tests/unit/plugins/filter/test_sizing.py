# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""worker_count: the one rule for the worker counts of the services (cases in test_sizing.yaml), also as
Ansible calls it from a template."""

from __future__ import annotations

import pathlib
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "collections"))

from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible.template import Templar, trust_as_template  # noqa: E402
from ansible_collections.lxstack.openstack.plugins.filter import sizing  # noqa: E402

CASES = yaml.safe_load(pathlib.Path(__file__).with_suffix(".yaml").read_text())


@pytest.mark.parametrize("case", CASES["counts"], ids=lambda c: c["id"])
def test_counts(case):
    got = sizing.worker_count(*case["args"], **case.get("kwargs", {}))
    assert got == case["expect"] and isinstance(got, int) and not isinstance(got, bool)


@pytest.mark.parametrize("case", CASES["errors"], ids=lambda c: c["id"])
def test_bad_input_names_the_argument(case):
    with pytest.raises(AnsibleFilterError) as exc:
        sizing.worker_count(*case["args"], **case.get("kwargs", {}))
    assert str(exc.value).startswith("worker_count: ")
    assert case["error"] in str(exc.value)


def test_through_a_template():
    templar = Templar(variables={"limits": {"memory_mb": 1024, "cpus": 0}, "cpus": "2"})
    expr = trust_as_template("{{ limits | lxstack.openstack.worker_count(cpus, 200, reserve_mb=256, maximum=8) }}")
    assert templar.template(expr) == 2
