# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that render service configuration: config_merge, to_ini and to_python_settings.

Their documentation lives beside this file in config_merge.yml, to_ini.yml and
to_python_settings.yml (one file per filter, as ansible-doc expects for a file
holding several filters).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.lxstack.openstack.plugins.module_utils.config_render import (
    ConfigRenderError,
    deep_merge,
    render_ini,
    render_python_settings,
)


def config_merge(base, *overrides):
    """Deep-merge ``base`` with each override in turn."""
    result = base
    try:
        for override in overrides:
            result = deep_merge(result, override or {})
        return deep_merge(result, {})
    except ConfigRenderError as exc:
        raise AnsibleFilterError("config_merge: %s" % exc) from exc


def to_ini(sections):
    """Render ``{section: {key: value}}`` as INI text."""
    try:
        return render_ini(sections)
    except ConfigRenderError as exc:
        raise AnsibleFilterError("to_ini: %s" % exc) from exc


def to_python_settings(settings):
    """Render ``{NAME: value}`` as Python assignments (a Django settings module)."""
    try:
        return render_python_settings(settings)
    except ConfigRenderError as exc:
        raise AnsibleFilterError("to_python_settings: %s" % exc) from exc


class FilterModule:
    """lxstack.openstack config filters."""

    def filters(self):
        return {"config_merge": config_merge, "to_ini": to_ini, "to_python_settings": to_python_settings}
