# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Config rendering shared by the filters: deep merge of overrides and INI text.

Rules, written once here:

* ``deep_merge(base, override)``: mappings merge key by key, recursively; any
  other value in ``override`` (scalar, list) replaces the one in ``base``.
  A key whose override value is ``None`` (YAML ``~``/``null``) is removed.
  Neither input is modified.
* ``render_ini(sections)``: ``{section: {key: value}}`` to INI text. Sections
  and keys keep the order of the dict (Python dicts and YAML mappings are
  ordered), so the same data always gives the same text. ``DEFAULT`` is
  written first when present. A list value writes the key once per item
  (oslo.config's multi-valued options); booleans are ``True``/``False``
  like oslo.config writes them; a ``None`` value is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping


class ConfigRenderError(ValueError):
    """Raised on data that cannot be rendered (the filter turns it into AnsibleFilterError)."""


def _plain(value):
    """A plain copy of nested mappings and lists; leaves are shared, never deep-copied.

    Ansible hands filters lazily templated containers whose values cannot be
    deep-copied; iterating them yields the templated values.
    """
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def deep_merge(base, override):
    """Return ``base`` updated by ``override`` (see module docstring)."""
    if not isinstance(base, Mapping) or not isinstance(override, Mapping):
        raise ConfigRenderError(
            "deep_merge needs two mappings, got %s and %s" % (type(base).__name__, type(override).__name__)
        )
    result = _plain(base)
    for key, value in override.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = deep_merge(result[key], value)
        elif isinstance(value, Mapping):
            result[key] = deep_merge({}, value)
        else:
            result[key] = _plain(value)
    return result


def _ini_value(value, where):
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float, str)):
        text = str(value)
        if "\n" in text:
            raise ConfigRenderError("%s: a value may not contain a newline" % where)
        return text
    raise ConfigRenderError("%s: cannot write a %s as an INI value" % (where, type(value).__name__))


def render_ini(sections):
    """Return the INI text of ``{section: {key: value}}``."""
    if not isinstance(sections, Mapping):
        raise ConfigRenderError("to_ini needs a mapping of sections, got %s" % type(sections).__name__)
    names = list(sections)
    if "DEFAULT" in names:
        names.remove("DEFAULT")
        names.insert(0, "DEFAULT")
    blocks = []
    for name in names:
        options = sections[name]
        if options is None:
            continue
        if not isinstance(options, Mapping):
            raise ConfigRenderError("section [%s] must be a mapping, got %s" % (name, type(options).__name__))
        lines = ["[%s]" % name]
        for key, value in options.items():
            where = "[%s] %s" % (name, key)
            if value is None:
                continue
            items = value if isinstance(value, (list, tuple)) else [value]
            lines.extend("%s = %s" % (key, _ini_value(item, where)) for item in items)
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)
