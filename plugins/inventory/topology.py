# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: topology
short_description: Physical hosts, service containers, groups and stable addresses from a topology file
version_added: 0.1.0
description:
  - Reads a C(topology.yml) (networks, host groups, service placement, release, settings) and yields the
    inventory described in C(docs/architecture.md) of the lxstack.openstack collection.
  - One service container per service per host, named C(<host>-<service>) with C(_) replaced by C(-).
  - Every container attachment gets a static address (lowest free address of the network, minus the
    C(reserved) ranges) and a stable locally administered MAC. Allocations persist in
    C(topology.state.yml) beside the topology, written atomically and only when something changed.
    Existing allocations are never changed or removed; delete an entry by hand to free its addresses.
  - The whole file is validated before anything is written; every problem is reported with the file,
    the key path and the reason. An empty file (or one holding only comments) is an error.
  - A topology with errors stops the run whatever the C(ansible.cfg) says. The plugin prints its errors
    itself, first, and sets C(any_unparsed_is_failed) for the run, since Ansible otherwise only warns
    about a source that failed to parse and goes on with an empty inventory.
  - Physical hosts get C(ansible_python_interpreter=/usr/bin/python3) (Debian's, where python3-lxc lives)
    as a variable of the group C(physical_hosts), so interpreter discovery never picks another
    C(python3) first on a PATH; the topology's host group or host C(vars) and C(group_vars/) or
    C(host_vars/) files take precedence over it. Service containers always use C(/usr/bin/python3).
  - A host group or host may carry a passthrough profile (PCI devices, SR-IOV NICs, hugepages, CPU sets); the
    host's keys replace its group's one by one. Each host with a profile gets the validated profile as
    C(lxstack_passthrough), and group C(all) the nova PCI aliases of all of them as C(lxstack_passthrough_aliases).
  - Accepts files named C(topology.yml) or C(topology.yaml), or any YAML file whose top-level
    C(plugin) key is C(lxstack.openstack.topology). Use the environment directory (for example
    C(-i inventory/aio)) or the file itself as the inventory source.
  - The state file beside a topology is claimed by this plugin and ignored, so that no other inventory
    plugin parses it when the directory is the source. Its C(plugin) key lets Ansible's C(auto) inventory
    plugin hand it to this plugin where the C(yaml) inventory plugin is enabled too.
  - The file format is described in C(docs/topology.md) of the collection.
requirements:
  - netaddr
options:
  plugin:
    description:
      - Marks the file as a topology. Required, so that when the topology has an error Ansible's
        C(ansible.builtin.yaml) inventory plugin refuses the file instead of misreading it.
    type: str
    required: true
    choices: [lxstack.openstack.topology]
notes:
  - Running any inventory command (C(ansible-inventory), C(ansible-playbook)) allocates addresses for
    new containers and updates the state file.
"""

EXAMPLES = r"""
# inventory/aio/topology.yml, used as: ansible-inventory -i inventory/aio --graph
plugin: lxstack.openstack.topology
release: "2026.2"
settings:
  container_distro: trixie
networks:
  management:
    cidr: 172.29.236.0/22
    bridge: br-mgmt
    reserved: ["172.29.236.1-172.29.236.50"]
    internal_vip: 172.29.236.9
    groups: [all_containers]
host_groups:
  infra:
    hosts:
      aio1: {address: 172.29.236.100, connection: local}
services:
  nova_compute: {group: infra}
  neutron_ovn_agent: {group: infra}
"""

RETURN = r"""
# Inventory plugins return no data; the inventory they build is described in docs/architecture.md:
# groups physical_hosts, <group>_hosts, lxc_hosts, all_containers, <host>_containers and one group
# per service; host vars management_address, host_networks, container_networks, ...
"""

import os
import re

from ansible import constants as C
from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin
from ansible_collections.lxstack.openstack.plugins.module_utils import topology as topo_lib

TOPOLOGY_NAMES = ("topology.yml", "topology.yaml")
PLUGIN_MARKER = re.compile(r"^plugin:\s*['\"]?lxstack\.openstack\.topology['\"]?\s*(#.*)?$", re.MULTILINE)


class TopologyParserError(AnsibleParserError):
    """A topology file failed validation or its state file could not be written.

    ``details`` holds the full message (one ``file: key.path: reason`` line per problem), which the
    plugin has already displayed; the exception text itself only points to it, so Ansible's warning
    about the failed source does not repeat it.
    """

    def __init__(self, message, details):
        super().__init__(message)
        self.details = details


class InventoryModule(BaseInventoryPlugin):

    NAME = "lxstack.openstack.topology"

    @staticmethod
    def _is_topology(path):
        if os.path.basename(path) in TOPOLOGY_NAMES:
            return True
        if not path.endswith((".yml", ".yaml")) or ".state." in os.path.basename(path):
            return False
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                head = handle.read(4096)
        except OSError:
            return False
        return bool(PLUGIN_MARKER.search(head))

    def _topology_of_state(self, path):
        """The topology file a state file belongs to, or None."""
        match = re.match(r"^(.*)\.state(\.ya?ml)$", path)
        if not match:
            return None
        for ext in (".yml", ".yaml"):
            candidate = match.group(1) + ext
            if os.path.isfile(candidate) and self._is_topology(candidate) and \
                    topo_lib.state_path_for(candidate) == path:
                return candidate
        return None

    def verify_file(self, path):
        if not super().verify_file(path):
            return False
        return self._is_topology(path) or self._topology_of_state(path) is not None

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        if self._topology_of_state(path):
            self.display.vvv("%s is the state file of %s; nothing to parse" % (path, self._topology_of_state(path)))
            return
        try:
            topology = topo_lib.load(path)
            for warning in topology.warnings:
                self.display.warning(warning)
            if topo_lib.write_state(topology):
                self.display.vv("updated %s" % topology.state_path)
        except topo_lib.TopologyError as exc:
            raise self._fatal(path, str(exc)) from None
        except OSError as exc:
            raise self._fatal(path, "%s: cannot write the state file: %s" % (path, exc)) from None
        self._populate(topology)

    def _fatal(self, path, message):
        """The error that stops the run on a bad topology, whatever the ansible.cfg says.

        Ansible shows a failed source only as a warning, after the attempts of every other enabled
        inventory plugin (the yaml and ini plugins fail on the same file with unrelated messages), and
        goes on with an empty inventory and exit 0 unless any_unparsed_is_failed is set. So the
        topology's own message is printed here, first, and the setting is forced for this run.
        """
        self.display.error(message)
        C.INVENTORY_ANY_UNPARSED_IS_FAILED = True
        return TopologyParserError("%s: not a valid topology, see the error above" % path, message)

    def _populate(self, topology):
        inv = self.inventory
        for key, value in topology.all_vars().items():
            inv.set_variable("all", key, value)
        for group in ("physical_hosts", "lxc_hosts", topo_lib.ALL_CONTAINERS):
            inv.add_group(group)
        # A group variable, not a host variable: the topology's vars, group_vars/ and host_vars/ files
        # of the operator all take precedence over it.
        inv.set_variable("physical_hosts", "ansible_python_interpreter", topo_lib.SYSTEM_PYTHON)
        for gname, group in topology.host_groups.items():
            hosts_group = inv.add_group(gname + "_hosts")
            inv.add_child("physical_hosts", hosts_group)
            for key, value in group["vars"].items():
                inv.set_variable(hosts_group, key, value)
        for service in topology.services:
            inv.add_group(service)

        by_host = {}
        for cname, container in topology.containers.items():
            by_host.setdefault(container["host"], []).append(cname)

        for hname, host in topology.hosts.items():
            inv.add_host(hname, group=host["group"] + "_hosts")
            host_vars = {
                "ansible_host": host["ssh_address"],
                "physical_host": hname,
                "host_group": host["group"],
                "host_networks": topo_lib.host_networks(topology, host),
                "management_address": host["address"],
                "lxc_host_containers": by_host.get(hname, []),
            }
            if host["connection"] == "local":
                host_vars["ansible_connection"] = "local"
            if host["passthrough"] is not None:
                host_vars["lxstack_passthrough"] = host["passthrough"]
            host_vars.update(host["vars"])
            for key, value in host_vars.items():
                inv.set_variable(hname, key, value)
            if hname in by_host:
                inv.add_child("lxc_hosts", hname)
                containers_group = inv.add_group(topo_lib.group_name(hname) + "_containers")
                inv.add_child(topo_lib.ALL_CONTAINERS, containers_group)

        for service, members in topology.service_members.items():
            if not topology.services[service]["container"]:
                for hname in members:
                    inv.add_child(service, hname)

        for cname, container in topology.containers.items():
            host = topology.hosts[container["host"]]
            networks = topo_lib.container_networks(topology, cname)
            inv.add_host(cname, group=topo_lib.group_name(host["name"]) + "_containers")
            inv.add_child(container["service"], cname)
            container_vars = {
                "ansible_host": cname,
                "ansible_connection": "lxstack.openstack.lxc_attach",
                "ansible_python_interpreter": topo_lib.SYSTEM_PYTHON,
                "physical_host": host["name"],
                "physical_host_address": host["ssh_address"],
                "physical_host_connection": host["connection"],
                "container_name": cname,
                "container_service": container["service"],
                "container_networks": networks,
                "management_address": networks[topo_lib.MANAGEMENT]["address"],
            }
            for key, value in container_vars.items():
                inv.set_variable(cname, key, value)
