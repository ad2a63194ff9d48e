# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory values for the testinfra tests of the scenarios (expected values come from here)."""

import os
import pathlib


def plain(value):
    """Inventory values as plain data (ansible-inventory --list marks strings as unsafe)."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def host_vars(host, name):
    """The variables of inventory host ``name``."""
    return plain(host.backend.ansible_runner.get_variables(name))


def group(host, name):
    """The members of inventory group ``name``, in inventory order."""
    return list(host.backend.ansible_runner.get_hosts(name))


def inventory_dir():
    """The scenario's inventory directory (the topology, its state file and the secrets file)."""
    return pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"


def constraints_file(release):
    """The upper-constraints file the scenario installs with (group_vars/all.yml)."""
    base = os.environ.get("LXSTACK_CONSTRAINTS_DIR") or os.path.join(
        os.environ["MOLECULE_PROJECT_DIRECTORY"], "..", "shared", "openstack", "upper-constraints")
    return pathlib.Path(base) / ("%s.txt" % release)
