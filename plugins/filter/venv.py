# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that name a service venv's requirement set: venv_constraints and venv_requirements_hash.

The repo role (which builds and publishes a venv archive named by the hash) and service_common's venv
entry point (which looks the archive up by the hash, and writes it as the venv's marker) must compute
the same text and the same hash; both call these filters. Their documentation lives beside this file
in venv_constraints.yml and venv_requirements_hash.yml.
"""

from __future__ import annotations

import hashlib

from ansible.errors import AnsibleFilterError


def _strings(value, what, name):
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise AnsibleFilterError("%s: %s must be a list of strings, got %r" % (name, what, value))
    return list(value)


def venv_constraints(text, drop=None):
    """The constraints text a venv is built with: one constraint a line, ending with a newline, without
    the pins (``name===version``, name compared case-insensitively) of the distributions in ``drop``."""
    if not isinstance(text, str):
        raise AnsibleFilterError("venv_constraints: the constraints must be text, got %s" % type(text).__name__)
    prefixes = tuple(name.lower() + "===" for name in _strings(drop or [], "drop", "venv_constraints"))
    lines = [line for line in text.splitlines() if not (prefixes and line.lower().startswith(prefixes))]
    return "\n".join(lines) + "\n"


def venv_requirements_hash(packages, constraints, drop=None):
    """sha256 (hex) of ``<packages, one a line>\\n--\\n<venv_constraints(constraints, drop)>``."""
    packages = _strings(packages, "the packages", "venv_requirements_hash")
    if not isinstance(constraints, str):
        raise AnsibleFilterError("venv_requirements_hash: the constraints must be text, got %s"
                                 % type(constraints).__name__)
    text = "\n".join(packages) + "\n--\n" + venv_constraints(constraints, drop)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class FilterModule:
    """lxstack.openstack venv filters."""

    def filters(self):
        return {"venv_constraints": venv_constraints, "venv_requirements_hash": venv_requirements_hash}
