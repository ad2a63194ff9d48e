# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The worker counts the service roles derive from their container's limits and CPUs
(lxstack.openstack.worker_count over service_common_container_limits and service_common_cpus_online),
rendered as each role validates them at its start: the counts of the catalogue's limits on 2 CPUs are
the fixed ones the roles had before, the `small` sizing profile runs one worker of everything, and every
rendered default fits the role's argument spec."""

from __future__ import annotations

import pathlib

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

REPO = pathlib.Path(__file__).resolve().parents[2]

# (role, container service) -> the counts it rendered before they derived from the limits (2 CPUs)
BEFORE = {
    ("keystone", "keystone"): {"keystone_uwsgi_processes": 2},
    ("glance", "glance"): {"glance_uwsgi_processes": 2},
    ("placement", "placement"): {"placement_uwsgi_processes": 2},
    ("horizon", "horizon"): {"horizon_uwsgi_processes": 2},
    ("neutron", "neutron_server"): {"neutron_api_uwsgi_processes": 2},
    ("nova", "nova_api"): {"nova_api_uwsgi_processes": 2, "nova_metadata_uwsgi_processes": 1},
    ("nova", "nova_conductor"): {"nova_conductor_workers": 2},
    ("nova", "nova_scheduler"): {"nova_scheduler_workers": 1},
}


def _templar(role, service, cpus=2, **inventory):
    loader = DataLoader()
    scope = {}
    for path in (REPO / "roles" / "service_catalog" / "defaults" / "main.yml",
                 REPO / "roles" / "service_common" / "defaults" / "main.yml",
                 REPO / "roles" / role / "defaults" / "main.yml"):
        scope.update(loader.load_from_file(str(path), trusted_as_template=True))
    # the inventory plugin's container_service, and what service_common's main task registered
    scope.update({"container_service": service, "_service_common_nproc": {"stdout": "%d\n" % cpus}})
    scope.update(inventory)
    return Templar(loader=loader, variables=scope)


def _counts(role, service, **kwargs):
    templar = _templar(role, service, **kwargs)
    return {name: templar.template(trust_as_template("{{ %s }}" % name)) for name in BEFORE[role, service]}


@pytest.mark.parametrize("role, service", list(BEFORE), ids=lambda v: v if isinstance(v, str) else None)
def test_two_cpus_and_the_catalogue_limits_give_the_counts_of_before(role, service):
    assert _counts(role, service) == BEFORE[role, service]


@pytest.mark.parametrize("role, service", list(BEFORE), ids=lambda v: v if isinstance(v, str) else None)
def test_the_small_profile_runs_one_worker_of_everything(role, service):
    counts = _counts(role, service, cpus=16, lxstack_sizing="small")
    assert set(counts.values()) == {1}


# the counts of docs/services.md's table on 16 CPUs, with the catalogue's limits
SIXTEEN = {
    ("keystone", "keystone"): {"keystone_uwsgi_processes": 3},
    ("glance", "glance"): {"glance_uwsgi_processes": 3},
    ("placement", "placement"): {"placement_uwsgi_processes": 3},
    ("horizon", "horizon"): {"horizon_uwsgi_processes": 5},
    ("neutron", "neutron_server"): {"neutron_api_uwsgi_processes": 3},
    ("nova", "nova_api"): {"nova_api_uwsgi_processes": 3, "nova_metadata_uwsgi_processes": 1},
    ("nova", "nova_conductor"): {"nova_conductor_workers": 2},
    ("nova", "nova_scheduler"): {"nova_scheduler_workers": 1},
}


@pytest.mark.parametrize("role, service", list(SIXTEEN), ids=lambda v: v if isinstance(v, str) else None)
def test_sixteen_cpus_as_documented(role, service):
    assert _counts(role, service, cpus=16) == SIXTEEN[role, service]


def test_more_cpus_meet_the_memory_limits():
    """On 16 CPUs the catalogue's memory limits bound the counts; a larger limit gives more, up to the maximum."""
    assert _counts("keystone", "keystone", cpus=16) == {"keystone_uwsgi_processes": 3}
    assert _counts("nova", "nova_scheduler", cpus=16) == {"nova_scheduler_workers": 1}
    assert _counts("nova", "nova_api", cpus=16) == {"nova_api_uwsgi_processes": 3, "nova_metadata_uwsgi_processes": 1}
    assert _counts("keystone", "keystone", cpus=16, lxc_container_limits={"memory_mb": 8192}) == {
        "keystone_uwsgi_processes": 8}
    assert _counts("keystone", "keystone", cpus=16, lxc_container_limits={"memory_mb": 8192, "cpus": 2.5}) == {
        "keystone_uwsgi_processes": 3}


def test_an_operator_value_wins():
    assert _counts("glance", "glance", glance_uwsgi_processes=6) == {"glance_uwsgi_processes": 6}


@pytest.mark.parametrize("role, service", sorted(set(BEFORE)), ids=lambda v: v if isinstance(v, str) else None)
def test_the_sizing_defaults_fit_the_argument_spec(role, service):
    spec = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
    # each count is documented by the entry point that uses it (main, or e.g. neutron's metadata_agent)
    options = {}
    for entry in spec["argument_specs"].values():
        options.update(entry.get("options", {}))
    defaults = yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())
    names = [n for n in defaults if n.endswith(("_worker_mb", "_workers_max", "_processes", "_workers"))
             or n == "nova_novncproxy_mb"]
    templar = _templar(role, service)
    values = {name: templar.template(trust_as_template("{{ %s }}" % name)) for name in names}
    assert set(names) <= set(options)
    result = ArgumentSpecValidator({name: options[name] for name in names}).validate(values)
    assert not result.error_messages
    for name in names:
        if "default" in options[name]:
            assert values[name] == options[name]["default"], name


def test_service_common_reads_the_cpus_once_as_a_read():
    """The main task: a meta dependency of every service role, so it runs before their argument validation."""
    tasks = yaml.safe_load((REPO / "roles" / "service_common" / "tasks" / "main.yml").read_text())
    assert len(tasks) == 1
    task = tasks[0]
    assert task["ansible.builtin.command"] == "nproc" and task["register"] == "_service_common_nproc"
    assert task["changed_when"] is False and task["check_mode"] is False and task["tags"] == ["always"]
    for role in {role for role, _service in BEFORE}:
        meta = yaml.safe_load((REPO / "roles" / role / "meta" / "main.yml").read_text())
        assert {"role": "lxstack.openstack.service_common"} in meta["dependencies"], role


def test_service_common_sizing_spec():
    spec = yaml.safe_load((REPO / "roles" / "service_common" / "meta" / "argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    templar = _templar("keystone", "keystone", lxstack_sizing="small")
    # validated before the main task runs: no option may need what it registers
    assert "service_common_cpus_online" not in options
    values = {name: Templar(variables={k: v for k, v in templar.available_variables.items()
                                       if k != "_service_common_nproc"}).template(trust_as_template("{{ %s }}" % name))
              for name in options}
    assert values["service_common_workers_max"] == 1
    assert not ArgumentSpecValidator(options).validate(values).error_messages
    bad = dict(values, service_common_sizing="large")
    assert ArgumentSpecValidator(options).validate(bad).error_messages
