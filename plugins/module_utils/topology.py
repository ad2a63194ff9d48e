# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Topology model, validation and address allocator.

Used by the ``lxstack.openstack.topology`` inventory plugin. Nothing here
imports Ansible: ``load()`` reads a topology file (and its state file), checks
it completely, places service containers on hosts and gives every container
attachment a stable address and MAC. ``write_state()`` persists allocations.
"""

from __future__ import annotations

import bisect
import difflib
import hashlib
import os
import re
import tempfile
import traceback

from ansible_collections.lxstack.openstack.plugins.module_utils import passthrough

try:
    import netaddr
except ImportError:
    netaddr = None
    NETADDR_IMPORT_ERROR = traceback.format_exc()
else:
    NETADDR_IMPORT_ERROR = None

try:
    import yaml
except ImportError:
    yaml = None
    YAML_IMPORT_ERROR = traceback.format_exc()
else:
    YAML_IMPORT_ERROR = None

RELEASES = ("2026.1", "2026.2")
DEFAULT_RELEASE = "2026.2"
PLUGIN_NAME = "lxstack.openstack.topology"
STATE_VERSION = 1
HOSTNAME_MAX = 63
ALL_CONTAINERS = "all_containers"
MANAGEMENT = "management"
# Debian's interpreter, the one python3-lxc is built for: every physical host and container uses it
# unless the operator sets ansible_python_interpreter (interpreter discovery may pick a pyenv shim).
SYSTEM_PYTHON = "/usr/bin/python3"

# The service catalogue is the one the roles read: the defaults of roles/service_catalog, at the same
# place relative to this file in the checkout and in the installed collection. Of each service the
# inventory needs its host group and whether it runs in a container; the other keys are the roles'.
CATALOG_PATH = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
                                             "roles", "service_catalog", "defaults", "main.yml"))
CATALOG_VAR = "lxstack_service_catalog"
CATALOG_KEYS = {
    "host_group": (str, True), "container": (bool, True), "log_dir": (str, True), "limits": (dict, False),
    "mounts": (list, False), "frontends": (list, False), "venv": (str, False),
    "tool_venvs": (list, False), "enabled": (bool, False),
}

# Known settings: name -> (default, allowed values or None for any string).
KNOWN_SETTINGS = {
    "container_distro": ("trixie", ("bookworm", "trixie")),
    # where each release's upper-constraints come from: a URL or a file on the deploy host;
    # empty means the official https://releases.openstack.org/constraints/upper/<release>
    "upper_constraints": ("", None),
    # sizing profile: default derives each service's worker counts from its container's limits and CPUs;
    # small (the all-in-one) runs one worker of every service (service_common_sizing)
    "sizing": ("default", ("default", "small")),
}

# Variables the plugin sets itself; topology `vars:` may not override them.
PLUGIN_VARS = frozenset((
    "ansible_host", "ansible_connection",
    "physical_host", "physical_host_address", "physical_host_connection",
    "host_group", "host_networks", "management_address", "lxc_host_containers",
    "container_name", "container_service", "container_networks",
    "lxstack_passthrough", "lxstack_passthrough_aliases",
))

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
HOST_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
IFNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")

# Schemas: key -> (expected type(s), required).
TOP_KEYS = {
    "plugin": (str, True), "release": (str, False), "settings": (dict, False),
    "networks": (dict, True), "host_groups": (dict, True), "services": (dict, False),
}
NETWORK_KEYS = {
    "cidr": (str, True), "bridge": (str, True), "interface": (str, False),
    "reserved": (list, False), "internal_vip": (str, False), "external_vip": (str, False),
    "groups": (list, False),
}
GROUP_KEYS = {"hosts": (dict, True), "vars": (dict, False), "passthrough": (dict, False)}
HOST_KEYS = {
    "address": (str, True), "ssh_address": (str, False), "networks": (dict, False),
    "interfaces": (dict, False), "containers": (bool, False), "connection": (str, False),
    "vars": (dict, False), "passthrough": (dict, False),
}
SERVICE_KEYS = {"group": (str, False), "count": (int, False), "container": (bool, False), "enabled": (bool, False)}
STATE_KEYS = {"plugin": (str, False), "version": (int, True), "containers": (dict, True)}


class TopologyError(Exception):
    """Every problem found in a topology, one ``file: key.path: reason`` line each."""

    def __init__(self, errors):
        self.errors = list(errors)
        lines = ["%s: %s: %s" % e for e in self.errors]
        super().__init__("invalid topology (%d error%s):\n  " % (len(lines), "" if len(lines) == 1 else "s")
                         + "\n  ".join(lines))


def state_path_for(path):
    """``topology.yml`` -> ``topology.state.yml`` (same directory)."""
    root, ext = os.path.splitext(path)
    return root + ".state" + (ext or ".yml")


def container_name(host, service):
    return "%s-%s" % (host, service.replace("_", "-"))


def group_name(name):
    """Ansible group names may not contain '-': ``infra-1`` -> ``infra_1``."""
    return name.replace("-", "_")


def _did_you_mean(word, choices):
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return " (did you mean '%s'?)" % close[0] if close else ""


class _Errors:
    def __init__(self, source):
        self.source = source
        self.items = []

    def add(self, path, reason):
        self.items.append((self.source, path, reason))

    def raise_if_any(self):
        if self.items:
            raise TopologyError(self.items)


def _check_keys(data, schema, path, errs):
    """Type-check a mapping against a schema; returns False if it is not a mapping."""
    if not isinstance(data, dict):
        errs.add(path or "(top)", "expected a mapping, got %s" % type(data).__name__)
        return False
    for key, value in data.items():
        kpath = "%s.%s" % (path, key) if path else str(key)
        if key not in schema:
            errs.add(kpath, "unknown key%s; allowed: %s" % (_did_you_mean(key, schema), ", ".join(schema)))
            continue
        kind, _required = schema[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            errs.add(kpath, "expected %s, got %s" % (_TYPE_NAMES[kind], type(value).__name__))
    for key, (_kind, required) in schema.items():
        if required and key not in data:
            errs.add("%s.%s" % (path, key) if path else key, "required key is missing"
                     + (" (first line: 'plugin: %s')" % PLUGIN_NAME if key == "plugin" else ""))
    return True


_TYPE_NAMES = {str: "a string", dict: "a mapping", list: "a list", bool: "a boolean (true/false)", int: "an integer"}


def _get(data, key, kind, default=None):
    """A value that passed (or failed) _check_keys: wrong types read as the default."""
    value = data.get(key, default) if isinstance(data, dict) else default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        return default
    return value


# ---------------------------------------------------------------- YAML loading

def _make_loader():
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # pylint: disable=too-many-ancestors
        """SafeLoader that records duplicate keys instead of silently keeping the last.

        Booleans are only true/false (YAML 1.2): ``containers: no`` is an error, not a silent false.
        """

        duplicates = None

        def construct_mapping(self, node, deep=False):
            self.flatten_mapping(node)
            seen = {}
            for key_node, _value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = key_node.value
                if key in seen:
                    self.duplicates.append((key, seen[key], key_node.start_mark.line + 1))
                else:
                    seen[key] = key_node.start_mark.line + 1
            return super().construct_mapping(node, deep=deep)

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                 list("tTfF"))
    return Loader


_LOADER = None


def read_yaml(path, errs):
    """Parse a YAML file; duplicate keys and syntax errors are reported to ``errs``."""
    try:
        with open(path, "rb") as handle:
            text = handle.read()
    except OSError as exc:
        errs.add("(file)", "cannot read: %s" % exc.strerror)
        return None
    global _LOADER  # pylint: disable=global-statement
    if _LOADER is None:
        _LOADER = _make_loader()
    loader = _LOADER(text)
    loader.duplicates = []
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        errs.add("(file)", "not valid YAML: %s" % str(exc).replace("\n", " "))
        return None
    finally:
        loader.dispose()
    for key, first, line in loader.duplicates:
        errs.add("line %d" % line, "duplicate key '%s' (first defined at line %d)" % (key, first))
    return data


_CATALOGS = {}


def catalog(path=None):
    """The service catalogue in canonical order: ``((service, host group, in a container), ...)``.

    Read once per path from the service_catalog role's defaults (``CATALOG_PATH`` unless ``path``
    is given); a broken file raises TopologyError naming that file, the key and the reason.
    """
    path = path or CATALOG_PATH
    if path not in _CATALOGS:
        if yaml is None:
            raise TopologyError([(path, "(python)", "the PyYAML Python library is required")])
        errs = _Errors(path)
        data = read_yaml(path, errs)
        errs.raise_if_any()
        entries = data.get(CATALOG_VAR) if isinstance(data, dict) else None
        if not isinstance(entries, dict) or not entries:
            errs.add(CATALOG_VAR, "missing or not a non-empty mapping of service name to its facts")
            errs.raise_if_any()
        out = []
        for name, spec in entries.items():
            kpath = "%s.%s" % (CATALOG_VAR, name)
            if not isinstance(name, str) or not NAME_RE.match(name):
                errs.add(kpath, "service names are lower-case identifiers (a-z, 0-9, _)")
            elif _check_keys(spec, CATALOG_KEYS, kpath, errs):
                out.append((name, _get(spec, "host_group", str), _get(spec, "container", bool),
                            _get(spec, "enabled", bool, True)))
        errs.raise_if_any()
        _CATALOGS[path] = tuple(out)
    return _CATALOGS[path]


# ---------------------------------------------------------------- address pools

def _parse_ip(value, errs, path):
    try:
        if not isinstance(value, str) or "/" in value:
            raise ValueError
        return netaddr.IPAddress(value)
    except (ValueError, netaddr.AddrFormatError):
        errs.add(path, "'%s' is not a valid IP address" % (value,))
        return None


def _parse_range(value, errs, path):
    """``a-b``, ``a`` or ``net/prefix`` -> (first_int, last_int, version) or None."""
    try:
        if not isinstance(value, str):
            raise ValueError
        if "-" in value:
            first, last = (netaddr.IPAddress(part.strip()) for part in value.split("-", 1))
        elif "/" in value:
            net = netaddr.IPNetwork(value)
            first, last = net[0], net[-1]
        else:
            first = last = netaddr.IPAddress(value.strip())
    except (ValueError, netaddr.AddrFormatError):
        errs.add(path, "'%s' is not an address, an address range 'a-b' or a CIDR" % (value,))
        return None
    if first.version != last.version or first > last:
        errs.add(path, "'%s' is not an ascending address range" % value)
        return None
    return int(first), int(last), first.version


def _merge(ranges):
    merged = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return [tuple(r) for r in merged]


class Pool:
    """The addresses of one network that containers may get.

    ``usable`` is ``(first, last)`` as integers, ``reserved`` a list of integer
    ``(first, last)`` ranges, ``used`` integers already allocated. Allocation
    hands out the lowest free address; a cursor only moves forward, so a run of
    N allocations costs O(N + len(used)).
    """

    def __init__(self, usable, reserved, used=()):
        self.reserved = _merge(r for r in reserved)
        free = []
        cursor = usable[0]
        for first, last in self.reserved:
            if last < cursor or first > usable[1]:
                continue
            if first > cursor:
                free.append((cursor, first - 1))
            cursor = max(cursor, last + 1)
        if cursor <= usable[1]:
            free.append((cursor, usable[1]))
        self.free = free
        self._starts = [f[0] for f in free]
        self.used = set(used)
        self.size = sum(last - first + 1 for first, last in free)
        self._index = 0
        self._next = free[0][0] if free else None

    def contains(self, value):
        """True if ``value`` is in the allocation range (usable and not reserved)."""
        pos = bisect.bisect_right(self._starts, value) - 1
        return pos >= 0 and value <= self.free[pos][1]

    @property
    def available(self):
        return self.size - sum(1 for u in self.used if self.contains(u))

    def allocate(self):
        while self._index < len(self.free):
            first, last = self.free[self._index]
            value = max(self._next, first)
            while value <= last:
                if value not in self.used:
                    self.used.add(value)
                    self._next = value + 1
                    return value
                value += 1
            self._index += 1
            if self._index < len(self.free):
                self._next = self.free[self._index][0]
        raise ValueError("pool exhausted")


def stable_mac(container, network, taken):
    """A locally administered unicast MAC derived from container and network."""
    attempt = 0
    while True:
        seed = "%s/%s" % (container, network) if attempt == 0 else "%s/%s/%d" % (container, network, attempt)
        digest = hashlib.sha256(seed.encode("utf-8")).digest()
        mac = "02:" + ":".join("%02x" % b for b in digest[:5])
        if mac not in taken:
            taken.add(mac)
            return mac
        attempt += 1


# ---------------------------------------------------------------- the model

class Network:
    def __init__(self, name, cidr, bridge, interface, groups, pool, vips):
        self.name = name
        self.cidr = cidr
        self.bridge = bridge
        self.interface = interface
        self.groups = groups
        self.pool = pool
        self.vips = vips

    def describe(self, address):
        """The ``{address, prefix, netmask, cidr, bridge}`` block of the inventory contract."""
        return {
            "address": address,
            "prefix": self.cidr.prefixlen,
            "netmask": str(self.cidr.netmask),
            "cidr": str(self.cidr),
            "bridge": self.bridge,
        }

    def export(self):
        return {
            "cidr": str(self.cidr),
            "prefix": self.cidr.prefixlen,
            "netmask": str(self.cidr.netmask),
            "bridge": self.bridge,
            "interface": self.interface,
            "internal_vip": self.vips.get("internal_vip"),
            "external_vip": self.vips.get("external_vip"),
            "groups": list(self.groups),
        }


class Topology:
    """A validated topology with its allocations; what the plugin turns into inventory."""

    def __init__(self):
        self.path = None
        self.state_path = None
        self.release = DEFAULT_RELEASE
        self.settings = {}
        self.networks = {}          # name -> Network, declaration order
        self.host_groups = {}       # name -> {"hosts": [host names], "vars": {}, "passthrough": normal form}
        self.hosts = {}             # name -> host dict, declaration order
        self.services = {}          # name -> {"group", "count", "container", "enabled"} (enabled only)
        self.containers = {}        # name -> {"host", "service", "networks": [net names]}, canonical order
        self.service_members = {}   # service -> [container or host names]
        self.state = {}             # container -> net -> {"address", "mac"}
        self.state_text = ""
        self.state_changed = False
        self.warnings = []
        self.passthrough_aliases = []   # [pci] alias entries of every host's profile, once each

    def all_vars(self):
        out = {"lxstack_release": self.release}
        for key, value in self.settings.items():
            out["lxstack_" + key] = value
        out["lxstack_networks"] = {name: net.export() for name, net in self.networks.items()}
        for kind in ("internal_vip", "external_vip"):
            for net in self.networks.values():
                if net.vips.get(kind):
                    out["lxstack_%s_address" % kind] = net.vips[kind]
        out["lxstack_passthrough_aliases"] = self.passthrough_aliases
        return out


def load(path):
    """Read, validate and allocate; raises TopologyError listing every problem."""
    if netaddr is None:
        raise TopologyError([(path, "(python)", "the netaddr Python library is required")])
    if yaml is None:
        raise TopologyError([(path, "(python)", "the PyYAML Python library is required")])
    errs = _Errors(path)
    data = read_yaml(path, errs)
    if data is None and not errs.items:
        # An empty file would otherwise become an empty inventory that playbooks run against silently.
        errs.add("(file)", "the file is empty or holds only comments; a topology needs at least "
                 "'plugin: %s', networks and host_groups (see docs/topology.md)" % PLUGIN_NAME)
    errs.raise_if_any()
    topo = Topology()
    topo.path = path
    topo.state_path = state_path_for(path)
    _check_keys(data, TOP_KEYS, "", errs)
    if not isinstance(data, dict):
        errs.raise_if_any()
    if data.get("plugin", PLUGIN_NAME) != PLUGIN_NAME:
        errs.add("plugin", "must be '%s'" % PLUGIN_NAME)
    release = _get(data, "release", str, DEFAULT_RELEASE)
    if release not in RELEASES:
        errs.add("release", "unsupported release '%s'; supported: %s" % (release, ", ".join(RELEASES)))
    else:
        topo.release = release
    _load_settings(topo, _get(data, "settings", dict, {}), errs)
    services = _load_services(topo, data, errs)
    _load_networks(topo, _get(data, "networks", dict, {}), services, errs)
    _load_hosts(topo, _get(data, "host_groups", dict, {}), errs)
    errs.raise_if_any()
    _place(topo, services, errs)
    _check_passthrough(topo, errs)
    errs.raise_if_any()
    _allocate(topo, errs)
    errs.raise_if_any()
    return topo


def _load_settings(topo, settings, errs):
    for key, (default, _allowed) in KNOWN_SETTINGS.items():
        topo.settings[key] = default
    for key, value in settings.items():
        kpath = "settings.%s" % key
        if not isinstance(key, str) or not NAME_RE.match(key):
            errs.add(kpath, "setting names are lower-case identifiers (a-z, 0-9, _)")
            continue
        if key in KNOWN_SETTINGS:
            allowed = KNOWN_SETTINGS[key][1]
            if allowed and value not in allowed:
                errs.add(kpath, "'%s' is not one of: %s" % (value, ", ".join(allowed)))
                continue
        else:
            close = _did_you_mean(key, KNOWN_SETTINGS)
            if close:
                errs.add(kpath, "unknown setting%s" % close)
                continue
        topo.settings[key] = value


def _load_services(topo, data, errs):
    """Catalog merged with ``services:`` overrides -> ordered {name: spec} (disabled included)."""
    services = {name: {"group": group, "count": None, "container": container, "enabled": enabled}
                for name, group, container, enabled in catalog()}
    overrides = _get(data, "services", dict, {}) or {}
    for name, spec in overrides.items():
        path = "services.%s" % name
        if not isinstance(name, str) or not NAME_RE.match(name):
            errs.add(path, "service names are lower-case identifiers (a-z, 0-9, _)")
            continue
        if spec is None:
            spec = {}
        if not _check_keys(spec, SERVICE_KEYS, path, errs):
            continue
        if name not in services:
            if "group" not in spec:
                errs.add(path, "unknown service%s; a new service needs 'group'" % _did_you_mean(name, services))
                continue
            services[name] = {"group": None, "count": None, "container": True, "enabled": True}
        for key in SERVICE_KEYS:
            kind = SERVICE_KEYS[key][0]
            value = _get(spec, key, kind)
            if value is not None:
                services[name][key] = value
        count = _get(spec, "count", int)
        if count is not None and count < 1:
            errs.add(path + ".count", "must be at least 1 (use 'enabled: false' to drop a service)")
    return services


def _load_networks(topo, networks, services, errs):
    if MANAGEMENT not in networks:
        errs.add("networks.%s" % MANAGEMENT, "required network is missing")
    spans = []
    bridges = {}
    for name, spec in networks.items():
        path = "networks.%s" % name
        if not isinstance(name, str) or not NAME_RE.match(name):
            errs.add(path, "network names are lower-case identifiers (a-z, 0-9, _)")
            continue
        if not _check_keys(spec, NETWORK_KEYS, path, errs):
            continue
        cidr = None
        raw = _get(spec, "cidr", str)
        if raw is not None:
            try:
                cidr = netaddr.IPNetwork(raw)
                if "/" not in raw:
                    raise ValueError
            except (ValueError, netaddr.AddrFormatError):
                errs.add(path + ".cidr", "'%s' is not a valid CIDR (e.g. 172.29.236.0/22)" % raw)
                cidr = None
            else:
                if cidr.ip != cidr.network:
                    errs.add(path + ".cidr", "'%s' has host bits set (did you mean '%s'?)" % (raw, cidr.cidr))
                    cidr = None
                elif cidr.size < 4:
                    errs.add(path + ".cidr", "'%s' is too small for containers" % raw)
                    cidr = None
        bridge = _get(spec, "bridge", str)
        if bridge is not None:
            if not IFNAME_RE.match(bridge):
                errs.add(path + ".bridge", "'%s' is not a valid interface name (max 15 characters)" % bridge)
            elif bridge in bridges:
                errs.add(path + ".bridge", "bridge '%s' is already used by networks.%s" % (bridge, bridges[bridge]))
            bridges[bridge] = name
        interface = _get(spec, "interface", str)
        if interface is not None and not IFNAME_RE.match(interface):
            errs.add(path + ".interface", "'%s' is not a valid interface name" % interface)
        groups = []
        for i, group in enumerate(_get(spec, "groups", list, [])):
            if not isinstance(group, str) or (group != ALL_CONTAINERS and group not in services):
                errs.add("%s.groups[%d]" % (path, i), "unknown service '%s'%s; use a service name or %s"
                         % (group, _did_you_mean(group, [*services, ALL_CONTAINERS]), ALL_CONTAINERS))
            else:
                groups.append(group)
        if cidr is None:
            continue
        spans.append((int(cidr.first), int(cidr.last), cidr.version, name))
        reserved = []
        for i, item in enumerate(_get(spec, "reserved", list, [])):
            rng = _parse_range(item, errs, "%s.reserved[%d]" % (path, i))
            if rng is None:
                continue
            if rng[2] != cidr.version or rng[0] < cidr.first or rng[1] > cidr.last:
                errs.add("%s.reserved[%d]" % (path, i), "'%s' is outside %s" % (item, cidr))
                continue
            reserved.append(rng[:2])
        if cidr.version == 4 and cidr.prefixlen <= 30:
            usable = (int(cidr.first) + 1, int(cidr.last) - 1)
        else:
            usable = (int(cidr.first) + 1, int(cidr.last))
        pool = Pool(usable, reserved)
        vips = {}
        for kind in ("internal_vip", "external_vip"):
            raw_vip = _get(spec, kind, str)
            if raw_vip is None:
                continue
            vip = _parse_ip(raw_vip, errs, "%s.%s" % (path, kind))
            if vip is None:
                continue
            if vip not in cidr:
                errs.add("%s.%s" % (path, kind), "%s is outside the network %s" % (vip, cidr))
            elif pool.contains(int(vip)):
                errs.add("%s.%s" % (path, kind), "%s is inside the container allocation range; "
                         "add it to networks.%s.reserved" % (vip, name))
            else:
                vips[kind] = str(vip)
        if vips.get("internal_vip") and vips.get("internal_vip") == vips.get("external_vip"):
            # One shared address would put the internal-only frontends (Galera, nova metadata)
            # on the external address too: refuse rather than silently drop the separation.
            errs.add("%s.external_vip" % path, "%s is also %s.internal_vip; the external VIP needs its own "
                     "address (or leave external_vip out): internal-only frontends such as Galera would "
                     "otherwise listen on the external address" % (vips["external_vip"], path))
        topo.networks[name] = Network(name, cidr, bridge, interface, groups, pool, vips)
    # overlapping CIDRs: sort by first address, compare neighbours (and the widest so far)
    spans.sort()
    widest = None
    for span in spans:
        if widest and widest[2] == span[2] and span[0] <= widest[1]:
            errs.add("networks.%s.cidr" % span[3], "overlaps networks.%s.cidr" % widest[3])
        if widest is None or widest[2] != span[2] or span[1] > widest[1]:
            widest = span
    if MANAGEMENT in topo.networks:
        mgmt = topo.networks[MANAGEMENT]
        if ALL_CONTAINERS not in mgmt.groups:
            missing = [s for s, spec in services.items()
                       if spec["container"] and spec["enabled"] and s not in mgmt.groups]
            if missing:
                errs.add("networks.%s.groups" % MANAGEMENT, "every container needs the management network; "
                         "add %s (missing: %s)" % (ALL_CONTAINERS, ", ".join(missing)))
    vip_seen = {}
    for net in topo.networks.values():
        for kind in net.vips:
            if kind in vip_seen:
                errs.add("networks.%s.%s" % (net.name, kind), "already set on networks.%s" % vip_seen[kind])
            vip_seen[kind] = net.name


def _load_hosts(topo, host_groups, errs):
    seen_hosts = {}
    taken = {name: {} for name in topo.networks}   # net -> {int address: key path}
    for net in topo.networks.values():
        for kind, vip in net.vips.items():
            taken[net.name][int(netaddr.IPAddress(vip))] = "networks.%s.%s" % (net.name, kind)
    for gname, gspec in host_groups.items():
        gpath = "host_groups.%s" % gname
        if not isinstance(gname, str) or not NAME_RE.match(gname):
            errs.add(gpath, "host group names are lower-case identifiers (a-z, 0-9, _)")
            continue
        group = {"hosts": [], "vars": {}, "passthrough": None}
        topo.host_groups[gname] = group
        if gspec is None:
            gspec = {"hosts": {}}
        if not _check_keys(gspec, GROUP_KEYS, gpath, errs):
            continue
        group["vars"] = _get(gspec, "vars", dict, {})
        _check_vars(group["vars"], gpath + ".vars", errs)
        group["passthrough"] = _load_passthrough(gspec, gpath, errs)
        for hname, hspec in (_get(gspec, "hosts", dict, {}) or {}).items():
            hpath = "%s.hosts.%s" % (gpath, hname)
            if not isinstance(hname, str) or not HOST_RE.match(hname) or len(hname) > HOSTNAME_MAX:
                errs.add(hpath, "host names are hostname labels (a-z, 0-9, '-', at most 63 characters)")
                continue
            if hname in seen_hosts:
                errs.add(hpath, "duplicate host name, already defined at %s" % seen_hosts[hname])
                continue
            seen_hosts[hname] = hpath
            if not _check_keys(hspec, HOST_KEYS, hpath, errs):
                continue
            host = _load_host(topo, hname, gname, hspec, hpath, taken, errs)
            own = _load_passthrough(hspec, hpath, errs)
            host["passthrough"] = passthrough.merge(group["passthrough"], own)
            # where the host's devices are written, for messages about them
            host["passthrough_source"] = "%s.passthrough" % (hpath if "devices" in (own or {}) else gpath)
            topo.hosts[hname] = host
            group["hosts"].append(hname)


def _load_passthrough(spec, path, errs):
    """The normal form of a group's or host's ``passthrough`` (None without one); problems go to errs."""
    profile = _get(spec, "passthrough", dict)
    if profile is None:
        return None
    normal, problems = passthrough.normalise(profile, path + ".passthrough")
    for kpath, reason in problems:
        errs.add(kpath, reason)
    return normal


def _check_passthrough(topo, errs):
    """Profiles only on hosts that run nova-compute on bare metal; one meaning per alias across hosts."""
    compute = set(topo.service_members.get("nova_compute", ()))
    profiles, sources = {}, {}
    for hname, host in topo.hosts.items():
        if host["passthrough"] is None:
            continue
        if hname not in compute:
            errs.add("host_groups.%s.hosts.%s" % (host["group"], hname),
                     "has a passthrough profile (%s) but runs no bare-metal nova_compute; place nova_compute on "
                     "its host group or move the profile" % host["passthrough_source"])
            continue
        profiles[hname] = host["passthrough"]
        sources[hname] = host["passthrough_source"]
    try:
        topo.passthrough_aliases = passthrough.alias_union(profiles, sources)
    except passthrough.PassthroughError as exc:
        for kpath, reason in exc.errors:
            errs.add(kpath, reason)


def _check_vars(data, path, errs):
    for key in data:
        if key in PLUGIN_VARS:
            errs.add("%s.%s" % (path, key), "is set by the inventory plugin and cannot be overridden")


def _load_host(topo, hname, gname, hspec, hpath, taken, errs):
    connection = _get(hspec, "connection", str, "ssh")
    if connection not in ("ssh", "local"):
        errs.add(hpath + ".connection", "'%s' is not one of: ssh, local" % connection)
    addresses = {}
    raw = _get(hspec, "address", str)
    if raw is not None:
        addresses[MANAGEMENT] = (raw, hpath + ".address")
    for net, value in (_get(hspec, "networks", dict, {}) or {}).items():
        npath = "%s.networks.%s" % (hpath, net)
        if net == MANAGEMENT:
            errs.add(npath, "set the management address with %s.address" % hpath)
        elif net not in topo.networks:
            errs.add(npath, "unknown network%s" % _did_you_mean(net, topo.networks))
        else:
            addresses[net] = (value, npath)
    host_addresses = {}
    for net, (value, npath) in addresses.items():
        if net not in topo.networks:
            continue
        network = topo.networks[net]
        ip = _parse_ip(value, errs, npath)
        if ip is None:
            continue
        if ip not in network.cidr:
            errs.add(npath, "%s is outside networks.%s.cidr %s" % (ip, net, network.cidr))
            continue
        if network.pool.contains(int(ip)):
            errs.add(npath, "%s is inside the container allocation range of networks.%s; "
                     "host addresses must lie within networks.%s.reserved" % (ip, net, net))
            continue
        if int(ip) in taken[net]:
            errs.add(npath, "duplicate address %s, already used by %s" % (ip, taken[net][int(ip)]))
            continue
        taken[net][int(ip)] = npath
        host_addresses[net] = str(ip)
    interfaces = _get(hspec, "interfaces", dict, {}) or {}
    for net, ifname in interfaces.items():
        ipath = "%s.interfaces.%s" % (hpath, net)
        if net not in topo.networks:
            errs.add(ipath, "unknown network%s" % _did_you_mean(net, topo.networks))
        elif not isinstance(ifname, str) or not IFNAME_RE.match(ifname):
            errs.add(ipath, "'%s' is not a valid interface name" % (ifname,))
    host_vars = _get(hspec, "vars", dict, {}) or {}
    _check_vars(host_vars, hpath + ".vars", errs)
    return {
        "name": hname,
        "group": gname,
        "address": host_addresses.get(MANAGEMENT),
        "ssh_address": _get(hspec, "ssh_address", str) or host_addresses.get(MANAGEMENT),
        "addresses": host_addresses,
        "interfaces": interfaces,
        "containers": _get(hspec, "containers", bool, True),
        "connection": connection,
        "vars": host_vars,
    }


def _place(topo, services, errs):
    """Decide which hosts run each service; creates the container records (no addresses yet)."""
    placed = {}
    for name, spec in services.items():
        if not spec["enabled"]:
            continue
        path = "services.%s" % name
        group = spec["group"]
        if group not in topo.host_groups:
            errs.add(path + ".group", "unknown host group '%s'%s" % (group, _did_you_mean(group, topo.host_groups)))
            continue
        hosts = topo.host_groups[group]["hosts"]
        if spec["container"]:
            hosts = [h for h in hosts if topo.hosts[h]["containers"]]
        if not hosts:
            errs.add(path + ".group", "host group '%s' has no hosts%s" % (
                group, " that accept containers" if spec["container"] else ""))
            continue
        count = spec["count"]
        if count is not None:
            if count > len(hosts):
                errs.add(path + ".count", "%d requested but host group '%s' has only %d eligible host%s"
                         % (count, group, len(hosts), "" if len(hosts) == 1 else "s"))
                continue
            hosts = hosts[:count]
        topo.services[name] = spec
        topo.service_members[name] = []
        placed[name] = set(hosts)
    group_names = set(topo.services) | {g + "_hosts" for g in topo.host_groups} | {
        "physical_hosts", "lxc_hosts", ALL_CONTAINERS}
    for host in topo.hosts:
        if host in group_names:
            errs.add("host_groups.%s.hosts.%s" % (topo.hosts[host]["group"], host),
                     "host name clashes with the inventory group '%s'" % host)
    # canonical order: hosts in declared order, services in catalog order
    for hname, host in topo.hosts.items():
        for sname, spec in topo.services.items():
            if hname not in placed[sname]:
                continue
            if not spec["container"]:
                topo.service_members[sname].append(hname)
                continue
            cname = container_name(hname, sname)
            if len(cname) > HOSTNAME_MAX:
                errs.add("host_groups.%s.hosts.%s" % (host["group"], hname),
                         "container name '%s' is %d characters, over the %d-character hostname limit"
                         % (cname, len(cname), HOSTNAME_MAX))
                continue
            nets = [n for n in topo.networks.values() if sname in n.groups or ALL_CONTAINERS in n.groups]
            topo.containers[cname] = {"host": hname, "service": sname, "networks": [n.name for n in nets]}
            topo.service_members[sname].append(cname)


# ---------------------------------------------------------------- state and allocation

def read_state(path, errs):
    if not os.path.exists(path):
        return {}
    data = read_yaml(path, errs)
    if data is None:
        return {}
    if not _check_keys(data, STATE_KEYS, "", errs):
        return {}
    if data.get("plugin", PLUGIN_NAME) != PLUGIN_NAME:
        errs.add("plugin", "must be '%s'" % PLUGIN_NAME)
    if data.get("version") not in (None, STATE_VERSION):
        errs.add("version", "unsupported state version %s" % data.get("version"))
    state = {}
    for cname, nets in (_get(data, "containers", dict, {}) or {}).items():
        cpath = "containers.%s" % cname
        if not isinstance(nets, dict):
            errs.add(cpath, "expected a mapping of network -> {address, mac}")
            continue
        state[cname] = {}
        for net, entry in nets.items():
            epath = "%s.%s" % (cpath, net)
            if not isinstance(entry, dict) or set(entry) != {"address", "mac"}:
                errs.add(epath, "expected {address, mac}")
                continue
            state[cname][net] = {"address": str(entry["address"]), "mac": str(entry["mac"]).lower()}
    return state


def _allocate(topo, errs):
    serrs = _Errors(topo.state_path)
    topo.state = read_state(topo.state_path, serrs)
    serrs.raise_if_any()
    macs = set()
    used = {name: {} for name in topo.networks}   # net -> {int: container}
    for cname, nets in topo.state.items():
        if cname not in topo.containers:
            topo.warnings.append(
                "%s: container '%s' is no longer in the topology; its addresses stay reserved until "
                "you delete its entry from this file" % (topo.state_path, cname))
        for net, entry in nets.items():
            epath = "containers.%s.%s" % (cname, net)
            if net not in topo.networks:
                topo.warnings.append("%s: %s: network '%s' is no longer in the topology" % (
                    topo.state_path, epath, net))
                continue
            network = topo.networks[net]
            ip = _parse_ip(entry["address"], serrs, epath + ".address")
            if ip is None:
                continue
            if ip not in network.cidr or not network.pool.contains(int(ip)):
                serrs.add(epath + ".address", "%s is no longer in the allocation range of networks.%s "
                          "(cidr %s minus reserved); delete this entry to re-allocate" % (ip, net, network.cidr))
                continue
            if int(ip) in used[net]:
                serrs.add(epath + ".address", "duplicate address %s, also given to %s" % (ip, used[net][int(ip)]))
                continue
            if not re.match(r"^02(:[0-9a-f]{2}){5}$", entry["mac"]) or entry["mac"] in macs:
                serrs.add(epath + ".mac", "'%s' is not a unique locally administered MAC (02:..)" % entry["mac"])
                continue
            macs.add(entry["mac"])
            used[net][int(ip)] = cname
            if cname in topo.containers and net not in topo.containers[cname]["networks"]:
                topo.warnings.append("%s: %s: container no longer attaches to network '%s'; the address "
                                     "stays reserved until you delete the entry" % (topo.state_path, epath, net))
    serrs.raise_if_any()
    needed = {name: [] for name in topo.networks}
    for cname, container in topo.containers.items():
        for net in container["networks"]:
            if net not in topo.state.get(cname, {}):
                needed[net].append(cname)
    for net, network in topo.networks.items():
        network.pool.used = set(used[net])
        available = network.pool.available
        if len(needed[net]) > available:
            errs.add("networks.%s" % net, "address pool exhausted: %d addresses needed, %d available (%s minus "
                     "reserved ranges and existing allocations)" % (len(needed[net]), available, network.cidr))
    errs.raise_if_any()
    changed = False
    for cname, container in topo.containers.items():   # canonical order
        entry = topo.state.setdefault(cname, {})
        for net in container["networks"]:
            if net not in entry:
                address = netaddr.IPAddress(topo.networks[net].pool.allocate(), topo.networks[net].cidr.version)
                entry[net] = {"address": str(address), "mac": stable_mac(cname, net, macs)}
                changed = True
    topo.state_text = render_state(topo.state)
    topo.state_changed = changed or _current_text(topo.state_path) != topo.state_text


def _current_text(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


def render_state(state):
    lines = [
        "# Address and MAC allocations of lxstack.openstack.topology, one entry per container.",
        "# Written by the inventory plugin; existing entries are never changed or removed.",
        "# To free a container's addresses, delete its entry (after destroying the container).",
        "# `plugin` makes Ansible's auto inventory plugin hand this file to the topology plugin, which skips",
        "# it, instead of the yaml inventory plugin misreading it (when the yaml plugin is enabled).",
        "plugin: %s" % PLUGIN_NAME,
        "version: %d" % STATE_VERSION,
        "containers:" + ("" if state else " {}"),
    ]
    for cname in sorted(state):
        lines.append("  %s:" % cname)
        for net in sorted(state[cname]):
            entry = state[cname][net]
            lines.append('    %s: {address: "%s", mac: "%s"}' % (net, entry["address"], entry["mac"]))
    return "\n".join(lines) + "\n"


def write_state(topo):
    """Atomically write the state file if its content changed; returns True if written."""
    if not topo.state_changed:
        return False
    directory = os.path.dirname(os.path.abspath(topo.state_path))
    fd, tmp = tempfile.mkstemp(prefix=".topology-state-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(topo.state_text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, topo.state_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    topo.state_changed = False
    return True


def host_networks(topo, host):
    """``host_networks`` of a physical host: every network, the host's address or None."""
    out = {}
    for name, net in topo.networks.items():
        block = net.describe(host["addresses"].get(name))
        block["interface"] = host["interfaces"].get(name, net.interface)
        out[name] = block
    return out


def container_networks(topo, cname):
    out = {}
    for index, name in enumerate(topo.containers[cname]["networks"], start=1):
        entry = topo.state[cname][name]
        block = topo.networks[name].describe(entry["address"])
        block["mac"] = entry["mac"]
        block["interface"] = "eth%d" % index
        out[name] = block
    return out
