# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Config rendering shared by the filters: deep merge of overrides, INI text and Python settings.

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
* ``render_python_settings(settings)``: ``{NAME: value}`` to Python assignments
  (a Django settings module such as horizon's ``local_settings.py``), one a
  name in sorted order. Values are literals: str, int, float, bool, None,
  lists and mappings of them; mapping keys are sorted too, so the same data
  always gives the same text, and executing the text gives the data back.
  Names must be Python identifiers (not keywords); mapping keys str or int.
"""

from __future__ import annotations

import keyword
import math
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


_INDENT = "    "


def _python_key(key, where):
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise ConfigRenderError("%s: a mapping key must be a str or an int, got %s" % (where, type(key).__name__))
    # ints before strs, each in its own order: mixed keys sort without comparing an int to a str
    return (1, str(key)) if isinstance(key, str) else (0, key)


def _python_value(value, where, depth):
    """The Python literal of ``value``, nested containers one item a line, indented."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, str):
        return repr(str(value))  # str(): a subclass (Ansible's tagged strings) has the same literal
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigRenderError("%s: %r has no Python literal" % (where, value))
        return repr(float(value))
    inner, outer = _INDENT * (depth + 1), _INDENT * depth
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        keys = sorted(value, key=lambda k: _python_key(k, where))
        items = ["%s%s: %s," % (inner, _python_value(key, where, depth + 1),
                                _python_value(value[key], "%s[%r]" % (where, key), depth + 1)) for key in keys]
        return "{\n%s\n%s}" % ("\n".join(items), outer)
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        items = ["%s%s," % (inner, _python_value(item, "%s[%d]" % (where, index), depth + 1))
                 for index, item in enumerate(value)]
        return "[\n%s\n%s]" % ("\n".join(items), outer)
    raise ConfigRenderError("%s: cannot write a %s as a Python literal" % (where, type(value).__name__))


def render_python_settings(settings):
    """Return the Python text of ``{NAME: value}``, one assignment a name, sorted by name."""
    if not isinstance(settings, Mapping):
        raise ConfigRenderError("to_python_settings needs a mapping of names, got %s" % type(settings).__name__)
    lines = []
    for name in sorted(settings, key=lambda n: (not isinstance(n, str), str(n))):
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise ConfigRenderError("%r is not a Python name that a setting can have" % (name,))
        lines.append("%s = %s" % (name, _python_value(settings[name], name, 0)))
    return "".join(line + "\n" for line in lines)
