#!/usr/bin/python
# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check a compute host against its passthrough profile, changing nothing."""

from __future__ import annotations

DOCUMENTATION = r"""
module: passthrough_check
short_description: Check a compute host against its passthrough profile (devices, VFs, IOMMU, hugepages, kernel)
version_added: 0.1.0
author:
  - lxstack contributors (@lxstack)
description:
  - Reads C(/proc) and C(/sys) of the host and reports what stands between it and its passthrough profile
    (the host variable C(lxstack_passthrough) of the topology inventory plugin, described in
    C(docs/topology.md), "Passthrough profiles"). Changes nothing.
  - "Problems (RV(failures)), each naming the device or key and the fix: no virtualization extensions (C(vmx) or
    C(svm) flag) when the profile has devices (without devices it is a warning: hugepages and CPU sets also serve
    guests under software emulation); the kernel has the IOMMU arguments but there are no IOMMU groups (VT-d or
    AMD-Vi off in the firmware); a device of the profile absent (by vendor:product ID, PCI address or interface), or
    another device at its address; an SR-IOV NIC without SR-IOV, or with fewer VFs (C(sriov_totalvfs)) than asked,
    or whose VFs have another ID than C(vf_id); hugepages that do not fit below MemTotal minus
    C(reserved_host_memory_mb), or 1G pages on a CPU without C(pdpe1gb); CPUs of C(cpu.dedicated) or C(cpu.shared)
    that the host does not have."
  - Reported, and not a problem, are the kernel arguments of the profile that C(/proc/cmdline) lacks
    (RV(missing_kernel_args)); then RV(reboot_required) is true, since they take effect at the next boot.
  - The task fails when there are problems, unless O(fail_on_error=false).
  - The kernel arguments and the rules are those of the C(lxstack.openstack.passthrough_settings) filter
    (C(plugins/module_utils/passthrough.py)).
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
options:
  profile:
    description:
      - The passthrough profile, as in the topology or its normal form (C(lxstack_passthrough)).
    type: dict
    required: true
  root:
    description:
      - The directory holding C(proc) and C(sys) to read, for tests against a copy; C(/) on a host.
    type: path
    default: /
  fail_on_error:
    description:
      - Fail the task when there are problems. V(false) only reports them in RV(failures).
    type: bool
    default: true
notes:
  - The kernel arguments are compared token by token with C(/proc/cmdline); C(hugepages=8) does not satisfy
    a profile asking for C(hugepages=16).
"""

EXAMPLES = r"""
- name: Check the compute host against its passthrough profile
  lxstack.openstack.passthrough_check:
    profile: "{{ lxstack_passthrough }}"
  when: lxstack_passthrough is defined
  register: _passthrough_check

- name: Only report
  lxstack.openstack.passthrough_check:
    profile: "{{ lxstack_passthrough }}"
    fail_on_error: false
  register: _passthrough_report
"""

RETURN = r"""
failures:
  description: The problems found, each naming the device or key and the fix. Empty when the host fits.
  returned: always
  type: list
  elements: str
  sample:
    - "device gpu-t4 (gpu 10de:1eb8): no PCI device with this vendor:product ID; seat the card, or correct id
      (lspci -nn lists the devices)"
virtualization:
  description:
    - Whether the CPU has virtualization extensions (C(vmx) or C(svm)). Without them a profile with devices fails;
      one without devices only warns.
  returned: always
  type: bool
  sample: true
reboot_required:
  description: Whether kernel arguments of the profile are missing from the running kernel's command line.
  returned: always
  type: bool
  sample: true
missing_kernel_args:
  description: The kernel arguments of the profile that C(/proc/cmdline) lacks.
  returned: always
  type: list
  elements: str
  sample: [intel_iommu=on, iommu=pt]
kernel_args:
  description: Every kernel argument of the profile on this host, in order.
  returned: always
  type: list
  elements: str
  sample: [intel_iommu=on, iommu=pt, default_hugepagesz=1G, hugepagesz=1G, hugepages=16]
devices:
  description: Each device of the profile with the PCI addresses found for it.
  returned: always
  type: list
  elements: dict
  sample: [{name: gpu-t4, addresses: ["0000:af:00.0"]}]
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lxstack.openstack.plugins.module_utils import passthrough as pt

PCI_DEVICES = "sys/bus/pci/devices"


def _read(root, *parts):
    """The stripped text of a file under root, None when it cannot be read."""
    try:
        with open(os.path.join(root, *parts), encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _int(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _hex(text):
    """``0x10de`` -> ``10de``."""
    return text.lower()[2:] if text and text.lower().startswith("0x") else (text or "").lower()


def read_host(root):
    """What the checks need of the host under root."""
    cpuinfo = _read(root, "proc", "cpuinfo") or ""
    vendor, flags, cpus = None, set(), set()
    for line in cpuinfo.splitlines():
        key, _sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "vendor_id" and vendor is None:
            vendor = value
        elif key == "flags":
            flags.update(value.split())
        elif key == "processor" and _int(value) is not None:
            cpus.add(int(value))
    memtotal_mb = None
    for line in (_read(root, "proc", "meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            memtotal_mb = _int(line.split()[1]) // 1024 if _int(line.split()[1]) is not None else None
    devices = {}
    base = os.path.join(root, PCI_DEVICES)
    for address in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        net = os.path.join(base, address, "net")
        devices[address] = {
            "id": "%s:%s" % (_hex(_read(base, address, "vendor")), _hex(_read(base, address, "device"))),
            "totalvfs": _int(_read(base, address, "sriov_totalvfs")),
            "numvfs": _int(_read(base, address, "sriov_numvfs")),
            "vf_device": _hex(_read(base, address, "sriov_vf_device")) or None,
            "net": sorted(os.listdir(net)) if os.path.isdir(net) else [],
        }
    groups = os.path.join(root, "sys", "kernel", "iommu_groups")
    return {
        "cpu_vendor": vendor,
        "flags": flags,
        "cpus": sorted(cpus),
        "memtotal_mb": memtotal_mb,
        "cmdline": (_read(root, "proc", "cmdline") or "").split(),
        "iommu_groups": len(os.listdir(groups)) if os.path.isdir(groups) else 0,
        "devices": devices,
    }


def _label(device):
    what = " ".join(x for x in (device["type"], device["id"] or device["interface"] or device["address"]) if x)
    return "device %s (%s)" % (device["alias"] or device["interface"] or device["address"], what)


def _find(device, host):
    """(addresses found, failure or None) for one device of the profile."""
    label = _label(device)
    pci = host["devices"]
    if device["address"]:
        found = pci.get(device["address"])
        if found is None:
            return [], ("%s: no PCI device at %s; correct address (lspci -D lists the devices) or seat the card"
                        % (label, device["address"]))
        if device["id"] and found["id"] != device["id"]:
            return [], ("%s: the device at %s is %s, not %s; correct id or address (lspci -nn -s %s)"
                        % (label, device["address"], found["id"], device["id"], device["address"]))
        if device["interface"] and device["interface"] not in found["net"]:
            return [], ("%s: the device at %s has no interface %s (it has: %s); correct interface or address"
                        % (label, device["address"], device["interface"], ", ".join(found["net"]) or "none"))
        return [device["address"]], None
    if device["interface"]:
        matches = [address for address, found in pci.items() if device["interface"] in found["net"]]
        if not matches:
            return [], ("%s: no PCI network interface %s; correct interface (ip link lists them) or give address"
                        % (label, device["interface"]))
        if device["id"] and pci[matches[0]]["id"] != device["id"]:
            return [], ("%s: %s is %s at %s, not %s; correct id or interface"
                        % (label, device["interface"], pci[matches[0]]["id"], matches[0], device["id"]))
        return matches, None
    matches = [address for address, found in pci.items() if found["id"] == device["id"]]
    if not matches:
        return [], ("%s: no PCI device with this vendor:product ID; seat the card, or correct id (lspci -nn lists "
                    "the devices)" % label)
    return matches, None


def _check_vfs(device, address, host):
    label, found = _label(device), host["devices"][address]
    if found["totalvfs"] is None:
        return ("%s: %s has no SR-IOV (no sriov_totalvfs); turn SR-IOV on in the firmware setup and the NIC's "
                "firmware, or set vfs: 0" % (label, address))
    if found["totalvfs"] < device["vfs"]:
        return ("%s: %s supports at most %d VFs (sriov_totalvfs) but vfs is %d; lower vfs, or raise the VF count "
                "in the NIC's firmware" % (label, address, found["totalvfs"], device["vfs"]))
    if device["vf_id"] and found["vf_device"] and device["vf_id"] != "%s:%s" % (found["id"][:4], found["vf_device"]):
        return ("%s: the VFs of %s are %s:%s, not %s; correct vf_id"
                % (label, address, found["id"][:4], found["vf_device"], device["vf_id"]))
    return None


def check(profile, root):
    """The result of the module for a validated profile (raises PassthroughError for a bad one)."""
    profile = pt.merge(None, pt.validate(profile)) or {"devices": [], "hugepages": None, "cpu": None, "iommu": "auto"}
    host = read_host(root)
    failures, devices, warnings = [], [], []
    if not host["flags"] & {"vmx", "svm"}:
        # a device goes to a guest through VFIO, which needs KVM; hugepages and CPU sets alone serve
        # guests under software emulation too
        (failures if profile["devices"] else warnings).append(
            "the CPU has no virtualization extensions (no vmx or svm flag in /proc/cpuinfo); turn on Intel VT-x or "
            "AMD-V (SVM) in the firmware setup")
    try:
        args = pt.kernel_args(profile, host["cpu_vendor"])
    except ValueError as exc:
        failures.append(str(exc))
        args = pt.kernel_args(dict(profile, devices=[]), host["cpu_vendor"])
    if profile["devices"]:
        iommu_args = [arg for arg in pt.IOMMU_ARGS.values() if arg in args]
        if iommu_args and iommu_args[0] in host["cmdline"] and not host["iommu_groups"]:
            failures.append("the kernel runs with %s but has no IOMMU groups (/sys/kernel/iommu_groups is empty); "
                            "turn on VT-d (Intel) or AMD-Vi (AMD IOMMU) in the firmware setup" % iommu_args[0])
    for device in profile["devices"]:
        addresses, failure = _find(device, host)
        devices.append({"name": device["alias"] or device["interface"] or device["address"], "addresses": addresses})
        if failure is None and device["type"] == "nic_pf" and device["vfs"]:
            failure = _check_vfs(device, addresses[0], host)
        if failure:
            failures.append(failure)
    problem = pt.memory_problem(profile, host["memtotal_mb"])
    if problem:
        failures.append(problem)
    pages = profile["hugepages"]
    if pages and pages["size"] == "1G" and host["flags"] and "pdpe1gb" not in host["flags"]:
        failures.append("hugepages: the CPU has no 1G pages (no pdpe1gb flag in /proc/cpuinfo); use size 2M")
    cpu = profile["cpu"] or {}
    for key in ("dedicated", "shared"):
        if cpu.get(key) and host["cpus"]:
            absent = sorted(set(pt.parse_cpu_list(cpu[key])) - set(host["cpus"]))
            if absent:
                failures.append("cpu.%s: this host has no CPU %s (it has %s); correct cpu.%s"
                                % (key, pt.format_cpu_list(absent), pt.format_cpu_list(host["cpus"]), key))
    missing = [arg for arg in args if arg not in host["cmdline"]]
    return {
        "changed": False,
        "failures": failures,
        "reboot_required": bool(missing),
        "missing_kernel_args": missing,
        "kernel_args": args,
        "devices": devices,
        "virtualization": bool(host["flags"] & {"vmx", "svm"}),
        "warnings": warnings,
    }


def main():
    module = AnsibleModule(
        argument_spec={
            "profile": {"type": "dict", "required": True},
            "root": {"type": "path", "default": "/"},
            "fail_on_error": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    try:
        result = check(module.params["profile"], module.params["root"])
    except pt.PassthroughError as exc:
        module.fail_json(msg="invalid passthrough profile: %s" % exc, failures=[], reboot_required=False,
                         missing_kernel_args=[], kernel_args=[], devices=[], virtualization=False)
    if result["failures"] and module.params["fail_on_error"]:
        result.pop("warnings", None)
        module.fail_json(msg="passthrough check: %d problem%s: %s" % (
            len(result["failures"]), "" if len(result["failures"]) == 1 else "s", "; ".join(result["failures"])),
            **result)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
