# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""bench/aio.py without running it: its sandbox stays apart from `make aio`'s and the scenarios', it reads
the healthcheck's server figures from a json report, and bench/summary.py tabulates its result."""

from __future__ import annotations

import ipaddress
import json
import pathlib
import sys

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import aio  # noqa: E402
import summary  # noqa: E402


def test_the_bench_sandbox_is_apart_from_make_aio_and_the_scenarios():
    defaults = yaml.safe_load((REPO / "tests" / "simhosts" / "aio_sandbox.yml").read_text())[0]["vars"]
    role = REPO / "tests" / "simhosts" / "roles" / "simhosts"
    simhosts = yaml.safe_load((role / "defaults" / "main.yml").read_text())
    for key in ("simhosts_network", "simhosts_prefix", "simhosts_template", "aio_sandbox_address"):
        assert aio.SETTINGS[key] not in (defaults.get(key), simhosts.get(key))
    bench_net = ipaddress.ip_network(aio.SETTINGS["simhosts_bridge_address"], strict=False)
    for other in (defaults["simhosts_bridge_address"], simhosts["simhosts_bridge_address"]):
        assert not bench_net.overlaps(ipaddress.ip_network(other, strict=False))
    assert ipaddress.ip_address(aio.SETTINGS["aio_sandbox_address"]) in bench_net
    assert aio.SETTINGS["aio_sandbox_routes"] is False  # make aio's routes to the same networks stay its own
    assert aio.SETTINGS["simhosts_prefix"] + "aio1" == aio.SANDBOX_HOST


def _report(stdout):
    task = {"task": {"name": aio.SERVER_TASK, "duration": {}}, "hosts": {"aio1-keystone": {"stdout": stdout}}}
    return {"plays": [{"play": {"name": "Check the cloud"}, "tasks": [task]}], "stats": {}}


def test_server_figures_from_the_healthcheck_report():
    stdout = json.dumps({"id": "x", "marker": "lxstack-guest: ok address=198.51.100.5/24 uuid=x", "fip": "",
                         "active_s": 21, "marker_s": 48})
    assert aio.server_times(_report(stdout)) == {"active_s": 21, "marker_s": 48,
                                                 "marker": "lxstack-guest: ok address=198.51.100.5/24"}
    assert aio.server_times(_report("")) is None
    assert aio.server_times({"plays": [], "stats": {}}) is None


def test_summary_tabulates_the_aio_result():
    result = {"benchmark": "aio", "constraints": "../c/2026.2.txt", "sandbox_s": 30.5,
              "cold": {"wall_s": 700.0, "total_s": 730.5, "changed": 900, "server": {"active_s": 20, "marker_s": 45}},
              "warm": {"wall_s": 110.0, "changed": 0, "server": {"active_s": 19, "marker_s": 44}},
              "memory": {"peak_mb": 5000.0, "read": "memory.max_usage_in_bytes", "anon_mb_at_end": 3100.0},
              "goals": {"cold_s": {"goal": 900, "measured": 730.5, "met": True},
                        "warm_s": {"goal": 120, "measured": 110.0, "met": True},
                        "memory_mb": {"goal": 6144, "measured": 5000.0, "met": True}}}
    text = "\n".join(summary.aio_section(result))
    for figure in ("730.5 s", "110.0 s", "5000.0 MiB", "| 45 s |", "30.5 s", "3100.0"):
        assert figure in text
