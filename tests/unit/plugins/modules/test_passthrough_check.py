# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The passthrough_check module against host trees (proc/ and sys/ of tests/unit/fixtures/passthrough/hosts.yml,
written into tmp_path), in-process."""

from __future__ import annotations

import json
import pathlib
import shutil
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "collections"))

from ansible.module_utils.testing import patch_module_args  # noqa: E402
from ansible_collections.lxstack.openstack.plugins.modules import passthrough_check as mod  # noqa: E402

HOSTS = yaml.safe_load((ROOT / "tests" / "unit" / "fixtures" / "passthrough" / "hosts.yml").read_text())
PROFILE = {
    "devices": [
        {"alias": "gpu-t4", "type": "gpu", "id": "10de:1eb8"},
        {"alias": "x710-vf", "type": "nic_pf", "interface": "ens1f0", "vfs": 8, "physnet": "sriovnet1",
         "vf_id": "8086:154c"},
    ],
    "hugepages": {"size": "1G", "count": 16},
    "cpu": {"dedicated": "1", "shared": "0", "isolate": True, "reserved_host_memory_mb": 4096},
}
ARGS = ["intel_iommu=on", "iommu=pt", "default_hugepagesz=1G", "hugepagesz=1G", "hugepages=16", "isolcpus=1",
        "nohz_full=1", "rcu_nocbs=1", "vfio-pci.ids=10de:1eb8"]


def host_tree(tmp_path, name):
    """The host `name` of hosts.yml as a directory: the base host's files, with the variant's changes."""
    spec = HOSTS[name]
    files = dict(HOSTS["intel_gpu_sriov"]["files"])
    files.update(spec.get("set", {}))
    root = tmp_path / name
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text if text.endswith("\n") else text + "\n")
    for path in spec.get("remove", []):
        target = root / path
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    (root / "sys" / "kernel" / "iommu_groups").mkdir(parents=True, exist_ok=True)
    return root


def run(capsys, check_mode=False, **args):
    if check_mode:
        args["_ansible_check_mode"] = True
    with patch_module_args(args), pytest.raises(SystemExit) as info:
        mod.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = info.value.code
    return result


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_host_that_fits(tmp_path, capsys, check_mode):
    result = run(capsys, check_mode, profile=PROFILE, root=str(host_tree(tmp_path, "intel_gpu_sriov")))
    assert result["rc"] == 0 and "failed" not in result, result
    assert result["changed"] is False
    assert result["failures"] == []
    assert result["reboot_required"] is False and result["missing_kernel_args"] == []
    assert result["kernel_args"] == ARGS
    assert result["devices"] == [{"name": "gpu-t4", "addresses": ["0000:af:00.0"]},
                                 {"name": "x710-vf", "addresses": ["0000:3b:00.0"]}]


@pytest.mark.parametrize("host, failure", [
    ("no_vmx", "the CPU has no virtualization extensions (no vmx or svm flag in /proc/cpuinfo); turn on Intel VT-x "
               "or AMD-V (SVM) in the firmware setup"),
    ("gpu_absent", "device gpu-t4 (gpu 10de:1eb8): no PCI device with this vendor:product ID; seat the card, or "
                   "correct id (lspci -nn lists the devices)"),
    ("totalvfs_too_small", "device x710-vf (nic_pf ens1f0): 0000:3b:00.0 supports at most 4 VFs (sriov_totalvfs) "
                           "but vfs is 8; lower vfs, or raise the VF count in the NIC's firmware"),
    ("no_sriov", "device x710-vf (nic_pf ens1f0): 0000:3b:00.0 has no SR-IOV (no sriov_totalvfs); turn SR-IOV on "
                 "in the firmware setup and the NIC's firmware, or set vfs: 0"),
    ("hugepages_too_many", "hugepages 16 x 1G = 16384 MiB requested, but only 11904 MiB are available (MemTotal "
                           "16000 MiB minus reserved_host_memory_mb 4096 MiB); lower hugepages.count"),
    ("iommu_off_in_firmware", "the kernel runs with intel_iommu=on but has no IOMMU groups (/sys/kernel/iommu_groups "
                              "is empty); turn on VT-d (Intel) or AMD-Vi (AMD IOMMU) in the firmware setup"),
])
def test_one_problem_fails_the_task(tmp_path, capsys, host, failure):
    result = run(capsys, profile=PROFILE, root=str(host_tree(tmp_path, host)))
    assert result["rc"] == 1 and result["failed"] is True
    assert result["failures"] == [failure]
    assert result["msg"] == "passthrough check: 1 problem: " + failure
    assert result["reboot_required"] is False


def test_only_report(tmp_path, capsys):
    result = run(capsys, profile=PROFILE, root=str(host_tree(tmp_path, "gpu_absent")), fail_on_error=False)
    assert result["rc"] == 0 and "failed" not in result
    assert len(result["failures"]) == 1 and result["failures"][0].startswith("device gpu-t4 (gpu 10de:1eb8): ")
    assert result["devices"][0] == {"name": "gpu-t4", "addresses": []}


def test_missing_kernel_args_need_a_reboot_but_are_no_failure(tmp_path, capsys):
    # the IOMMU is not on yet either: without intel_iommu=on no IOMMU groups is expected, not a failure
    result = run(capsys, profile=PROFILE, root=str(host_tree(tmp_path, "args_missing")))
    assert result["rc"] == 0 and result["failures"] == []
    assert result["reboot_required"] is True
    assert result["missing_kernel_args"] == ARGS   # hugepages=8 on the command line is not hugepages=16


@pytest.mark.parametrize("change, failure", [
    ({"devices": [{"alias": "t4", "type": "gpu", "id": "10de:1eb8", "address": "0000:3b:00.0"}]},
     "device t4 (gpu 10de:1eb8): the device at 0000:3b:00.0 is 8086:1572, not 10de:1eb8; correct id or address "
     "(lspci -nn -s 0000:3b:00.0)"),
    ({"devices": [{"alias": "t4", "type": "gpu", "id": "10de:1eb8", "address": "0000:d8:00.0"}]},
     "device t4 (gpu 10de:1eb8): no PCI device at 0000:d8:00.0; correct address (lspci -D lists the devices) or "
     "seat the card"),
    ({"devices": [{"type": "nic_pf", "interface": "ens2f0", "vfs": 2, "physnet": "p1"}]},
     "device ens2f0 (nic_pf ens2f0): no PCI network interface ens2f0; correct interface (ip link lists them) or "
     "give address"),
    ({"devices": [{"type": "nic_pf", "address": "0000:3b:00.0", "interface": "eno1", "vfs": 2, "physnet": "p1"}]},
     "device eno1 (nic_pf eno1): the device at 0000:3b:00.0 has no interface eno1 (it has: ens1f0); correct "
     "interface or address"),
    ({"devices": [{"alias": "vf", "type": "nic_pf", "address": "0000:3b:00.0", "vfs": 2, "physnet": "p1",
                   "vf_id": "8086:1889"}]},
     "device vf (nic_pf 0000:3b:00.0): the VFs of 0000:3b:00.0 are 8086:154c, not 8086:1889; correct vf_id"),
    ({"cpu": {"dedicated": "1-3", "shared": "0,8"}},
     "cpu.dedicated: this host has no CPU 2-3 (it has 0-1); correct cpu.dedicated"),
])
def test_profile_against_the_host(tmp_path, capsys, change, failure):
    profile = dict(PROFILE, **change)
    result = run(capsys, profile=profile, root=str(host_tree(tmp_path, "intel_gpu_sriov")), fail_on_error=False)
    assert failure in result["failures"], result["failures"]


def test_1g_pages_need_pdpe1gb(tmp_path, capsys):
    root = host_tree(tmp_path, "intel_gpu_sriov")
    cpuinfo = root / "proc" / "cpuinfo"
    cpuinfo.write_text(cpuinfo.read_text().replace(" pdpe1gb", ""))
    result = run(capsys, profile=PROFILE, root=str(root), fail_on_error=False)
    assert result["failures"] == ["hugepages: the CPU has no 1G pages (no pdpe1gb flag in /proc/cpuinfo); use size 2M"]


def test_no_virtualization_extensions_only_warn_without_devices(tmp_path, capsys):
    """Hugepages and CPU sets also serve guests under software emulation; a device needs KVM (VFIO)."""
    result = run(capsys, profile={"hugepages": {"size": "2M", "count": 64}}, root=str(host_tree(tmp_path, "no_vmx")))
    assert "failed" not in result and result["failures"] == [], result
    assert result["virtualization"] is False and result["rc"] == 0, result


def test_several_problems_at_once(tmp_path, capsys):
    root = host_tree(tmp_path, "no_vmx")
    shutil.rmtree(root / "sys" / "bus" / "pci" / "devices" / "0000:af:00.0")
    result = run(capsys, profile=PROFILE, root=str(root))
    assert result["msg"].startswith("passthrough check: 2 problems: the CPU has no virtualization extensions")
    assert len(result["failures"]) == 2


def test_a_bad_profile_fails_naming_the_key(tmp_path, capsys):
    result = run(capsys, profile={"hugepages": {"size": "4M", "count": 1}}, root=str(tmp_path))
    assert result["failed"] is True
    assert result["msg"] == "invalid passthrough profile: passthrough.hugepages.size: '4M' is not one of: 2M, 1G"


def test_amd_host_gets_the_amd_iommu(tmp_path, capsys):
    root = host_tree(tmp_path, "intel_gpu_sriov")
    cpuinfo = root / "proc" / "cpuinfo"
    cpuinfo.write_text(cpuinfo.read_text().replace("GenuineIntel", "AuthenticAMD").replace(" vmx", " svm"))
    result = run(capsys, profile=PROFILE, root=str(root), fail_on_error=False)
    assert result["kernel_args"][0] == "amd_iommu=on"
    assert result["missing_kernel_args"] == ["amd_iommu=on"] and result["reboot_required"] is True
    assert result["failures"] == []
