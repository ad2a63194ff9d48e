# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The service catalogue (roles/service_catalog/defaults/main.yml) is the one data source of per-service
facts: the inventory plugin reads it, and the role variables that used to repeat it derive from it."""

from __future__ import annotations

import pathlib
import shutil

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible_collections.lxstack.openstack.plugins.module_utils import topology as topo_lib

REPO = pathlib.Path(__file__).resolve().parents[2]
CATALOG_FILE = REPO / "roles" / "service_catalog" / "defaults" / "main.yml"
DEFAULTS = yaml.safe_load(CATALOG_FILE.read_text())
CATALOG = DEFAULTS["lxstack_service_catalog"]
VENVS = DEFAULTS["lxstack_venvs"]


def role_defaults(role):
    return DataLoader().load_from_file(str(REPO / "roles" / role / "defaults" / "main.yml"), trusted_as_template=True)


def derived(role, name, variables=None):
    """A role default as Ansible renders it next to the catalogue's defaults (a meta dependency's)."""
    loader = DataLoader()
    scope = loader.load_from_file(str(CATALOG_FILE), trusted_as_template=True)
    scope.update(role_defaults(role))
    scope.update(variables or {})
    return Templar(loader=loader, variables=scope).template(scope[name])


# ---------------------------------------------------------------- the inventory plugin reads the role's file

def test_the_plugin_catalogue_is_the_role_catalogue():
    assert pathlib.Path(topo_lib.CATALOG_PATH).resolve() == CATALOG_FILE.resolve()
    expected = [(name, spec["host_group"], spec["container"], spec.get("enabled", True))
                for name, spec in CATALOG.items()]
    assert list(topo_lib.catalog()) == expected


def _catalog_copy(tmp_path, change):
    data = yaml.safe_load(CATALOG_FILE.read_text())
    change(data["lxstack_service_catalog"])
    path = tmp_path / "catalog.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_inventory_follows_the_catalogue_file(tmp_path, monkeypatch):
    """A service added to the catalogue file gets its containers, with no other change."""
    lxtest = {"host_group": "infra", "container": True, "log_dir": "/var/log/lxtest"}
    path = _catalog_copy(tmp_path, lambda c: c.update(lxtest=lxtest))
    monkeypatch.setattr(topo_lib, "CATALOG_PATH", str(path))
    env = tmp_path / "aio"
    env.mkdir()
    shutil.copy(REPO / "inventory" / "aio" / "topology.yml", env / "topology.yml")
    topology = topo_lib.load(str(env / "topology.yml"))
    assert topology.service_members["lxtest"] == ["aio1-lxtest"]
    enabled = [name for name, spec in CATALOG.items() if spec.get("enabled", True)]
    assert list(topology.services)[:len(enabled) + 1] == [*enabled, "lxtest"]


def _aio_with_services(tmp_path, services):
    data = yaml.safe_load((REPO / "inventory" / "aio" / "topology.yml").read_text())
    data["services"].update(services)
    env = tmp_path / "aio"
    env.mkdir(parents=True)
    (env / "topology.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    return env / "topology.yml"


def test_a_service_off_in_the_catalogue_runs_only_where_the_topology_enables_it(tmp_path):
    """neutron_ovn_gateway: no gateway hosts unless asked, then on the group the topology names."""
    assert CATALOG["neutron_ovn_gateway"]["enabled"] is False
    off = topo_lib.load(str(_aio_with_services(tmp_path / "off", {})))
    assert "neutron_ovn_gateway" not in off.service_members
    on = topo_lib.load(str(_aio_with_services(
        tmp_path / "on", {"neutron_ovn_gateway": {"enabled": True, "group": "infra"}})))
    assert on.service_members["neutron_ovn_gateway"] == ["aio1"]


def test_a_service_enabled_on_a_missing_host_group_names_the_group(tmp_path):
    path = _aio_with_services(tmp_path, {"neutron_ovn_gateway": {"enabled": True}})
    with pytest.raises(topo_lib.TopologyError) as exc:
        topo_lib.load(str(path))
    assert "services.neutron_ovn_gateway.group: unknown host group 'network'" in str(exc.value)


@pytest.mark.parametrize("change, where, reason", [
    (lambda c: c["keystone"].update(contianer=True), "lxstack_service_catalog.keystone.contianer",
     "unknown key (did you mean 'container'?)"),
    (lambda c: c["glance"].pop("host_group"), "lxstack_service_catalog.glance.host_group", "required key is missing"),
    (lambda c: c["horizon"].update(container="yes"), "lxstack_service_catalog.horizon.container",
     "expected a boolean (true/false), got str"),
    (lambda c: c.update({"Bad-Name": {"host_group": "infra", "container": True, "log_dir": "/x"}}),
     "lxstack_service_catalog.Bad-Name", "service names are lower-case identifiers"),
    (lambda c: c.clear(), "lxstack_service_catalog", "missing or not a non-empty mapping"),
], ids=["typo", "missing-host-group", "not-a-bool", "bad-name", "empty"])
def test_a_broken_catalogue_names_file_key_and_reason(tmp_path, change, where, reason):
    path = _catalog_copy(tmp_path, change)
    with pytest.raises(topo_lib.TopologyError) as exc:
        topo_lib.catalog(str(path))
    assert "%s: %s: %s" % (path, where, reason) in str(exc.value)


# ---------------------------------------------------------------- the catalogue's own shape

def test_the_catalogue_is_plain_data():
    """The inventory plugin reads it without templating."""
    assert "{{" not in CATALOG_FILE.read_text() and "{%" not in CATALOG_FILE.read_text()


def _haproxy_service_spec():
    specs = yaml.safe_load((REPO / "roles" / "haproxy" / "meta" / "argument_specs.yml").read_text())
    return specs["argument_specs"]["main"]["options"]["haproxy_services"]


@pytest.mark.parametrize("name", list(CATALOG))
def test_every_entry_has_the_documented_shape(name):
    spec = CATALOG[name]
    assert set(spec) <= set(topo_lib.CATALOG_KEYS), "unknown keys %s" % (set(spec) - set(topo_lib.CATALOG_KEYS))
    assert spec["log_dir"].startswith("/var/log/")
    limits = spec.get("limits", {})
    assert set(limits) <= {"memory_mb", "cpus"} and all(isinstance(v, (int, float)) for v in limits.values())
    for mount in spec.get("mounts", []):
        assert {"name", "path"} <= set(mount) <= {"name", "path", "shared"}
        assert "/" not in mount["name"] and mount["path"].startswith("/")
        assert mount.get("shared", False) in (True, False)
    if "venv" in spec:
        assert spec["venv"] in VENVS
    assert set(spec.get("tool_venvs", [])) <= set(VENVS)
    if spec.get("frontends"):
        # exactly what haproxy_services takes, with the service as the backend group
        frontends = [dict(fe, group=name) for fe in spec["frontends"]]
        assert all("group" not in fe for fe in spec["frontends"])
        result = ArgumentSpecValidator({"haproxy_services": _haproxy_service_spec()}).validate(
            {"haproxy_services": frontends})
        assert not result.error_messages


def test_container_data_only_where_there_is_a_container():
    for name, spec in CATALOG.items():
        if not spec["container"]:
            assert not {"limits", "mounts", "frontends"} & set(spec), name


def test_frontend_names_and_ports_are_unique():
    frontends = [fe for spec in CATALOG.values() for fe in spec.get("frontends", [])]
    assert len({fe["name"] for fe in frontends}) == len(frontends)
    # every port a frontend binds: its port, and its https port on a VIP with TLS
    ports = [port for fe in frontends for port in (fe["port"], fe.get("tls_port")) if port is not None]
    assert len(set(ports)) == len(ports)


def test_every_venv_has_packages_for_every_release():
    for venv, spec in VENVS.items():
        assert set(spec) == {"packages"}, venv
        assert sorted(spec["packages"]) == sorted(topo_lib.RELEASES), venv
        assert all(isinstance(p, str) for pkgs in spec["packages"].values() for p in pkgs)
    used = {spec["venv"] for spec in CATALOG.values() if "venv" in spec}
    assert used | {venv for spec in CATALOG.values() for venv in spec.get("tool_venvs", [])} == set(VENVS)


# ---------------------------------------------------------------- role variables derived from it

def test_container_limits_log_dirs_and_mounts_derive_from_the_catalogue():
    assert derived("lxc_container", "lxc_container_service_limits") == {
        name: spec["limits"] for name, spec in CATALOG.items() if "limits" in spec}
    assert derived("lxc_container", "lxc_container_service_log_dirs") == {
        name: spec["log_dir"] for name, spec in CATALOG.items()}
    assert derived("lxc_container", "lxc_container_service_mounts") == {
        name: spec["mounts"] for name, spec in CATALOG.items() if "mounts" in spec}


def test_haproxy_services_derive_from_the_frontends():
    """Every frontend of the catalogue, in its order, with its service as the backend group."""
    assert derived("haproxy", "haproxy_services") == [
        dict(frontend, group=name) for name, spec in CATALOG.items() for frontend in spec.get("frontends", [])]


def test_the_release_manifest_derives_from_the_venvs():
    manifest = derived("service_common", "service_common_release_packages")
    assert manifest == {release: {venv: spec["packages"][release] for venv, spec in VENVS.items()}
                        for release in topo_lib.RELEASES}


def test_an_override_of_the_catalogue_reaches_the_derived_variables():
    """Operators may override lxstack_service_catalog (whole) or each derived variable as before."""
    catalog = yaml.safe_load(CATALOG_FILE.read_text())["lxstack_service_catalog"]
    catalog["keystone"]["limits"] = {"memory_mb": 333}
    limits = derived("lxc_container", "lxc_container_service_limits", {"lxstack_service_catalog": catalog})
    assert limits["keystone"] == {"memory_mb": 333}


def test_the_roles_that_derive_from_it_depend_on_it():
    for role in ("haproxy", "lxc_container", "service_common"):
        meta = yaml.safe_load((REPO / "roles" / role / "meta" / "main.yml").read_text())
        assert {"role": "lxstack.openstack.service_catalog"} in meta["dependencies"], role


# ---------------------------------------------------------------- container limits: one rule, two readers

def _limits(variables):
    """(lxc_container's limits of the container, service_common_container_limits) for the same variables."""
    loader = DataLoader()
    lxc = loader.load_from_file(str(CATALOG_FILE), trusted_as_template=True)
    lxc.update(role_defaults("lxc_container"))
    lxc.update(loader.load_from_file(str(REPO / "roles" / "lxc_container" / "vars" / "main.yml"),
                                     trusted_as_template=True))
    lxc.update(variables)
    service = loader.load_from_file(str(CATALOG_FILE), trusted_as_template=True)
    service.update(role_defaults("service_common"))
    service.update(variables)
    return (Templar(loader=loader, variables=lxc).template(lxc["_lxc_container_limits"]),
            Templar(loader=loader, variables=service).template(service["service_common_container_limits"]))


CONTAINER_SERVICES = [name for name, spec in CATALOG.items() if spec["container"]]


@pytest.mark.parametrize("service", [*CONTAINER_SERVICES, "not_in_the_catalogue"])
def test_a_service_role_reads_the_limits_its_container_gets(service):
    """lxc_container's limits are as before (default, then the catalogue's), and a role sees the same."""
    created, seen = _limits({"container_service": service})
    assert created == seen == {"memory_mb": 1024, "cpus": 0, **CATALOG.get(service, {}).get("limits", {})}


@pytest.mark.parametrize("overrides", [
    {"lxc_container_limits": {"cpus": 1.5}},
    {"lxc_container_limits": {"memory_mb": 4096}, "lxstack_container_default_limits": {"memory_mb": 512, "cpus": 2}},
    {"lxc_container_default_limits": {"memory_mb": 2048, "cpus": 1}},
    {"lxc_container_service_limits": {"keystone": {"memory_mb": 3072}}},
    {"lxc_container_service_limits": {}},
], ids=["container", "deployment-default", "operator-default", "operator-service", "operator-no-service-limits"])
def test_operator_overrides_reach_both(overrides):
    created, seen = _limits({"container_service": "keystone", **overrides})
    assert created == seen


def test_a_host_that_is_no_container_has_no_limits():
    loader = DataLoader()
    scope = loader.load_from_file(str(CATALOG_FILE), trusted_as_template=True)
    scope.update(role_defaults("service_common"))
    assert Templar(loader=loader, variables=scope).template(scope["service_common_container_limits"]) == {}
