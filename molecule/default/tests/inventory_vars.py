# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory values for the testinfra tests of the scenarios (expected values come from here)."""

import os
import pathlib

import yaml
from packaging.requirements import Requirement

# The checkout: the roles whose defaults the tests read (molecule/<scenario>/tests/ -> ../../..)
_ROOT = pathlib.Path(__file__).resolve().parents[3]


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


def role_defaults(role):
    """A role's defaults/main.yml as data (its templated values unrendered)."""
    return yaml.safe_load((_ROOT / "roles" / role / "defaults" / "main.yml").read_text())


def setting(host, name, role, key):
    """``key`` as the roles of inventory host ``name`` see it: the inventory's value, else ``role``'s default
    (only for values that are plain data in both)."""
    variables = host_vars(host, name)
    return variables[key] if key in variables else role_defaults(role)[key]


def release_packages(host, name, service):
    """The requirement strings of venv ``service`` that the roles install for the release of inventory
    host ``name``: the inventory's service_common_release_packages when it sets one, else the venv's
    packages in the service catalogue (lxstack_venvs, which that manifest derives from by default)."""
    variables = host_vars(host, name)
    release = str(variables["lxstack_release"])
    if "service_common_release_packages" in variables:
        return variables["service_common_release_packages"][release][service]
    return setting(host, name, "service_catalog", "lxstack_venvs")[service]["packages"][release]


def pinned_version(requirements, project):
    """The version ``project`` is pinned to (``==``) in a list of requirement strings."""
    for text in requirements:
        req = Requirement(text)
        if req.name.lower() == project.lower():
            pins = [spec.version for spec in req.specifier if spec.operator in ("==", "===")]
            assert len(pins) == 1, "%r does not pin one version" % text
            return pins[0]
    raise AssertionError("%s is not in the requirements %s" % (project, requirements))


def endpoint_urls(host, name, role, port_key, path=""):
    """The public, internal and admin URLs of ``role``'s service as an operator reads them off the topology
    (written here on their own, not through the roles' filter, so the test checks the rule): internal and
    admin on the internal VIP with haproxy_tls_internal's scheme; public on the external VIP with
    haproxy_tls_enabled's, or the internal one when the topology has no external VIP; ``path`` follows the
    port (nova's /v2.1)."""
    variables = host_vars(host, name)
    port = setting(host, name, role, port_key)
    internal = "%s://%s:%s" % ("https" if setting(host, name, "haproxy", "haproxy_tls_internal") else "http",
                               variables["lxstack_internal_vip_address"], port)
    public = internal if not variables.get("lxstack_external_vip_address") else "%s://%s:%s" % (
        "https" if setting(host, name, "haproxy", "haproxy_tls_enabled") else "http",
        variables["lxstack_external_vip_address"], port)
    return {"public": public + path, "internal": internal + path, "admin": internal + path}
