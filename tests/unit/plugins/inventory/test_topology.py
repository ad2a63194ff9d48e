# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The topology inventory plugin, loaded through Ansible's own plugin loader and InventoryManager."""

import copy
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from ansible.inventory.data import InventoryData
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader

REPO = pathlib.Path(__file__).resolve().parents[4]
FIXTURES = REPO / "tests" / "unit" / "fixtures" / "topology"
ANSIBLE_INVENTORY = pathlib.Path(sys.executable).parent / "ansible-inventory"
BAD_INPUTS = yaml.safe_load((FIXTURES / "bad_inputs.yml").read_text())


def example(tmp_path, name):
    """A copy of inventory/<name>/topology.yml (without its state) in a temp directory."""
    env = tmp_path / name
    env.mkdir()
    shutil.copy(REPO / "inventory" / name / "topology.yml", env / "topology.yml")
    return env


def load(source):
    manager = InventoryManager(loader=DataLoader(), sources=[str(source)])
    assert manager.hosts, "inventory source %s was not parsed" % source
    return manager


def hostvars(manager, name):
    return manager.get_host(name).get_vars()


def members(manager, group):
    return sorted(h.name for h in manager.groups[group].get_hosts())


def addresses(manager):
    return {h: {net: (b["address"], b["mac"]) for net, b in hostvars(manager, h)["container_networks"].items()}
            for h in members(manager, "all_containers")}


def edit(path, changes):
    """Apply {dotted.path: value} to a YAML file; None deletes the key."""
    data = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        keys = dotted.split(".")
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = copy.deepcopy(value)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_aio_groups_and_vars(tmp_path):
    inv = load(example(tmp_path, "aio"))
    assert members(inv, "physical_hosts") == ["aio1"]
    assert members(inv, "infra_hosts") == ["aio1"]
    assert members(inv, "lxc_hosts") == ["aio1"]
    assert len(members(inv, "all_containers")) == 14
    assert members(inv, "aio1_containers") == members(inv, "all_containers")
    assert members(inv, "keystone") == ["aio1-keystone"]
    assert members(inv, "nova_api") == ["aio1-nova-api"]
    assert members(inv, "nova_compute") == ["aio1"]
    assert members(inv, "neutron_ovn_agent") == ["aio1"]

    host = hostvars(inv, "aio1")
    assert host["ansible_host"] == "172.29.236.11"
    assert host["ansible_connection"] == "local"
    assert host["physical_host"] == "aio1"
    assert host["host_group"] == "infra"
    assert host["management_address"] == "172.29.236.11"
    assert host["host_networks"]["storage"] == {
        "address": "172.29.244.11", "prefix": 22, "netmask": "255.255.252.0",
        "cidr": "172.29.244.0/22", "bridge": "br-storage", "interface": None}
    assert "aio1-galera" in host["lxc_host_containers"]

    glance = hostvars(inv, "aio1-glance")
    assert glance["ansible_host"] == "aio1-glance"
    assert glance["ansible_connection"] == "lxstack.openstack.lxc_attach"
    assert glance["ansible_python_interpreter"] == "/usr/bin/python3"
    assert glance["physical_host"] == "aio1"
    assert glance["physical_host_address"] == "172.29.236.11"
    assert glance["physical_host_connection"] == "local"
    assert glance["container_name"] == "aio1-glance"
    assert glance["container_service"] == "glance"
    nets = glance["container_networks"]
    assert [nets["management"]["interface"], nets["storage"]["interface"]] == ["eth1", "eth2"]
    assert glance["management_address"] == nets["management"]["address"]
    assert nets["storage"]["bridge"] == "br-storage" and nets["storage"]["prefix"] == 22
    assert list(hostvars(inv, "aio1-keystone")["container_networks"]) == ["management"]

    everyone = inv.groups["all"].get_vars()
    assert everyone["lxstack_release"] == "2026.2"
    assert everyone["lxstack_container_distro"] == "trixie"
    assert everyone["lxstack_sizing"] == "small"  # the all-in-one example's profile
    assert everyone["lxstack_internal_vip_address"] == "172.29.236.9"
    assert everyone["lxstack_networks"]["management"]["bridge"] == "br-mgmt"


def test_allocation_is_lowest_free_in_canonical_order(tmp_path):
    inv = load(example(tmp_path, "aio"))
    # galera is the first service of the catalog; horizon was the last container service before
    # ovn_central, which came later and follows it
    assert hostvars(inv, "aio1-galera")["management_address"] == "172.29.236.51"
    assert hostvars(inv, "aio1-horizon")["management_address"] == "172.29.236.63"
    macs = [b[1] for nets in addresses(inv).values() for b in nets.values()]
    assert len(set(macs)) == len(macs)
    assert all(int(m.split(":")[0], 16) & 0b11 == 0b10 for m in macs)   # local, unicast


def test_multinode_placement(tmp_path):
    inv = load(example(tmp_path, "multinode"))
    assert members(inv, "physical_hosts") == ["compute1", "compute2", "infra1", "infra2", "infra3"]
    assert members(inv, "compute_hosts") == ["compute1", "compute2"]
    assert members(inv, "lxc_hosts") == ["infra1", "infra2", "infra3"]
    assert members(inv, "galera") == ["infra1-galera", "infra2-galera", "infra3-galera"]
    assert members(inv, "repo") == ["infra1-repo"]
    assert members(inv, "nova_compute") == ["compute1", "compute2"]
    assert members(inv, "infra2_containers")[0].startswith("infra2-")
    assert hostvars(inv, "compute1")["lxc_host_containers"] == []
    assert hostvars(inv, "compute1")["host_networks"]["tunnel"]["address"] == "172.29.240.21"
    assert hostvars(inv, "compute1")["host_networks"]["tunnel"]["interface"] == "eth2"
    assert hostvars(inv, "infra1")["ansible_host"] == "172.29.236.11"
    assert "ansible_connection" not in hostvars(inv, "infra1")
    assert hostvars(inv, "infra1-glance")["physical_host_connection"] == "ssh"


def test_adding_a_compute_host_changes_no_existing_address(tmp_path):
    env = example(tmp_path, "multinode")
    before = addresses(load(env))
    edit(env / "topology.yml", {
        "host_groups.compute.hosts.compute3": {"address": "172.29.236.23"},
        "host_groups.infra.hosts.infra4": {"address": "172.29.236.14"},
        "services.designate": {"group": "infra", "count": 2},
    })
    after = addresses(load(env))
    assert {k: after[k] for k in before} == before
    assert "infra4-keystone" in after and "infra2-designate" in after
    used = [a for nets in after.values() for a, _mac in nets.values()]
    assert len(set(used)) == len(used)


def test_state_file_written_once_and_kept(tmp_path):
    env = example(tmp_path, "aio")
    load(env)
    state = env / "topology.state.yml"
    text, stat = state.read_text(), state.stat()
    load(env)
    assert state.read_text() == text
    assert (state.stat().st_mtime_ns, state.stat().st_ino) == (stat.st_mtime_ns, stat.st_ino)
    data = yaml.safe_load(text)
    assert list(data["containers"]) == sorted(data["containers"])
    assert data["containers"]["aio1-glance"]["storage"]["address"] == "172.29.244.51"
    assert not [p for p in env.iterdir() if p.name.endswith(".tmp")]


def test_state_file_entries_win_over_canonical_order(tmp_path):
    env = example(tmp_path, "aio")
    load(env)
    state = env / "topology.state.yml"
    state.write_text(state.read_text().replace('"172.29.236.51"', '"172.29.236.99"'))
    inv = load(env)
    assert hostvars(inv, "aio1-galera")["management_address"] == "172.29.236.99"


def test_removed_container_keeps_its_entry(tmp_path, capsys):
    env = example(tmp_path, "aio")
    load(env)
    edit(env / "topology.yml", {"services.horizon": {"enabled": False}})
    inv = load(env)
    assert "aio1-horizon" not in members(inv, "all_containers")
    assert "horizon" not in inv.groups
    state = yaml.safe_load((env / "topology.state.yml").read_text())
    assert state["containers"]["aio1-horizon"]["management"]["address"] == "172.29.236.63"
    assert "aio1-horizon' is no longer in the topology" in capsys.readouterr().err
    # a new service must not reuse the address held by the departed container (.64: ovn_central's)
    edit(env / "topology.yml", {"services.designate": {"group": "infra"}})
    assert hostvars(load(env), "aio1-designate")["management_address"] == "172.29.236.65"


def test_host_without_containers(tmp_path):
    env = example(tmp_path, "multinode")
    edit(env / "topology.yml", {"host_groups.infra.hosts.infra3.containers": False,
                                "services.galera": {"count": 2}, "services.rabbitmq": {"count": 2}})
    inv = load(env)
    assert members(inv, "lxc_hosts") == ["infra1", "infra2"]
    assert "infra3_containers" not in inv.groups
    assert hostvars(inv, "infra3")["lxc_host_containers"] == []


def test_verify_file(tmp_path):
    plugin = inventory_loader.get("lxstack.openstack.topology")
    env = example(tmp_path, "aio")
    other = tmp_path / "site.yml"
    other.write_text("plugin: lxstack.openstack.topology\nnetworks: {}\n")
    plain = tmp_path / "hosts.yml"
    plain.write_text("all: {hosts: {a: {}}}\n")
    assert plugin.verify_file(str(env / "topology.yml"))
    assert plugin.verify_file(str(other))
    assert not plugin.verify_file(str(plain))
    assert not plugin.verify_file(str(env / "topology.state.yml"))   # not there yet
    load(env)
    assert plugin.verify_file(str(env / "topology.state.yml"))        # claimed, parsed as nothing


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[c["id"] for c in BAD_INPUTS])
def test_bad_input(tmp_path, capsys, case):
    env = example(tmp_path, "aio")
    topology = env / "topology.yml"
    if "raw" in case:
        topology.write_text(case["raw"])
    else:
        edit(topology, case["set"])
    plugin = inventory_loader.get("lxstack.openstack.topology")
    with pytest.raises(Exception) as info:
        plugin.parse(InventoryData(), DataLoader(), str(topology))
    assert type(info.value).__name__ == "TopologyParserError"
    assert isinstance(info.value, __import__("ansible.errors").errors.AnsibleParserError)
    assert str(info.value).startswith("%s: " % topology)
    # what the user reads: the plugin's own error display, and the same lines on the exception
    shown = capsys.readouterr().err
    assert shown.startswith("[ERROR]: invalid topology"), shown
    for lines in (shown.splitlines(), info.value.details.splitlines()):
        for key_path, reason in case["errors"]:
            prefix = "%s: %s: " % (topology, key_path)
            assert any(line.strip().startswith(prefix) and reason in line for line in lines), (prefix, reason, lines)
    assert not (env / "topology.state.yml").exists()


def _cli(source, *args, **env):
    environ = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), **env)
    return subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(source), *args], cwd=REPO, env=environ,
                          capture_output=True, text=True, check=False)


def _cli_default_config(tmp_path, source, *args):
    """ansible-inventory with Ansible's defaults (every inventory plugin enabled, unparsed sources
    only warned about), as for an operator whose ansible.cfg is their own: only the collection path set."""
    cfg = tmp_path / "empty.cfg"
    cfg.write_text("")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    environ.update(ANSIBLE_CONFIG=str(cfg), ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"))
    return subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(source), *args], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, check=False)


def test_cli_list_is_byte_identical(tmp_path):
    env = example(tmp_path, "multinode")
    strict = {"ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true"}   # the state file must not trip it
    first, second = _cli(env, "--list", **strict), _cli(env, "--list", **strict)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert "infra3-nova-conductor" in json.loads(first.stdout)["nova_conductor"]["hosts"]
    graph = _cli(env, "--graph")
    assert "|--@infra1_containers:" in graph.stdout and "[WARNING]" not in graph.stderr


def test_cli_fails_and_writes_nothing_on_error(tmp_path):
    env = example(tmp_path, "aio")
    edit(env / "topology.yml", {"networks.management.cidr": "172.29.236.0/33"})
    # fatal even where Ansible would only warn about an unparsed source
    result = _cli(env, "--list", ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="false")
    assert result.returncode != 0
    assert "networks.management.cidr: '172.29.236.0/33' is not a valid CIDR" in result.stderr
    assert not (env / "topology.state.yml").exists()


def test_cli_error_comes_first_and_alone(tmp_path):
    """With the project's ansible.cfg no other inventory plugin tries the file (issue 8.3)."""
    env = example(tmp_path, "multinode")
    edit(env / "topology.yml", {"services.galera": {"count": 3, "foo": 1}})
    result = _cli(env, "--graph")
    assert result.returncode != 0
    first = result.stderr.split("\n[", 1)[0]
    assert first.startswith("[ERROR]: invalid topology (1 error):")
    assert "%s: services.galera.foo: unknown key" % (env / "topology.yml") in first
    assert result.stderr.count("services.galera.foo") == 1
    assert "yaml" not in result.stderr and "'ini'" not in result.stderr and ".ini" not in result.stderr


def test_cli_default_config_still_fails_and_shows_the_key(tmp_path):
    """Without the project's ansible.cfg (any_unparsed_is_failed off, yaml/ini enabled) (issue 12)."""
    env = example(tmp_path, "multinode")
    edit(env / "topology.yml", {"services.galera": {"count": 3, "foo": 1}})
    result = _cli_default_config(tmp_path, env, "--graph")
    assert result.returncode != 0, result.stderr
    assert result.stderr.startswith("[ERROR]: invalid topology (1 error):\n  %s: services.galera.foo: unknown key"
                                    % (env / "topology.yml")), result.stderr


@pytest.mark.parametrize("content", ["", "# nothing yet\n\n# still nothing\n", "---\n"])
def test_cli_empty_topology_fails(tmp_path, content):
    env = tmp_path / "env"
    env.mkdir()
    (env / "topology.yml").write_text(content)
    result = _cli(env, "--graph")
    assert result.returncode != 0
    assert "%s: (file): the file is empty or holds only comments" % (env / "topology.yml") in result.stderr


def test_default_config_reads_the_state_file_as_nothing(tmp_path):
    """The yaml inventory plugin (enabled by default) must not read topology.state.yml as groups."""
    env = example(tmp_path, "aio")
    first = _cli_default_config(tmp_path, env, "--list")
    assert first.returncode == 0, first.stderr
    assert (env / "topology.state.yml").exists()
    second = _cli_default_config(tmp_path, env, "--list")
    assert second.returncode == 0, second.stderr
    assert "[WARNING]" not in second.stderr, second.stderr
    assert json.loads(second.stdout) == json.loads(first.stdout)
    assert "containers" not in json.loads(second.stdout)


def _listed_hostvars(env):
    """Host vars as `ansible-inventory --list` resolves them (group and group_vars/ precedence included)."""
    result = _cli(env, "--list")
    assert result.returncode == 0, result.stderr
    # ansible-core 2.19 marks values of untrusted sources as {"__ansible_unsafe": value}
    return json.loads(result.stdout, object_hook=lambda d: d.get("__ansible_unsafe", d))["_meta"]["hostvars"]


def test_physical_hosts_use_debian_python_unless_set(tmp_path):
    """Interpreter discovery on a host may pick a pyenv shim; the operator's setting wins (issue 8.6)."""
    env = example(tmp_path, "multinode")
    edit(env / "topology.yml", {"host_groups.compute.vars": {"ansible_python_interpreter": "/opt/py/bin/python3"},
                                "host_groups.infra.hosts.infra2.vars": {"ansible_python_interpreter": "/usr/bin/py"}})
    listed = _listed_hostvars(env)
    assert listed["infra1"]["ansible_python_interpreter"] == "/usr/bin/python3"
    assert listed["infra2"]["ansible_python_interpreter"] == "/usr/bin/py"
    assert listed["compute1"]["ansible_python_interpreter"] == "/opt/py/bin/python3"
    assert listed["infra2-keystone"]["ansible_python_interpreter"] == "/usr/bin/python3"
    # an inventory group_vars/ file of the operator also takes precedence over the plugin's default
    (env / "group_vars").mkdir()
    (env / "group_vars" / "all.yml").write_text("ansible_python_interpreter: /srv/python3\n")
    listed = _listed_hostvars(env)
    assert listed["infra1"]["ansible_python_interpreter"] == "/srv/python3"
    # Ansible's order: group_vars/ files over an inventory source's group vars, under its host vars
    assert listed["compute1"]["ansible_python_interpreter"] == "/srv/python3"
    assert listed["infra2"]["ansible_python_interpreter"] == "/usr/bin/py"
    assert listed["infra1-keystone"]["ansible_python_interpreter"] == "/usr/bin/python3"


def test_documented_example_loads(tmp_path):
    text = (REPO / "docs" / "topology.md").read_text()
    example_yaml = text.split("## A complete example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "topology.yml").write_text(example_yaml)
    inv = load(tmp_path)
    assert members(inv, "designate") == ["infra1-designate", "infra2-designate"]
    assert "horizon" not in inv.groups
    assert hostvars(inv, "infra3")["ansible_host"] == "192.0.2.13"
    assert hostvars(inv, "infra3")["host_networks"]["management"]["interface"] == "ens4"
    assert hostvars(inv, "infra3")["ansible_user"] == "debian"


@pytest.mark.parametrize("old, new, key_path, reason", [
    ('"172.29.236.52"', '"172.29.236.51"', "containers.aio1-rabbitmq.management.address",
     "duplicate address 172.29.236.51, also given to aio1-galera"),
    ('"172.29.236.51"', '"172.29.236.20"', "containers.aio1-galera.management.address",
     "172.29.236.20 is no longer in the allocation range of networks.management"),
    ('"172.29.236.51"', '"not-an-ip"', "containers.aio1-galera.management.address", "is not a valid IP address"),
])
def test_bad_state_file_is_reported_and_left_alone(tmp_path, old, new, key_path, reason):
    env = example(tmp_path, "aio")
    load(env)
    state = env / "topology.state.yml"
    state.write_text(state.read_text().replace(old, new))
    text = state.read_text()
    plugin = inventory_loader.get("lxstack.openstack.topology")
    with pytest.raises(Exception) as info:
        plugin.parse(InventoryData(), DataLoader(), str(env / "topology.yml"))
    assert re.search("%s: %s: .*%s" % (re.escape(str(state)), re.escape(key_path), re.escape(reason)),
                     info.value.details)
    assert state.read_text() == text


T4 = {"alias": "t4", "type": "gpu", "id": "10de:1eb8"}


def test_passthrough_profile_exported_host_over_group(tmp_path):
    env = example(tmp_path, "multinode")
    edit(env / "topology.yml", {
        "host_groups.compute.passthrough": {"devices": [T4], "hugepages": {"size": "1G", "count": 8},
                                            "cpu": {"dedicated": "2-7", "shared": "0,1"}},
        "host_groups.compute.hosts.compute2.passthrough": {
            "devices": [{"type": "nic_pf", "interface": "ens1f0", "vfs": 4, "physnet": "sriovnet1"}],
            "hugepages": None, "iommu": "amd"},
    })
    inv = load(env)
    first = hostvars(inv, "compute1")["lxstack_passthrough"]
    assert first == {
        "devices": [{"alias": "t4", "type": "gpu", "id": "10de:1eb8", "address": None, "interface": None,
                     "vfs": None, "physnet": None, "vf_id": None, "driver_blacklist": ["nouveau"]}],
        "hugepages": {"size": "1G", "count": 8},
        "cpu": {"dedicated": "2-7", "shared": "0-1", "isolate": False, "reserved_host_memory_mb": None},
        "iommu": "auto",
    }
    second = hostvars(inv, "compute2")["lxstack_passthrough"]
    assert [d["interface"] for d in second["devices"]] == ["ens1f0"]   # the host's devices replace the group's
    assert second["hugepages"] is None                                   # null drops the group's hugepages
    assert second["cpu"] == first["cpu"] and second["iommu"] == "amd"    # the rest comes from the group
    assert "lxstack_passthrough" not in hostvars(inv, "infra1")          # only hosts with a profile
    assert inv.groups["all"].get_vars()["lxstack_passthrough_aliases"] == [
        {"name": "t4", "vendor_id": "10de", "product_id": "1eb8", "device_type": "type-PCI"}]


def test_no_passthrough_no_host_var_and_no_aliases(tmp_path):
    inv = load(example(tmp_path, "multinode"))
    assert not any("lxstack_passthrough" in hostvars(inv, h) for h in members(inv, "physical_hosts"))
    assert inv.groups["all"].get_vars()["lxstack_passthrough_aliases"] == []


def test_passthrough_alias_conflict_across_hosts_names_both(tmp_path, capsys):
    env = example(tmp_path, "multinode")
    edit(env / "topology.yml", {
        "host_groups.compute.passthrough": {"devices": [T4]},
        "host_groups.compute.hosts.compute2.passthrough": {"devices": [dict(T4, id="10de:2236")]},
    })
    plugin = inventory_loader.get("lxstack.openstack.topology")
    with pytest.raises(Exception) as info:
        plugin.parse(InventoryData(), DataLoader(), str(env / "topology.yml"))
    assert info.value.details.splitlines()[1:] == [
        "  %s: host_groups.compute.hosts.compute2.passthrough.devices[0].alias: alias 't4' is 10de:2236 (type-PCI) "
        "on host compute2 but 10de:1eb8 (type-PCI) on host compute1 (host_groups.compute.passthrough.devices[0]); "
        "one alias names one kind of device across the cloud" % (env / "topology.yml")]
    assert not (env / "topology.state.yml").exists()
