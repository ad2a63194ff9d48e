# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The passthrough profile: validation, normal form, host over group, aliases across hosts and every
derived setting (cases in test_passthrough.yaml)."""

from __future__ import annotations

import json
import pathlib

import pytest
import yaml
from ansible_collections.lxstack.openstack.plugins.module_utils import passthrough as pt

CASES = yaml.safe_load(pathlib.Path(__file__).with_suffix(".yaml").read_text())


def _profile(case):
    profile = case["profile"]
    return CASES["profiles"][profile] if isinstance(profile, str) else profile


def _subset(expected, got, where="settings"):
    """Every key of ``expected`` is in ``got`` with that exact value (nested mappings compared key by key)."""
    for key, value in expected.items():
        assert key in got, "%s.%s missing" % (where, key)
        if isinstance(value, dict) and isinstance(got[key], dict) and key not in ("extra_specs",):
            _subset(value, got[key], "%s.%s" % (where, key))
        else:
            assert got[key] == value, "%s.%s" % (where, key)


@pytest.mark.parametrize("case", CASES["derive"], ids=lambda c: c["id"])
def test_derive(case):
    settings = pt.derive(_profile(case), case["facts"], release=case.get("release"))
    _subset(case["expect"], settings)
    for text in settings["nova"]["pci_device_spec"] + settings["nova"]["pci_alias"]:
        assert isinstance(json.loads(text), dict)   # what oslo.config hands nova: one JSON object each


@pytest.mark.parametrize("case", CASES["derive_errors"], ids=lambda c: c["id"])
def test_derive_errors(case):
    with pytest.raises(pt.PassthroughError) as info:
        pt.derive(_profile(case), case["facts"], host=case.get("host"), release=case.get("release"))
    assert len(info.value.errors) == len(case["errors"]), info.value.errors
    for (path, reason), (got_path, got_reason) in zip(case["errors"], info.value.errors, strict=True):
        assert got_path == path and reason in got_reason, (got_path, got_reason)


@pytest.mark.parametrize("case", CASES["bad"], ids=lambda c: c["id"])
def test_bad_profile(case):
    _normal, errors = pt.normalise(case["profile"])
    assert len(errors) == len(case["errors"]), errors
    for path, reason in case["errors"]:
        assert any(got_path == path and reason in got_reason for got_path, got_reason in errors), (path, reason, errors)


def test_validate_raises_with_every_error():
    with pytest.raises(pt.PassthroughError) as info:
        pt.validate({"hugepages": {"size": "4M", "count": 0}}, "host_groups.compute.passthrough")
    assert [path for path, _reason in info.value.errors] == [
        "host_groups.compute.passthrough.hugepages.size", "host_groups.compute.passthrough.hugepages.count"]
    assert str(info.value).startswith("host_groups.compute.passthrough.hugepages.size: '4M' is not one of")


@pytest.mark.parametrize("name", sorted(CASES["profiles"]))
def test_normal_form_is_stable(name):
    normal = pt.validate(CASES["profiles"][name])
    assert pt.validate(normal) == normal
    assert normal["cpu"] == {"dedicated": "4-15", "shared": "0-3", "isolate": True, "reserved_host_memory_mb": 4096}
    assert normal["devices"][0]["driver_blacklist"] == ["nouveau"]    # defaulted by vendor
    assert normal["devices"][1]["vfs"] == 8


def test_normal_form_lowercases_and_fills_defaults():
    normal = pt.validate({"devices": [{"alias": "x", "type": "pci", "id": "8086:0B25", "address": "6B:00.0"}]})
    assert normal == {"devices": [{
        "alias": "x", "type": "pci", "id": "8086:0b25", "address": "0000:6b:00.0", "interface": None, "vfs": None,
        "physnet": None, "vf_id": None, "driver_blacklist": []}]}


GROUP = pt.validate({
    "devices": [{"alias": "t4", "type": "gpu", "id": "10de:1eb8"}],
    "hugepages": {"size": "1G", "count": 8},
    "cpu": {"dedicated": "2-7", "isolate": True},
})


@pytest.mark.parametrize("host, expected", [
    (None, {"devices": GROUP["devices"], "hugepages": {"size": "1G", "count": 8},
            "cpu": GROUP["cpu"], "iommu": "auto"}),
    # the host's keys replace the group's one by one; the rest stays
    ({"hugepages": {"size": "2M", "count": 512}, "iommu": "amd"},
     {"devices": GROUP["devices"], "hugepages": {"size": "2M", "count": 512}, "cpu": GROUP["cpu"], "iommu": "amd"}),
    # a list is replaced whole, never appended to
    ({"devices": [{"alias": "a100", "type": "gpu", "id": "10de:20b0"}]},
     {"devices": pt.validate({"devices": [{"alias": "a100", "type": "gpu", "id": "10de:20b0"}]})["devices"],
      "hugepages": {"size": "1G", "count": 8}, "cpu": GROUP["cpu"], "iommu": "auto"}),
    # null removes the group's key
    ({"devices": None, "cpu": None},
     {"devices": [], "hugepages": {"size": "1G", "count": 8}, "cpu": None, "iommu": "auto"}),
    # nothing left: no profile at all
    ({"devices": None, "cpu": None, "hugepages": None}, None),
    ({"devices": [], "cpu": None, "hugepages": None, "iommu": "intel"}, None),
])
def test_host_keys_replace_the_group_keys(host, expected):
    host = pt.validate(host) if host is not None else None
    assert pt.merge(GROUP, host) == expected


def test_merge_without_a_group_profile():
    assert pt.merge(None, None) is None
    assert pt.merge(None, pt.validate({"cpu": {"shared": "0-1"}}))["cpu"]["shared"] == "0-1"


def _gpu(alias, pci_id, kind="gpu"):
    return pt.validate({"devices": [{"alias": alias, "type": kind, "id": pci_id}]})


def test_alias_union_once_each_in_host_order():
    profiles = {"c1": _gpu("t4", "10de:1eb8"), "c2": None, "c3": _gpu("t4", "10de:1eb8"),
                "c4": pt.validate({"devices": [{"alias": "fpga", "type": "pci", "id": "1172:5052"},
                                               {"type": "nic_pf", "interface": "ens1f0", "vfs": 2, "physnet": "p"}]})}
    assert pt.alias_union(profiles) == [
        {"name": "t4", "vendor_id": "10de", "product_id": "1eb8", "device_type": "type-PCI"},
        {"name": "fpga", "vendor_id": "1172", "product_id": "5052", "device_type": "type-PCI"},
    ]
    assert pt.alias_union({}) == []


def test_alias_conflict_across_hosts_names_both():
    profiles = {"c1": _gpu("gpu", "10de:1eb8"), "c2": _gpu("gpu", "10de:2236"),
                "c3": _gpu("gpu", "10de:1eb8", "nic_pf")}
    sources = {"c1": "host_groups.gpu.passthrough", "c2": "host_groups.gpu.hosts.c2.passthrough"}
    with pytest.raises(pt.PassthroughError) as info:
        pt.alias_union(profiles, sources)
    assert info.value.errors == [
        ("host_groups.gpu.hosts.c2.passthrough.devices[0].alias",
         "alias 'gpu' is 10de:2236 (type-PCI) on host c2 but 10de:1eb8 (type-PCI) on host c1 "
         "(host_groups.gpu.passthrough.devices[0]); one alias names one kind of device across the cloud"),
        ("c3.devices[0].alias",
         "alias 'gpu' is 10de:1eb8 (type-PF) on host c3 but 10de:1eb8 (type-PCI) on host c1 "
         "(host_groups.gpu.passthrough.devices[0]); one alias names one kind of device across the cloud"),
    ]


@pytest.mark.parametrize("text, cpus, canonical", [
    ("0", [0], "0"), (3, [3], "3"), ("2-7,10", [2, 3, 4, 5, 6, 7, 10], "2-7,10"),
    ("10,2-3,4", [2, 3, 4, 10], "2-4,10"), ("5-5", [5], "5"), ("0-1,1-2", [0, 1, 2], "0-2"),
])
def test_cpu_lists(text, cpus, canonical):
    assert pt.parse_cpu_list(text) == cpus
    assert pt.format_cpu_list(cpus) == canonical


@pytest.mark.parametrize("text", ["", "2-", "-2", "a", "1,,2", "3-1", " 1", "1 ", -1, True, 1.5, None])
def test_bad_cpu_lists(text):
    with pytest.raises(ValueError):
        pt.parse_cpu_list(text)


@pytest.mark.parametrize("text, address", [
    ("0000:3b:00.0", "0000:3b:00.0"), ("3B:1F.7", "0000:3b:1f.7"), ("ABCD:ff:00.1", "abcd:ff:00.1")])
def test_pci_addresses(text, address):
    assert pt.parse_pci_address(text) == address


@pytest.mark.parametrize("text", ["3b:00", "0000:3b:20.0", "0000:3b:00.8", "00000:3b:00.0", "3b:00.0 ", 2.0])
def test_bad_pci_addresses(text):
    with pytest.raises(ValueError):
        pt.parse_pci_address(text)


def test_host_info_from_ansible_facts():
    info = pt.host_info({"hostname": "c1", "processor": ["0", "AuthenticAMD", "AMD EPYC"], "memtotal_mb": 1024,
                         "interfaces": ["ens1f0", "br_mgmt"], "ens1f0": {"device": "ens1f0", "pciid": "0000:3B:00.0"},
                         "br_mgmt": {"device": "br-mgmt"}})
    assert info == {"hostname": "c1", "cpu_vendor": "AuthenticAMD", "memtotal_mb": 1024,
                    "interfaces": {"ens1f0": "0000:3b:00.0"}}
    assert pt.host_info(None) == {"hostname": None, "cpu_vendor": None, "memtotal_mb": None, "interfaces": {}}
    assert pt.host_info({"cpu_vendor": "GenuineIntel"})["interfaces"] == {}
