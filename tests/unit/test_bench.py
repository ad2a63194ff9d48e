# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benches' logic without running them: the benches on simulated hosts derive their hosts and networks
from any scenario topology (no hard-coded host map) and collide with no scenario nor each other, the
openstack bench reads its json reports and memory figures, and a result never carries a path of the machine."""

from __future__ import annotations

import contextlib
import copy
import ipaddress
import json
import os
import pathlib
import sys
import tempfile

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import _common  # noqa: E402
import _simhosts  # noqa: E402
import containers  # noqa: E402
import openstack  # noqa: E402
import summary  # noqa: E402

SCENARIOS = sorted(REPO.glob("molecule/*/inventory/topology.yml"))
SIM_BENCHES = [name for name, _prefix, _first in _simhosts.SIM_BENCHES]
FIXTURES = REPO / "tests" / "unit" / "fixtures" / "bench"
every_scenario_and_bench = pytest.mark.parametrize(
    ("scenario", "bench_name"), [(s, b) for s in SCENARIOS for b in SIM_BENCHES],
    ids=["%s-%s" % (s.parts[-3], b) for s in SCENARIOS for b in SIM_BENCHES])


def strings(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


def addresses(value):
    """Every address named in a topology: plain, in a range a-b, or in a CIDR."""
    for text in strings(value):
        for part in text.replace("/", "-").split("-"):
            with contextlib.suppress(ValueError):
                yield ipaddress.ip_address(part.strip())


def test_containers_bench_derivation():
    assert containers.derive(_simhosts.SCENARIO) == _simhosts.derive(_simhosts.SCENARIO, "containers")


@every_scenario_and_bench
def test_bench_derives_every_host(scenario, bench_name):
    original = yaml.safe_load(scenario.read_text())
    bench, hosts, _networks = _simhosts.derive(scenario, bench_name)
    old_names = [name for _g, name, _s in _simhosts.topology_hosts(original)]
    assert list(hosts) == old_names  # every host, in order: none dropped, none made up
    new_hosts = {name: spec for _g, name, spec in _simhosts.topology_hosts(bench)}
    assert sorted(new_hosts) == sorted(new for new, _a in hosts.values())
    sim_net = _simhosts.simhosts_network()
    used = {
        str(spec.get("ssh_address"))
        for other in SCENARIOS
        for _g, _n, spec in _simhosts.topology_hosts(yaml.safe_load(other.read_text()))
    }
    ssh = [spec["ssh_address"] for spec in new_hosts.values()]
    assert len(set(ssh)) == len(ssh)
    assert all(ipaddress.ip_address(a) in sim_net and a not in used for a in ssh)


@every_scenario_and_bench
def test_bench_moves_every_address(scenario, bench_name):
    """No address of a scenario network is left in the bench topology, and the moved networks
    overlap none of any scenario, so the bench can share the machine bridges with molecule."""
    bench, _hosts, networks = _simhosts.derive(scenario, bench_name)
    every_scenario_net = [
        net for other in SCENARIOS for net in _simhosts.topology_networks(yaml.safe_load(other.read_text())).values()
    ]
    moved = [new for _old, new in networks.values()]
    assert not any(a.overlaps(b) for a in moved for b in every_scenario_net)
    assert not any(address in net for address in addresses(bench) for net in every_scenario_net)
    original = yaml.safe_load(scenario.read_text())
    # the shape is kept: the same number of addresses, each now inside a moved network or the sim net
    assert len(list(addresses(bench))) == len(list(addresses(original)))
    sim_net = _simhosts.simhosts_network()
    assert all(any(a in net for net in moved) or a in sim_net for a in addresses(bench))


def test_benches_collide_with_each_other_nowhere():
    """Every bench on simulated hosts, derived from the default scenario as make bench runs them: no two
    share a host name, an address, a network or a shared directory, so they can run at once."""
    derived = {name: _simhosts.derive(_simhosts.SCENARIO, name) for name in SIM_BENCHES}
    seen = {"names": [], "addresses": [], "networks": [], "sources": []}
    for bench, hosts, networks in derived.values():
        seen["names"] += [new for new, _a in hosts.values()]
        seen["addresses"] += [address for _n, address in hosts.values()]
        seen["networks"] += [new for _old, new in networks.values()]
        seen["sources"] += list(mount_sources(bench))
    for kind in ("names", "addresses", "sources"):
        assert len(set(seen[kind])) == len(seen[kind]), kind
    nets = seen["networks"]
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    openstack_hosts = derived["openstack"][1]
    assert next(iter(openstack_hosts.values()))[1] == "10.97.0.71"
    assert all(new.startswith("osbench") for new, _a in openstack_hosts.values())


def mount_sources(data):
    for spec in (data.get("host_groups") or {}).values():
        for holder in [spec.get("vars") or {}, *(spec.get("hosts") or {}).values()]:
            yield from (mount["source"] for mount in holder.get("simhosts_mounts") or [])


@every_scenario_and_bench
def test_bench_shares_no_directory_with_a_scenario(scenario, bench_name):
    """tests/simhosts/destroy.yml removes the shared directories of the hosts it removes: a bench's own."""
    bench, _hosts, _networks = _simhosts.derive(scenario, bench_name)
    scenario_sources = {source for other in SCENARIOS for source in mount_sources(yaml.safe_load(other.read_text()))}
    sources = list(mount_sources(bench))
    assert len(sources) == len(list(mount_sources(yaml.safe_load(scenario.read_text()))))
    assert not scenario_sources & set(sources)
    prefix = dict((name, prefix) for name, prefix, _f in _simhosts.SIM_BENCHES)[bench_name]
    assert all(pathlib.PurePosixPath(source).name.startswith(prefix + "-") for source in sources)


def test_translate_moves_addresses_ranges_and_cidrs():
    old, new = ipaddress.ip_network("10.1.0.0/24"), ipaddress.ip_network("10.1.1.0/24")
    value = {"a": "10.1.0.5", "r": ["10.1.0.1-10.1.0.50"], "c": "10.1.0.0/24", "keep": ["10.2.0.1", "x/y", "a-b"]}
    assert _simhosts.translate(value, [(old, new)]) == {
        "a": "10.1.1.5", "r": ["10.1.1.1-10.1.1.50"], "c": "10.1.1.0/24", "keep": ["10.2.0.1", "x/y", "a-b"]}


def test_result_refuses_machine_paths(tmp_path, monkeypatch):
    monkeypatch.setattr(_common, "commit", lambda: {"sha": "0" * 40, "dirty": False, "dirty_paths": []})
    run = _common.Run(str(REPO / "bench" / "containers.py"), "test")
    assert run.path == REPO / "bench" / "results" / "containers.json"
    with pytest.raises(SystemExit, match=r"\$\.constraints names the checkout"):
        run.write({"path": "x"}, {"constraints": str(REPO / "x.txt")}, path=tmp_path / "r.json")
    with pytest.raises(SystemExit, match="temporary directory"):
        run.write({"path": "x"}, {"log": tempfile.gettempdir() + "/lxstack-bench-1/x.log"}, path=tmp_path / "r.json")
    written = run.write({"path": "x"}, {"constraints": _common.relative(REPO / "x.txt")}, path=tmp_path / "r.json")
    document = json.loads(written.read_text())
    assert all(key in document for key in _common.HEADER_KEYS)
    assert document["constraints"] == "x.txt"


def test_commit_ignores_results():
    """The benches write bench/results/ while they run: that alone does not make the tree dirty."""
    state = _common.commit()
    assert len(state["sha"]) == 40
    assert not any(path.startswith("bench/results/") for path in state["dirty_paths"])


def test_summary_is_the_rendering_of_the_results():
    """bench/results/summary.md (which the docs point to for figures) holds exactly the committed
    results: regenerate it with `.venv/bin/python bench/summary.py` after changing a result."""
    assert summary.SUMMARY.read_text(encoding="utf-8") == summary.render(summary.load_results())


def test_every_result_has_a_bench():
    """A result without its bench is stale; a bench without a result yet (a new one) is listed in
    summary.md as not measured, and make bench (summary.py --since) fails until it has written one."""
    results = summary.load_results()
    assert set(results) <= set(summary.benches())
    rendered = summary.render(results)
    for name in set(summary.benches()) - set(results):
        assert "## `bench/results/%s.json`: not measured yet" % name in rendered
    with pytest.raises(SystemExit, match=r"bench/openstack\.py wrote no bench/results/openstack\.json"):
        summary.check_fresh({name: r for name, r in results.items() if name != "openstack"}, "2000-01-01T00:00:00Z")


def test_fresh_check_fails_on_a_stale_or_partial_result():
    run = {key: None for key in _common.HEADER_KEYS}
    fresh = {name: dict(run, measured_at="2026-01-02T00:00:00Z", complete=True) for name in summary.benches()}
    summary.check_fresh(fresh, "2026-01-01T00:00:00Z")
    stale = dict(fresh, inventory=dict(fresh["inventory"], measured_at="2025-12-31T00:00:00Z"))
    with pytest.raises(SystemExit, match=r"inventory\.json was not rewritten"):
        summary.check_fresh(stale, "2026-01-01T00:00:00Z")
    partial = dict(fresh, venvs=dict(fresh["venvs"], complete=False))
    with pytest.raises(SystemExit, match=r"venvs\.json is a partial result"):
        summary.check_fresh(partial, "2026-01-01T00:00:00Z")
    extra = dict(fresh, old={})
    with pytest.raises(SystemExit, match=r"old\.json has no bench script"):
        summary.check_fresh(extra, "2026-01-01T00:00:00Z")


def _task(name, seconds, hosts):
    start = "2026-01-01T00:00:00.000000Z"
    end = "2026-01-01T00:00:%09.6fZ" % seconds
    return {"task": {"name": name, "duration": {"start": start, "end": end}}, "hosts": hosts}


def test_containers_bench_reads_the_json_report():
    report = {"plays": [{"tasks": [
        _task("Create the template (debootstrap, cached by LXC)", 40, {"localhost": {"changed": True}}),
        _task("Copy the template rootfs into lxsim-bench1", 5, {"localhost": {"changed": True}}),
        _task("Read the recipe stamp of lxsim-template-trixie", 1, {"localhost": {"changed": False}}),
        _task("lxstack.openstack.lxc_host : Run debootstrap and put the image in place (all or nothing)", 30,
              {"bench1": {"changed": True}, "bench2": {"changed": True}}),
        _task("Create the container", 9, {
            "bench1-galera": {"changed": True, "timings": {"clone": 0.5, "start": 1.0, "systemd": 6.0}},
            "bench2-galera": {"changed": True, "timings": {"clone": 0.25, "start": 0.5, "systemd": 4.0}}}),
    ]}], "stats": {"bench1": {"changed": 3}, "bench2": {"changed": 2}}}
    assert containers.template_build(report) == 40  # not the per-host copy, not an unchanged read
    assert containers.base_image_build(report)["seconds"] == 30
    assert containers.base_image_build(report)["hosts"] == ["bench1", "bench2"]
    timings = containers.container_timings(report)
    assert timings["bench1-galera"]["create"] == 1.5 and timings["bench1-galera"]["total"] == 6.5
    assert sorted(timings) == ["bench1-galera", "bench2-galera"]
    assert containers.changed(report) == 5
    assert containers.base_image_unpacked(report) == []
    report["plays"][0]["tasks"].append(
        _task("lxstack.openstack.lxc_host : Unpack the image and put it in place (all or nothing)", 8,
              {"bench3": {"changed": True}, "bench4": {"changed": False}}))
    assert containers.base_image_unpacked(report) == ["bench3"]
    cached = {"plays": [{"tasks": report["plays"][0]["tasks"][1:3]}], "stats": {}}
    assert containers.template_build(cached) is None


# -- bench/openstack.py: the phases, the per-service figures of a json report, the memory figures ------


def test_openstack_bench_runs_the_phases_of_site_yml():
    """The runs follow playbooks/site.yml's phases, openstack.yml twice (cold, warm), and every play of
    openstack.yml but the guard and the secrets is one service's, so each service gets its figures."""
    phases = openstack.site_phases()
    assert [phase for phase, _p in phases][:2] == ["prechecks", "hosts"]
    assert all((REPO / path).is_file() for _phase, path in phases)
    order = openstack.run_order(phases)
    names = [phase for phase, _p in order]
    assert names[names.index("openstack_cold") + 1] == "openstack_warm"
    assert dict(order)["openstack_cold"] == dict(order)["openstack_warm"] == "playbooks/openstack.yml"
    assert "openstack" not in names and names[-1] == "healthcheck"
    plays = openstack.playbook_plays(REPO / "playbooks" / "openstack.yml")
    others = [play["name"] for play in plays if play["service"] is None]
    assert len(others) == 2  # _guard.yml and _secrets.yml
    assert {"keystone", "placement", "glance", "nova", "neutron"} <= {play["service"] for play in plays}
    with pytest.raises(SystemExit, match=r"imports no openstack\.yml"):
        openstack.run_order([("hosts", "playbooks/hosts.yml")])


def test_openstack_bench_per_service_figures():
    report = json.loads((FIXTURES / "openstack-report.json").read_text())
    figures = openstack.per_service(report, FIXTURES / "playbook.yml")
    assert list(figures["services"]) == ["keystone", "nova"]
    keystone = figures["services"]["keystone"]
    # tasks 2 s and 2 s with a gap of 1 s between them; the flush (no result, no end) counts for nothing
    assert keystone == {"play": "Keystone", "hosts": "keystone", "tasks": 3, "task_s": 4.0, "wall_s": 5.0,
                        "changed": 2}
    # two plays of one role add up
    assert figures["services"]["nova"] == {"play": "Nova API; Nova conductor", "hosts": "nova_api:nova_conductor",
                                           "tasks": 2, "task_s": 10.0, "wall_s": 10.0, "changed": 1}
    assert list(figures["other_plays"]) == ["Check that the inventory is a parsed lxstack topology",
                                            "Install the service venvs"]
    assert figures["other_plays"]["Install the service venvs"]["task_s"] == 1.0
    assert _simhosts.changed(report) == 3


def test_openstack_bench_adds_up_serial_batches():
    """A play run in serial batches has one report entry a batch: they are that play's."""
    report = json.loads((FIXTURES / "openstack-report.json").read_text())
    report["plays"].insert(2, copy.deepcopy(report["plays"][1]))
    keystone = openstack.per_service(report, FIXTURES / "playbook.yml")["services"]["keystone"]
    assert (keystone["tasks"], keystone["task_s"], keystone["changed"]) == (6, 8.0, 4)


def test_openstack_bench_refuses_a_report_of_other_plays():
    report = json.loads((FIXTURES / "openstack-report.json").read_text())
    report["plays"][1]["play"]["name"] = "Keystone, renamed"
    with pytest.raises(SystemExit, match="are not the playbook's"):
        openstack.per_service(report, FIXTURES / "playbook.yml")
    del report["plays"][1]
    with pytest.raises(SystemExit, match="are not the playbook's"):
        openstack.per_service(report, FIXTURES / "playbook.yml")


def test_openstack_bench_reads_memory():
    text = "\n".join([
        "osbench1-galera memory.peak 268435456",  # cgroup v2
        "osbench1-galera memory.current 134217728",
        "osbench1-galera memory.stat:anon 67108864",
        "osbench1-repo memory.max_usage_in_bytes 104857600",  # cgroup v1
        "osbench1-repo memory.usage_in_bytes 52428800",
        "osbench1-repo memory.stat:total_rss 20971520",
        "osbench1-keystone memory.current 10485760",  # no peak file readable
        "lxc-cgroup: some warning",
        "osbench1-horizon memory.peak max",
    ])
    values = openstack.parse_memory(text)
    assert sorted(values) == ["osbench1-galera", "osbench1-keystone", "osbench1-repo"]
    figures = {name: openstack.memory_figures(entry) for name, entry in values.items()}
    assert figures["osbench1-galera"] == {"mb": 256.0, "read": "memory.peak", "current_mb": 128.0, "anon_mb": 64.0}
    assert figures["osbench1-repo"] == {"mb": 100.0, "read": "memory.max_usage_in_bytes", "current_mb": 50.0,
                                        "anon_mb": 20.0}
    assert figures["osbench1-keystone"] == {"mb": 10.0, "read": "memory.current", "current_mb": 10.0, "anon_mb": None}
    assert openstack.memory_figures({}) == {"mb": None, "read": None, "current_mb": None, "anon_mb": None}


def test_openstack_bench_memory_script(tmp_path, monkeypatch):
    """The shell commands read through lxc-cgroup (here a stand-in) and skip what is unreadable."""
    fake = tmp_path / "lxc-cgroup"
    fake.write_text('#!/bin/sh\n# lxc-cgroup -n NAME FILE\ncase "$2:$3" in\n'
                    '  c1:memory.peak) echo 2097152 ;;\n  *:memory.current) echo 1048576 ;;\n'
                    '  c1:memory.stat) printf "file 9\\nanon 524288\\nanon_thp 0\\n" ;;\n  *) exit 1 ;;\nesac\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (tmp_path, os.environ["PATH"]))
    read = openstack.read_memory(["sh", "-c"], ["c1", "c2"])
    assert read == {"c1": {"mb": 2.0, "read": "memory.peak", "current_mb": 1.0, "anon_mb": 0.5},
                    "c2": {"mb": 1.0, "read": "memory.current", "current_mb": 1.0, "anon_mb": None}}
    with pytest.raises(SystemExit, match="failed"):
        openstack.read_memory(["false"], ["c2"])


def test_summary_renders_an_openstack_result():
    report = json.loads((FIXTURES / "openstack-report.json").read_text())
    run = dict(playbook="playbooks/openstack.yml", wall_s=20.0, changed=3,
               **openstack.per_service(report, FIXTURES / "playbook.yml"))
    result = {
        "scenario": "s", "constraints": "c.txt", "simhosts_create_s": 40.0, "simhosts_destroy_s": 20.0,
        "phases": {"hosts": {"playbook": "playbooks/hosts.yml", "wall_s": 400.0, "changed": 90,
                             "base_image": {"built": None, "unpacked_from_cache": ["osbench1"]}},
                   "openstack_cold": run, "openstack_warm": dict(run, changed=0)},
        "memory": {"hosts": {"osbench1": {
            "containers_mb": 266.0, "containers_anon_mb": 70.0, "simulated_host_mb": 900.0,
            "simulated_host_read": "memory.max_usage_in_bytes",
            "containers": {"osbench1-galera": {"mb": 256.0, "read": "memory.peak", "current_mb": 128.0,
                                               "anon_mb": 64.0},
                           "osbench1-keystone": {"mb": 10.0, "read": "memory.current", "current_mb": 10.0,
                                                 "anon_mb": 6.0}}}}},
        "problems": [],
    }
    text = "\n".join(summary.openstack_section(result))
    assert "| openstack_cold | `playbooks/openstack.yml` | 20.0 | 3 |" in text
    assert "| keystone | `keystone` | 3 | 4.0 / 5.0 | 4.0 / 5.0 | 2 |" in text
    assert "| osbench1 | 2 | 266.0 | 70.0 | 900.0 (memory.max_usage_in_bytes) |" in text
    assert "| osbench1-keystone | 10.0 | memory.current | 10.0 | 6.0 |" in text
    assert "unpacked from the deploy host's image cache on osbench1" in text
    assert "Problems" not in text


def test_openstack_bench_inventory_has_the_scenario_group_vars(tmp_path):
    """The deploy is configured as the scenario's: its group_vars/ linked beside the bench topology; what a
    run wrote beside the topology goes unless the simulated hosts are reused."""
    derived, _hosts, _networks = _simhosts.derive(_simhosts.SCENARIO, "openstack")
    text = _simhosts.topology_text(REPO / "bench" / "openstack.py", _simhosts.SCENARIO, derived)
    group_vars = _simhosts.SCENARIO.parent / "group_vars"
    inventory = _simhosts.write_inventory(tmp_path, text, False, group_vars)
    assert (inventory / "group_vars").resolve() == group_vars.resolve()
    hostvars = _simhosts.inventory_hostvars(inventory)
    assert "lxstack_upper_constraints" in hostvars["osbench1-keystone"]
    assert sorted(_simhosts.service_containers(hostvars)) == ["osbench1", "osbench2", "osbench3"]
    (inventory / "secrets.yml").write_text("{}\n")
    assert (inventory / "topology.state.yml").exists()
    _simhosts.write_inventory(tmp_path, text, True, group_vars)
    assert (inventory / "secrets.yml").exists() and (inventory / "topology.state.yml").exists()
    _simhosts.write_inventory(tmp_path, text, False, None)
    assert not (inventory / "secrets.yml").exists() and not (inventory / "group_vars").exists()
