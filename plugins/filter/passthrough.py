# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The passthrough filters: every setting of a compute host's passthrough profile, and the PCI aliases
of many hosts.

The rules live in module_utils/passthrough.py, which the topology inventory plugin validates profiles
with and the passthrough_check module checks hosts with. Documentation: passthrough_settings.yml and
passthrough_aliases.yml beside this file.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.lxstack.openstack.plugins.module_utils import passthrough as pt


def _message(name, exc):
    return "%s: %s" % (name, "; ".join("%s: %s" % error for error in exc.errors))


def _plain(value):
    """Template results and host vars as plain dicts and lists (the module_utils code checks types)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def passthrough_settings(profile, facts=None, release=None, host=None):
    """The settings of a host's passthrough profile (module_utils.passthrough.derive)."""
    if not isinstance(profile, Mapping):
        raise AnsibleFilterError("passthrough_settings: the profile must be a mapping (lxstack_passthrough), got %s"
                                 % type(profile).__name__)
    if facts is not None and not isinstance(facts, Mapping):
        raise AnsibleFilterError("passthrough_settings: facts must be a mapping (ansible_facts), got %s"
                                 % type(facts).__name__)
    try:
        return pt.derive(_plain(profile), _plain(facts), host=host, release=release)
    except pt.PassthroughError as exc:
        raise AnsibleFilterError(_message("passthrough_settings", exc)) from None


def passthrough_aliases(profiles, as_json=False):
    """The [pci] alias entries of many hosts' profiles, once each (module_utils.passthrough.alias_union)."""
    if not isinstance(profiles, Mapping):
        raise AnsibleFilterError("passthrough_aliases: expected a mapping of host name to profile, got %s"
                                 % type(profiles).__name__)
    normal, sources = {}, {}
    try:
        for host, profile in profiles.items():
            sources[host] = "%s.lxstack_passthrough" % host
            normal[host] = pt.validate(_plain(profile), sources[host]) if profile else None
        entries = pt.alias_union(normal, sources)
    except pt.PassthroughError as exc:
        raise AnsibleFilterError(_message("passthrough_aliases", exc)) from None
    return [pt.to_json(entry) for entry in entries] if as_json else entries


class FilterModule:
    """lxstack.openstack passthrough filters."""

    def filters(self):
        return {"passthrough_settings": passthrough_settings, "passthrough_aliases": passthrough_aliases}
