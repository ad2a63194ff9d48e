# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benches' logic without running them: the containers bench derives its hosts and networks from
any scenario topology (no hard-coded host map), and a result never carries a path of the machine."""

from __future__ import annotations

import contextlib
import ipaddress
import json
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
import summary  # noqa: E402

SCENARIOS = sorted(REPO.glob("molecule/*/inventory/topology.yml"))


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


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.parts[-3])
def test_containers_bench_derives_every_host(scenario):
    original = yaml.safe_load(scenario.read_text())
    bench, hosts, _networks = containers.derive(scenario)
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


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.parts[-3])
def test_containers_bench_moves_every_address(scenario):
    """No address of a scenario network is left in the bench topology, and the moved networks
    overlap none of any scenario, so the bench can share the machine bridges with molecule."""
    bench, _hosts, networks = containers.derive(scenario)
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


def mount_sources(data):
    for spec in (data.get("host_groups") or {}).values():
        for holder in [spec.get("vars") or {}, *(spec.get("hosts") or {}).values()]:
            yield from (mount["source"] for mount in holder.get("simhosts_mounts") or [])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.parts[-3])
def test_containers_bench_shares_no_directory_with_a_scenario(scenario):
    """tests/simhosts/destroy.yml removes the shared directories of the hosts it removes: a bench's own."""
    bench, _hosts, _networks = containers.derive(scenario)
    scenario_sources = {source for other in SCENARIOS for source in mount_sources(yaml.safe_load(other.read_text()))}
    sources = list(mount_sources(bench))
    assert len(sources) == len(list(mount_sources(yaml.safe_load(scenario.read_text()))))
    assert not scenario_sources & set(sources)
    assert all(pathlib.PurePosixPath(source).name.startswith("bench-") for source in sources)


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
    assert sorted(summary.load_results()) == summary.benches()


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
    cached = {"plays": [{"tasks": report["plays"][0]["tasks"][1:3]}], "stats": {}}
    assert containers.template_build(cached) is None
