# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""passthrough_settings and passthrough_aliases: the derivation of module_utils/passthrough.py as roles call
it, from a template, with Ansible facts (the rules themselves: tests/unit/plugins/module_utils)."""

from __future__ import annotations

import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "collections"))

from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible.template import Templar, trust_as_template  # noqa: E402
from ansible_collections.lxstack.openstack.plugins.filter import passthrough  # noqa: E402

PROFILE = {
    "devices": [{"alias": "gpu-t4", "type": "gpu", "id": "10de:1eb8"},
                {"type": "nic_pf", "interface": "ens1f0", "vfs": 8, "physnet": "sriovnet1"}],
    "hugepages": {"size": "1G", "count": 16},
}
FACTS = {"hostname": "compute1", "processor": ["0", "GenuineIntel", "Xeon"], "memtotal_mb": 65536,
         "interfaces": ["lo", "ens1f0"], "ens1f0": {"device": "ens1f0", "pciid": "0000:3b:00.0"}}


def test_settings_through_a_template():
    templar = Templar(variables={"lxstack_passthrough": PROFILE, "ansible_facts": FACTS, "lxstack_release": "2026.2"})
    expr = trust_as_template("{{ lxstack_passthrough | lxstack.openstack.passthrough_settings(ansible_facts, "
                             "release=lxstack_release) }}")
    settings = templar.template(expr)
    assert settings["kernel"]["args"] == ["intel_iommu=on", "iommu=pt", "default_hugepagesz=1G", "hugepagesz=1G",
                                          "hugepages=16", "vfio-pci.ids=10de:1eb8"]
    assert settings["sriov_vfs"] == [{"address": "0000:3b:00.0", "interface": "ens1f0", "vfs": 8}]
    assert settings["nova"]["pci_device_spec"] == [
        '{"vendor_id": "10de", "product_id": "1eb8"}',
        '{"address": "0000:3b:00.0", "physical_network": "sriovnet1"}']
    assert settings["nova"]["pci_report_in_placement"] is True
    assert settings["neutron"]["physical_device_mappings"] == ["sriovnet1:ens1f0"]


def test_settings_name_the_host_and_the_memory():
    with pytest.raises(AnsibleFilterError) as info:
        passthrough.passthrough_settings(dict(PROFILE, hugepages={"size": "1G", "count": 64}), FACTS,
                                         host="compute1")
    assert str(info.value) == (
        "passthrough_settings: passthrough.hugepages: host compute1: hugepages 64 x 1G = 65536 MiB requested, "
        "but only 65024 MiB are available (MemTotal 65536 MiB minus reserved_host_memory_mb 512 MiB); "
        "lower hugepages.count")


@pytest.mark.parametrize("profile, facts, message", [
    ([1], None, "passthrough_settings: the profile must be a mapping (lxstack_passthrough), got list"),
    (PROFILE, "facts", "passthrough_settings: facts must be a mapping (ansible_facts), got str"),
    ({"cpu": {"dedicated": "2-7", "shared": "7"}}, None,
     "passthrough_settings: passthrough.cpu.shared: CPU 7 is in both cpu.dedicated (2-7) and cpu.shared (7)"),
    ({"devices": [{"alias": "t4", "type": "gpu", "id": "10de:1eb8"}]}, {"memtotal_mb": 1024},
     "passthrough_settings: passthrough.iommu: iommu: auto cannot tell the IOMMU from the CPU vendor (unknown"),
])
def test_settings_refuse(profile, facts, message):
    with pytest.raises(AnsibleFilterError) as info:
        passthrough.passthrough_settings(profile, facts)
    assert str(info.value).startswith(message), str(info.value)


def test_aliases_of_many_hosts_from_hostvars():
    hostvars = {"c1": {"lxstack_passthrough": PROFILE}, "c2": {},
                "c3": {"lxstack_passthrough": {"devices": [{"alias": "gpu-t4", "type": "gpu", "id": "10de:1eb8"},
                                                           {"alias": "qat", "type": "pci", "id": "8086:4940"}]}}}
    templar = Templar(variables={"hosts": ["c1", "c2", "c3"], "hostvars": hostvars})
    expr = trust_as_template("{{ dict(hosts | zip(hosts | map('extract', hostvars) | map(attribute="
                             "'lxstack_passthrough', default={}))) | lxstack.openstack.passthrough_aliases(true) }}")
    assert templar.template(expr) == [
        '{"name": "gpu-t4", "vendor_id": "10de", "product_id": "1eb8", "device_type": "type-PCI"}',
        '{"name": "qat", "vendor_id": "8086", "product_id": "4940", "device_type": "type-PCI"}']


def test_aliases_conflict_names_both_hosts():
    other = {"devices": [{"alias": "gpu-t4", "type": "gpu", "id": "10de:2236"}]}
    with pytest.raises(AnsibleFilterError) as info:
        passthrough.passthrough_aliases({"c1": PROFILE, "c2": other})
    assert str(info.value) == (
        "passthrough_aliases: c2.lxstack_passthrough.devices[0].alias: alias 'gpu-t4' is 10de:2236 (type-PCI) on "
        "host c2 but 10de:1eb8 (type-PCI) on host c1 (c1.lxstack_passthrough.devices[0]); one alias names one kind "
        "of device across the cloud")


def test_aliases_refuse_a_bad_profile_or_input():
    with pytest.raises(AnsibleFilterError, match=r"c1\.lxstack_passthrough\.devices\[0\]\.id: '10de' is not"):
        passthrough.passthrough_aliases({"c1": {"devices": [{"alias": "t4", "type": "gpu", "id": "10de"}]}})
    with pytest.raises(AnsibleFilterError, match="expected a mapping of host name to profile, got list"):
        passthrough.passthrough_aliases([PROFILE])
