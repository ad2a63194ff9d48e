# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The passthrough profile of a compute host: validation and every setting derived from it.

One rule, written once, for three users: the topology inventory plugin validates and normalises the
profiles of ``host_groups.<g>.passthrough`` and ``host_groups.<g>.hosts.<h>.passthrough`` with
``normalise()`` and ``merge()`` and checks the aliases of all hosts with ``alias_union()``; the
``lxstack.openstack.passthrough_settings`` filter gives roles ``derive()`` (kernel arguments, modprobe.d,
VFs, nova, neutron); the ``lxstack.openstack.passthrough_check`` module checks a host against the
profile. Pure Python, standard library only: it runs on the controller and, inside the module, on hosts.
"""

from __future__ import annotations

import difflib
import json
import re

DEVICE_TYPES = ("gpu", "pci", "nic_pf")
HUGEPAGE_SIZES = {"2M": 2048, "1G": 1048576}      # size -> kB
IOMMU_CHOICES = ("auto", "intel", "amd")
CPU_VENDORS = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}
IOMMU_ARGS = {"intel": "intel_iommu=on", "amd": "amd_iommu=on"}
# Drivers that grab a GPU of this vendor before vfio-pci does, when the profile names none
DEFAULT_BLACKLIST = {"10de": ("nouveau",), "1002": ("amdgpu", "radeon")}
# nova-compute reports PCI devices to placement ([pci] report_in_placement) in these releases
REPORT_IN_PLACEMENT = {"2026.1": True, "2026.2": True}
# nova's default [DEFAULT] reserved_host_memory_mb, used when the profile sets none
NOVA_RESERVED_HOST_MEMORY_MB = 512
GRUB_DROPIN = "/etc/default/grub.d/lxstack-passthrough.cfg"
MODPROBE_FILE = "/etc/modprobe.d/lxstack-passthrough.conf"
NOVA_DEVICE_TYPES = {"gpu": "type-PCI", "pci": "type-PCI", "nic_pf": "type-PF"}

PROFILE_KEYS = ("devices", "hugepages", "cpu", "iommu")
DEVICE_KEYS = ("alias", "type", "id", "address", "interface", "vfs", "physnet", "vf_id", "driver_blacklist")
HUGEPAGE_KEYS = ("size", "count")
CPU_KEYS = ("dedicated", "shared", "isolate", "reserved_host_memory_mb")

PCI_ID_RE = re.compile(r"^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$")
PCI_ADDRESS_RE = re.compile(r"^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([01][0-9a-fA-F])\.([0-7])$")
CPU_LIST_RE = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")
# nova reads a flavor's pci_passthrough:alias as "<alias>:<count>[,<alias>:<count>...]"
ALIAS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PHYSNET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
IFNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")
MODULE_RE = re.compile(r"^[a-z0-9_-]{1,56}$")


class PassthroughError(ValueError):
    """Problems of a profile: ``errors`` is a list of ``(key path, reason)``."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("; ".join("%s: %s" % e for e in self.errors))


def _did_you_mean(word, choices):
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return " (did you mean '%s'?)" % close[0] if close else ""


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _keys(data, allowed, path, errs):
    """Unknown keys of a mapping; False (and an error) if it is not a mapping."""
    if not isinstance(data, dict):
        errs.append((path, "expected a mapping, got %s" % type(data).__name__))
        return False
    for key in data:
        if key not in allowed:
            errs.append(("%s.%s" % (path, key), "unknown key%s; allowed: %s"
                         % (_did_you_mean(key, allowed), ", ".join(allowed))))
    return True


# ---------------------------------------------------------------- small parsers

def parse_pci_id(value):
    """``"10DE:1eb8"`` -> ``("10de", "1eb8")``; ValueError when malformed."""
    match = PCI_ID_RE.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(value)
    return match.group(1).lower(), match.group(2).lower()


def parse_pci_address(value):
    """``"3B:00.0"`` or ``"0000:3b:00.0"`` -> ``"0000:3b:00.0"``; ValueError when malformed."""
    match = PCI_ADDRESS_RE.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(value)
    domain, bus, slot, func = match.groups()
    return "%s:%s:%s.%s" % ((domain or "0000").lower(), bus.lower(), slot.lower(), func)


def parse_cpu_list(value):
    """Linux list syntax (``"2-7,10"``, or an integer) -> sorted list of CPU numbers; ValueError when malformed."""
    if _is_int(value) and value >= 0:
        return [value]
    if not isinstance(value, str) or not CPU_LIST_RE.match(value):
        raise ValueError(value)
    cpus = set()
    for part in value.split(","):
        first, _sep, last = part.partition("-")
        first, last = int(first), int(last or first)
        if last < first:
            raise ValueError(value)
        cpus.update(range(first, last + 1))
    return sorted(cpus)


def format_cpu_list(cpus):
    """Sorted CPU numbers -> the shortest Linux list: ``[0, 1, 2, 5]`` -> ``"0-2,5"``."""
    parts, cpus = [], sorted(set(cpus))
    start = prev = None
    for cpu in [*cpus, None]:
        if start is not None and cpu == prev + 1:
            prev = cpu
            continue
        if start is not None:
            parts.append(str(start) if start == prev else "%d-%d" % (start, prev))
        start = prev = cpu
    return ",".join(parts)


# ---------------------------------------------------------------- validation and normal form

def normalise(profile, path="passthrough"):
    """Check one profile as written in the topology; return ``(normal form, [(key path, reason)])``.

    The normal form keeps only the keys given (a key set to null is kept as None, which ``merge()``
    reads as "remove the group's value"), lower-cases IDs and addresses, fills the defaults of each
    device and writes CPU lists in their shortest form. It is valid input again: normalising it twice
    gives the same result.
    """
    errs = []
    if not _keys(profile, PROFILE_KEYS, path, errs):
        return None, errs
    out = {}
    for key in PROFILE_KEYS:
        if key not in profile:
            continue
        value, kpath = profile[key], "%s.%s" % (path, key)
        if value is None:
            out[key] = None
        elif key == "devices":
            out[key] = _devices(value, kpath, errs)
        elif key == "hugepages":
            out[key] = _hugepages(value, kpath, errs)
        elif key == "cpu":
            out[key] = _cpu(value, kpath, errs)
        elif value not in IOMMU_CHOICES:
            errs.append((kpath, "'%s' is not one of: %s" % (value, ", ".join(IOMMU_CHOICES))))
        else:
            out[key] = value
    return out, errs


def _devices(devices, path, errs):
    if not isinstance(devices, list):
        errs.append((path, "expected a list of devices, got %s" % type(devices).__name__))
        return []
    out = []
    for index, device in enumerate(devices):
        normal = _device(device, "%s[%d]" % (path, index), errs)
        if normal is not None:
            out.append((index, normal))
    _cross_device_checks(out, path, errs)
    return [normal for _index, normal in out]


def _device(device, path, errs):
    if not _keys(device, DEVICE_KEYS, path, errs):
        return None
    device = {key: value for key, value in device.items() if value is not None}
    before = len(errs)
    kind = device.get("type")
    if kind is None:
        errs.append((path + ".type", "required key is missing (one of: %s)" % ", ".join(DEVICE_TYPES)))
    elif kind not in DEVICE_TYPES:
        errs.append((path + ".type", "'%s' is not one of: %s%s" % (kind, ", ".join(DEVICE_TYPES),
                                                                   _did_you_mean(kind, DEVICE_TYPES))))
        kind = None
    normal = {"alias": None, "type": kind, "id": None, "address": None, "interface": None,
              "vfs": None, "physnet": None, "vf_id": None, "driver_blacklist": []}
    for key in ("id", "vf_id"):
        if key in device:
            try:
                normal[key] = "%s:%s" % parse_pci_id(device[key])
            except ValueError:
                errs.append(("%s.%s" % (path, key), "%s is not a vendor:product ID, 4 hex digits each (e.g. "
                             "10de:1eb8, as lspci -nn shows it)" % _shown(device[key])))
    if "address" in device:
        try:
            normal["address"] = parse_pci_address(device["address"])
        except ValueError:
            errs.append((path + ".address", "%s is not a PCI address (e.g. \"0000:3b:00.0\", as lspci -D shows "
                         "it)%s" % (_shown(device["address"]), _quote_hint(device["address"]))))
    if "interface" in device:
        if not isinstance(device["interface"], str) or not IFNAME_RE.match(device["interface"]):
            errs.append((path + ".interface", "%s is not a network interface name" % _shown(device["interface"])))
        else:
            normal["interface"] = device["interface"]
    if "alias" in device:
        alias = device["alias"]
        if not isinstance(alias, str) or not ALIAS_RE.match(alias):
            errs.append((path + ".alias", "%s cannot be a nova PCI alias: use letters, digits, '.', '_' and '-' "
                         "(at most 64, no spaces, ':' or ','), since a flavor asks for it as "
                         "pci_passthrough:alias=<alias>:<count>" % _shown(alias)))
        else:
            normal["alias"] = alias
    if "driver_blacklist" in device:
        drivers = device["driver_blacklist"]
        if not isinstance(drivers, list) or not all(isinstance(d, str) and MODULE_RE.match(d) for d in drivers):
            errs.append((path + ".driver_blacklist", "expected a list of kernel module names (e.g. [nouveau])"))
        else:
            normal["driver_blacklist"] = list(dict.fromkeys(drivers))
    if kind == "nic_pf":
        _nic_pf(device, normal, path, errs)
    elif kind is not None:
        for key in ("interface", "vfs", "physnet", "vf_id"):
            if key in device:
                errs.append(("%s.%s" % (path, key), "only for type nic_pf (an SR-IOV NIC's physical function)"))
        if "id" not in device:
            errs.append((path + ".id", "required key is missing: nova's [pci] alias names the device by "
                         "vendor:product ID (e.g. 10de:1eb8), also when address picks one device"))
        if "alias" not in device:
            errs.append((path + ".alias", "required key is missing: the name flavors request the device by"))
        if "driver_blacklist" not in device and normal["id"] and kind == "gpu":
            normal["driver_blacklist"] = list(DEFAULT_BLACKLIST.get(normal["id"][:4], ()))
    return normal if len(errs) == before else None


def _nic_pf(device, normal, path, errs):
    vfs = device.get("vfs", 0)
    if "physnet" in device:
        if not isinstance(device["physnet"], str) or not PHYSNET_RE.match(device["physnet"]):
            errs.append((path + ".physnet", "%s is not a physical network name (letters, digits, '.', '_', '-')"
                         % _shown(device["physnet"])))
        else:
            normal["physnet"] = device["physnet"]
    if not _is_int(vfs) or vfs < 0:
        # what else the device needs depends on vfs: no guesses
        errs.append((path + ".vfs", "must be a whole number of VFs, 0 or more, got %s" % _shown(vfs)))
        return
    normal["vfs"] = vfs
    if vfs > 0:
        if "physnet" not in device:
            errs.append((path + ".physnet", "required when vfs is above 0: the neutron physical network the VFs "
                         "of this NIC serve (neutron's SR-IOV agent maps it to the interface)"))
        if "interface" not in device and "address" not in device:
            errs.append((path, "an SR-IOV NIC needs interface (the PF's netdev name) or address (its PCI "
                         "address): the VFs are created on that one PF"))
        if "alias" in device and "vf_id" not in device:
            errs.append((path + ".vf_id", "required with alias on a NIC with VFs: the vendor:product ID of its "
                         "VFs (they differ from the PF's, e.g. 8086:154c for 8086:1572; lspci -nn)"))
    else:
        for key in ("physnet", "vf_id"):
            if key in device:
                errs.append(("%s.%s" % (path, key), "only with vfs above 0 (an SR-IOV NIC whose VFs are used)"))
        if "alias" not in device:
            errs.append((path + ".alias", "required key is missing: a NIC without VFs is passed through whole, "
                         "by a flavor asking for this alias"))
        if "id" not in device:
            errs.append((path + ".id", "required key is missing: nova's [pci] alias names the device by "
                         "vendor:product ID"))


def _cross_device_checks(devices, path, errs):
    aliases, addresses, interfaces = {}, {}, {}
    for index, device in devices:
        dpath = "%s[%d]" % (path, index)
        entry = alias_entry(device)
        if entry is not None:
            seen = aliases.get(entry["name"])
            if seen and seen[1] != entry:
                errs.append((dpath + ".alias", "alias '%s' is also %s[%d] with %s; one alias names one kind of "
                             "device (vendor:product and type)" % (entry["name"], path, seen[0], _describe(seen[1]))))
            aliases.setdefault(entry["name"], (index, entry))
        for key, seen in (("address", addresses), ("interface", interfaces)):
            if device[key]:
                if device[key] in seen:
                    errs.append(("%s.%s" % (dpath, key), "%s is also %s[%d]" % (device[key], path, seen[device[key]])))
                seen.setdefault(device[key], index)
    sriov_ids = {d["id"]: i for i, d in devices if d["type"] == "nic_pf" and d["vfs"] and d["id"]}
    for index, device in devices:
        if device["id"] in sriov_ids and _vfio_by_id(device):
            errs.append(("%s[%d]" % (path, index), "vfio-pci would take every device %s, also the SR-IOV NIC %s[%d]; "
                         "give this device's address" % (device["id"], path, sriov_ids[device["id"]])))


def _shown(value):
    if isinstance(value, str):
        return "'%s'" % value
    return str(value) if _is_int(value) else "%r (%s)" % (value, type(value).__name__)


def _quote_hint(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "; quote it: YAML reads an unquoted address such as 0000:00:02.0 as a number"
    return ""


def _hugepages(value, path, errs):
    if not _keys(value, HUGEPAGE_KEYS, path, errs):
        return None
    before = len(errs)
    size, count = value.get("size"), value.get("count")
    if size not in HUGEPAGE_SIZES:
        errs.append((path + ".size", "%s is not one of: %s" % (
            _shown(size) if size is not None else "missing", ", ".join(HUGEPAGE_SIZES))))
    if not _is_int(count) or count < 1:
        errs.append((path + ".count", "must be a positive whole number of pages, got %s"
                     % (_shown(count) if count is not None else "nothing")))
    return {"size": size, "count": count} if len(errs) == before else None


def _cpu(value, path, errs):
    if not _keys(value, CPU_KEYS, path, errs):
        return None
    before = len(errs)
    sets = {}
    for key in ("dedicated", "shared"):
        if value.get(key) is None:
            continue
        try:
            sets[key] = parse_cpu_list(value[key])
        except ValueError:
            errs.append(("%s.%s" % (path, key), "%s is not a CPU list in Linux syntax (e.g. 2-7,10)"
                         % _shown(value[key])))
    if "dedicated" in sets and "shared" in sets:
        both = sorted(set(sets["dedicated"]) & set(sets["shared"]))
        if both:
            errs.append((path + ".shared", "%s in both cpu.dedicated (%s) and cpu.shared (%s); a CPU is "
                         "either pinned to guests or shared" % (("CPU %s is" if len(both) == 1 else "CPUs %s are")
                                                                % format_cpu_list(both), format_cpu_list(
                             sets["dedicated"]), format_cpu_list(sets["shared"]))))
    isolate = value.get("isolate", False)
    if not isinstance(isolate, bool):
        errs.append((path + ".isolate", "expected true or false, got %s" % _shown(isolate)))
    elif isolate and value.get("dedicated") is None:
        errs.append((path + ".isolate", "isolates cpu.dedicated, which is not set"))
    reserved = value.get("reserved_host_memory_mb")
    if reserved is not None and (not _is_int(reserved) or reserved < 0):
        errs.append((path + ".reserved_host_memory_mb", "must be a whole number of MiB, 0 or more, got %s"
                     % _shown(reserved)))
    if len(errs) != before:
        return None
    return {
        "dedicated": format_cpu_list(sets["dedicated"]) if "dedicated" in sets else None,
        "shared": format_cpu_list(sets["shared"]) if "shared" in sets else None,
        "isolate": isolate,
        "reserved_host_memory_mb": reserved,
    }


def validate(profile, path="passthrough"):
    """``normalise()`` that raises PassthroughError on any problem."""
    normal, errs = normalise(profile, path)
    if errs:
        raise PassthroughError(errs)
    return normal


def merge(group_profile, host_profile):
    """The effective profile of a host: the host's keys replace its group's, key by key.

    Both are normal forms (or None). A host key set to null removes the group's value. Returns None
    when the result has no devices, hugepages or cpu (an ``iommu`` alone configures nothing).
    """
    merged = dict(group_profile or {})
    merged.update(host_profile or {})
    merged = {key: value for key, value in merged.items() if value not in (None, [])}
    if not any(key in merged for key in ("devices", "hugepages", "cpu")):
        return None
    return {
        "devices": merged.get("devices", []),
        "hugepages": merged.get("hugepages"),
        "cpu": merged.get("cpu"),
        "iommu": merged.get("iommu", "auto"),
    }


# ---------------------------------------------------------------- aliases

def alias_entry(device):
    """The ``[pci] alias`` of a normalised device as a dict, or None (SR-IOV NIC without alias)."""
    if not device.get("alias"):
        return None
    if device["type"] == "nic_pf" and device.get("vfs"):
        pci_id, device_type = device["vf_id"], "type-VF"
    else:
        pci_id, device_type = device["id"], NOVA_DEVICE_TYPES[device["type"]]
    vendor, product = pci_id.split(":")
    return {"name": device["alias"], "vendor_id": vendor, "product_id": product, "device_type": device_type}


def _describe(entry):
    return "%s:%s (%s)" % (entry["vendor_id"], entry["product_id"], entry["device_type"])


def alias_union(profiles, sources=None):
    """The ``[pci] alias`` entries the nova API and scheduler need: every alias of every host, once.

    ``profiles`` maps host name -> normalised profile (None: no profile). ``sources`` may map a host
    to the key path its devices come from, for messages. Raises PassthroughError when one alias name
    means different devices on two hosts, naming both.
    """
    sources = sources or {}
    seen, out, errs = {}, [], []
    for host, profile in profiles.items():
        for index, device in enumerate((profile or {}).get("devices") or []):
            entry = alias_entry(device)
            if entry is None:
                continue
            where = "%s.devices[%d]" % (sources.get(host, host), index)
            first = seen.get(entry["name"])
            if first is None:
                seen[entry["name"]] = (host, where, entry)
                out.append(entry)
            elif first[2] != entry:
                errs.append((where + ".alias", "alias '%s' is %s on host %s but %s on host %s (%s); one alias names "
                             "one kind of device across the cloud" % (entry["name"], _describe(entry), host,
                                                                      _describe(first[2]), first[0], first[1])))
    if errs:
        raise PassthroughError(errs)
    return out


def to_json(entry):
    """A nova JSON option value (device_spec, alias): compact keys in a fixed order, one line."""
    return json.dumps(entry, separators=(", ", ": "))


# ---------------------------------------------------------------- host facts

def host_info(facts):
    """The few host facts the derivation needs, from Ansible facts (``ansible_facts``) or a dict of them.

    Returns ``{"hostname", "cpu_vendor", "memtotal_mb", "interfaces": {netdev: PCI address}}``; missing
    facts are None (empty for interfaces).
    """
    facts = facts or {}
    if "cpu_vendor" in facts or isinstance(facts.get("interfaces"), dict):
        info = {"hostname": None, "cpu_vendor": None, "memtotal_mb": None}
        info.update(facts)
        info["interfaces"] = dict(info.get("interfaces") or {})
        return info
    processor = [item for item in facts.get("processor") or [] if isinstance(item, str)]
    known = [item for item in processor if item in CPU_VENDORS]
    # processor is [index, vendor, model, index, vendor, model, ...] on x86
    vendor = known[0] if known else (processor[1] if len(processor) > 1 else None)
    interfaces = {}
    for value in facts.values():
        if isinstance(value, dict) and value.get("device") and value.get("pciid"):
            try:
                interfaces[value["device"]] = parse_pci_address(value["pciid"])
            except ValueError:
                continue
    return {
        "hostname": facts.get("hostname"),
        "cpu_vendor": vendor,
        "memtotal_mb": facts.get("memtotal_mb"),
        "interfaces": interfaces,
    }


def iommu_of(profile, cpu_vendor):
    """``intel`` or ``amd``: the profile's choice, or the CPU vendor's for ``auto``; ValueError if unknown."""
    choice = profile.get("iommu") or "auto"
    if choice != "auto":
        return choice
    if cpu_vendor in CPU_VENDORS:
        return CPU_VENDORS[cpu_vendor]
    raise ValueError("iommu: auto cannot tell the IOMMU from the CPU vendor %s; set iommu: intel or amd"
                     % ("'%s'" % cpu_vendor if cpu_vendor else "(unknown: no CPU facts)"))


def reserved_memory_mb(profile):
    cpu = profile.get("cpu") or {}
    reserved = cpu.get("reserved_host_memory_mb")
    return NOVA_RESERVED_HOST_MEMORY_MB if reserved is None else reserved


def hugepages_mb(profile):
    pages = profile.get("hugepages")
    return pages["count"] * HUGEPAGE_SIZES[pages["size"]] // 1024 if pages else 0


def memory_problem(profile, memtotal_mb, host=None):
    """A message when the hugepages do not fit the host's memory, else None."""
    requested = hugepages_mb(profile)
    if not requested or memtotal_mb is None:
        return None
    reserved = reserved_memory_mb(profile)
    available = int(memtotal_mb) - reserved
    if requested < available:
        return None
    pages = profile["hugepages"]
    return ("%shugepages %d x %s = %d MiB requested, but only %d MiB are available (MemTotal %d MiB minus "
            "reserved_host_memory_mb %d MiB); lower hugepages.count"
            % ("host %s: " % host if host else "", pages["count"], pages["size"], requested, max(available, 0),
               int(memtotal_mb), reserved))


# ---------------------------------------------------------------- derivation

def _vfio_by_id(device):
    """Bound to vfio-pci by vendor:product (vfio-pci.ids): matched by ID only, not an SR-IOV PF."""
    return bool(device["id"]) and not device["address"] and not device["interface"] and not device.get("vfs")


def _pf_address(device, info):
    if device["address"]:
        return device["address"]
    return info["interfaces"].get(device["interface"]) if device["interface"] else None


def _pf_interface(device, info):
    if device["interface"]:
        return device["interface"]
    for name, address in sorted(info["interfaces"].items()):
        if address == device["address"]:
            return name
    return None


def kernel_args(profile, cpu_vendor):
    """The kernel command line arguments of a profile, in a fixed order."""
    args = []
    devices = profile.get("devices") or []
    if devices:
        args += [IOMMU_ARGS[iommu_of(profile, cpu_vendor)], "iommu=pt"]
    pages = profile.get("hugepages")
    if pages:
        args += ["default_hugepagesz=%s" % pages["size"], "hugepagesz=%s" % pages["size"],
                 "hugepages=%d" % pages["count"]]
    cpu = profile.get("cpu") or {}
    if cpu.get("isolate") and cpu.get("dedicated"):
        args += ["%s=%s" % (name, cpu["dedicated"]) for name in ("isolcpus", "nohz_full", "rcu_nocbs")]
    ids = vfio_pci_ids(profile)
    if ids:
        args.append("vfio-pci.ids=%s" % ",".join(ids))
    return args


def vfio_pci_ids(profile):
    return list(dict.fromkeys(d["id"] for d in profile.get("devices") or [] if _vfio_by_id(d)))


def derive(profile, facts=None, host=None, release=None):
    """Every setting of a host's passthrough profile; raises PassthroughError when facts contradict it.

    ``profile``: a profile as in the topology or its normal form (the host var ``lxstack_passthrough``).
    ``facts``: Ansible facts of the host (processor vendor, memtotal_mb, interfaces' PCI addresses) or
    the dict ``host_info()`` returns. ``release``: the OpenStack release (``lxstack_release``).
    """
    profile = merge(None, validate(profile)) or {"devices": [], "hugepages": None, "cpu": None, "iommu": "auto"}
    info = host_info(facts)
    host = host or info.get("hostname")
    errs = []
    if release is not None and release not in REPORT_IN_PLACEMENT:
        errs.append(("release", "unknown release '%s'; known: %s" % (release, ", ".join(REPORT_IN_PLACEMENT))))
    problem = memory_problem(profile, info.get("memtotal_mb"), host)
    if problem:
        errs.append(("passthrough.hugepages", problem))
    devices = profile["devices"]
    try:
        args = kernel_args(profile, info.get("cpu_vendor"))
    except ValueError as exc:
        errs.append(("passthrough.iommu", "%s%s" % ("host %s: " % host if host else "", exc)))
        args = []
    device_spec, sriov_vfs, vfio_bind, mappings = [], [], [], []
    for index, device in enumerate(devices):
        dpath = "passthrough.devices[%d]" % index
        if device["type"] == "nic_pf" and device["vfs"]:
            address, interface = _pf_address(device, info), _pf_interface(device, info)
            missing = [name for name, value in (("address", address), ("interface", interface)) if not value]
            if missing:
                errs.append((dpath, "%scannot find the %s of %s in the host's facts; set it in the profile"
                             % ("host %s: " % host if host else "", " and ".join(missing),
                                device["interface"] or device["address"])))
                continue
            # by PCI address: nova matches the VFs of a PF by its address, and refuses devname with
            # [pci] report_in_placement
            device_spec.append({"address": address, "physical_network": device["physnet"]})
            sriov_vfs.append({"address": address, "interface": interface, "vfs": device["vfs"]})
            mappings.append("%s:%s" % (device["physnet"], interface))
            continue
        address = device["address"] or (_pf_address(device, info) if device["interface"] else None)
        if device["interface"] and not address:
            errs.append((dpath, "%scannot find the PCI address of %s in the host's facts; set address"
                         % ("host %s: " % host if host else "", device["interface"])))
            continue
        if address:
            device_spec.append({"address": address})
            vfio_bind.append(address)
        else:
            vendor, product = device["id"].split(":")
            device_spec.append({"vendor_id": vendor, "product_id": product})
    if errs:
        raise PassthroughError(errs)
    device_spec = list({to_json(spec): spec for spec in device_spec}.values())
    aliases = alias_union({host or "this host": profile})
    ids = vfio_pci_ids(profile)
    blacklist = list(dict.fromkeys(d for device in devices for d in device["driver_blacklist"]))
    cpu = profile.get("cpu") or {}
    pages = profile.get("hugepages")
    extra = {}
    if cpu.get("dedicated") and not cpu.get("shared"):
        extra["hw:cpu_policy"] = "dedicated"   # no shared CPUs: an unpinned guest has nowhere to run
    if pages:
        extra["hw:mem_page_size"] = "large"
    filters = []
    if devices:
        filters.append("PciPassthroughFilter")
    if cpu.get("dedicated") or pages:
        filters.append("NUMATopologyFilter")
    physnets = list(dict.fromkeys(d["physnet"] for d in devices if d["type"] == "nic_pf" and d["vfs"]))
    return {
        "kernel": {
            "args": args,
            "iommu": iommu_of(profile, info.get("cpu_vendor")) if devices else None,
            "grub_path": GRUB_DROPIN,
            "grub_text": grub_text(args),
        },
        "modprobe": {
            "path": MODPROBE_FILE,
            "vfio_pci_ids": ids,
            "blacklist": blacklist,
            "text": modprobe_text(ids, blacklist),
        },
        "vfio_bind": vfio_bind,
        "sriov_vfs": sriov_vfs,
        "hugepages": {"size": pages["size"], "size_kb": HUGEPAGE_SIZES[pages["size"]], "count": pages["count"],
                      "total_mb": hugepages_mb(profile)} if pages else None,
        "nova": {
            "pci_device_spec": [to_json(spec) for spec in device_spec],
            "pci_alias": [to_json(entry) for entry in aliases],
            "pci_report_in_placement": bool(devices) and REPORT_IN_PLACEMENT.get(release, True),
            "scheduler_filters": filters,
            "cpu_dedicated_set": cpu.get("dedicated"),
            "cpu_shared_set": cpu.get("shared"),
            "reserved_host_memory_mb": cpu.get("reserved_host_memory_mb"),
            "flavors": [{"alias": entry["name"],
                         "extra_specs": dict({"pci_passthrough:alias": "%s:1" % entry["name"]}, **extra)}
                        for entry in aliases],
        },
        "neutron": {
            "sriov_agent": bool(mappings),
            "physical_device_mappings": mappings,
            "physnets": physnets,
            "ml2_mechanism_drivers": ["sriovnicswitch"] if mappings else [],
        },
    }


def grub_text(args):
    """The GRUB drop-in: appends the arguments to GRUB_CMDLINE_LINUX_DEFAULT (empty text without any)."""
    if not args:
        return ""
    return ("# Managed by lxstack.openstack from the host's passthrough profile: do not edit.\n"
            "# Takes effect after update-grub and a reboot.\n"
            'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT %s"\n' % " ".join(args))


def modprobe_text(ids, blacklist):
    """modprobe.d: vfio-pci claims the devices by ID, before any blacklisted host driver could."""
    if not ids and not blacklist:
        return ""
    lines = ["# Managed by lxstack.openstack from the host's passthrough profile: do not edit."]
    if ids:
        lines.append("options vfio-pci ids=%s" % ",".join(ids))
    lines += ["softdep %s pre: vfio-pci" % driver for driver in blacklist]
    lines += ["blacklist %s" % driver for driver in blacklist]
    return "\n".join(lines) + "\n"
