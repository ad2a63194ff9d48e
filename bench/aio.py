# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measure the all-in-one as `make aio` deploys it, in a sandbox of its own.

What it does (every run starts from nothing: its sandbox is removed first):
  1. the environment directory .cache/bench-aio/env and a sandbox simulated host of its own
     (tests/simhosts/aio_sandbox.yml with the bench's machine network `lxbai`, 10.98.8.0/24, host
     lxbai-aio1, no routes on this machine), so that it can run beside `make aio` and the molecule
     scenarios; upper-constraints from $LXSTACK_CONSTRAINTS_DIR (default ../shared/openstack/
     upper-constraints beside the checkout, as in the Makefile);
  2. cold: playbooks/aio.yml on the new sandbox, with the deploy host's venv archive cache off (every
     venv built in the repo container from the release's wheels); the base image comes from the
     deploy host's image cache when it holds one (recorded): wall time of the sandbox and of the
     deploy, and their sum (the goal: 15 minutes);
  3. warm: playbooks/aio.yml again: wall time (the goal: 2 minutes) and changed (must be 0);
  4. in both runs, the healthcheck's server: create to ACTIVE, and create to the console marker (its
     DHCP address and metadata read), as the healthcheck measures them;
  5. the peak memory of the whole all-in-one: the sandbox's cgroup on this machine (every container,
     the compute services and the servers at once; page cache included), and its processes' own memory
     at the end (the goal: 6 GB);
  6. removes the sandbox and the environment (unless --keep) and writes bench/results/aio.json (a
     partial result, complete=false, when the warm run changed something or a figure is missing).

Prerequisites (checked first, all reported at once): root; `make setup` done; LXC with the debian
template and distro-info, debootstrap, nftables, ssh on this machine; the release's upper-constraints
file. Logs and every run's json report: .cache/bench-aio/.
Run: .venv/bin/python bench/aio.py [--keep]
The machine's load average is recorded: other work on the machine slows every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil

import yaml
from _common import BIN, ROOT, BenchError, Run, relative, require, topology_file
from _simhosts import PRECONDITIONS, Playbooks, base_image_build, base_image_unpacked, changed, parse_json, tasks
from openstack import read_memory

WORK = ROOT / ".cache" / "bench-aio"
ENV = WORK / "env"
SANDBOX = ROOT / "tests" / "simhosts" / "aio_sandbox.yml"
AIO = ROOT / "playbooks" / "aio.yml"
# the bench's own sandbox: apart from make aio's (lxaio, 10.98.0.0/24) and the scenarios' (lxsim)
SETTINGS = {
    "aio_sandbox": True,
    "aio_sandbox_routes": False,
    "aio_sandbox_address": "10.98.8.11",
    "simhosts_network": "lxbai",
    "simhosts_prefix": "lxbai-",
    "simhosts_template": "lxbai-template",
    "simhosts_bridge_address": "10.98.8.1/24",
}
SANDBOX_HOST = "lxbai-aio1"
SERVER_TASK = "Boot a server of the test image and read its console"
GOALS = {"cold_s": 15 * 60, "warm_s": 2 * 60, "memory_mb": 6 * 1024}


def constraints_dir():
    """Where the upper-constraints files are: the Makefile's CONSTRAINTS_DIR, as make bench exports it."""
    return pathlib.Path(os.environ.get("LXSTACK_CONSTRAINTS_DIR") or ROOT.parent / "shared/openstack/upper-constraints")


def sandbox_args(state="present"):
    # `-i localhost,` names localhost: its interpreter is the venv's, as for make aio's implicit localhost
    settings = dict(SETTINGS, aio_dir=str(ENV), aio_state=state, aio_constraints=str(constraints_dir()),
                    ansible_python_interpreter=str(BIN / "python"))
    return ["-e", json.dumps(settings)]


def server_times(report):
    """The healthcheck's server of a json report: {active_s, marker_s} (create to ACTIVE, create to the
    console marker), or None when the report has no such result."""
    for task in tasks(report):
        if task["task"]["name"] == SERVER_TASK:
            for result in task["hosts"].values():
                try:
                    figures = json.loads(result.get("stdout") or "")
                except json.JSONDecodeError:
                    continue
                return {"active_s": figures.get("active_s"), "marker_s": figures.get("marker_s"),
                        "marker": figures.get("marker", "").split(" uuid=")[0]}
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the sandbox and the environment afterwards")
    opts = parser.parse_args()
    release = yaml.safe_load((ROOT / "inventory" / "aio" / "topology.yml").read_text(encoding="utf-8"))["release"]
    constraints = constraints_dir() / ("%s.txt" % release)
    preconditions = dict(PRECONDITIONS)
    preconditions["files"] = PRECONDITIONS["files"] + (
        (constraints, "upper-constraints of %s: $LXSTACK_CONSTRAINTS_DIR/<release>.txt" % release),)
    require(**preconditions)
    run = Run(__file__, "The all-in-one as make aio deploys it, in a sandbox simulated host")
    WORK.mkdir(parents=True, exist_ok=True)
    local = Playbooks(WORK, "localhost,")
    # from nothing: a sandbox or an environment left by an earlier run goes first
    local.run(relative(SANDBOX), *sandbox_args("absent"), log="sandbox-remove-before")
    result, problems = {}, []
    try:
        result["sandbox_s"] = local.run(relative(SANDBOX), *sandbox_args(), log="sandbox")[0]
        books = Playbooks(WORK, ENV / "topology.yml")
        runs = {}
        for name, extra in (("cold", ["-e", json.dumps({"repo_venv_cache_dir": ""})]), ("warm", [])):
            wall, out = books.run(relative(AIO), *extra, json_output=True, log=name)
            report = parse_json(out)
            (WORK / ("%s.json" % name)).write_text(json.dumps(report), encoding="utf-8")
            runs[name] = {"wall_s": wall, "changed": changed(report), "server": server_times(report)}
            if name == "cold":
                runs[name]["base_image"] = {"built": base_image_build(report),
                                            "unpacked_from_cache": base_image_unpacked(report)}
            if runs[name]["server"] is None:
                problems.append("no healthcheck server figures in the %s run" % name)
        if runs["warm"]["changed"]:
            problems.append("the warm run changed %d results" % runs["warm"]["changed"])
        memory = read_memory(["sh", "-c"], [SANDBOX_HOST])[SANDBOX_HOST]
        if memory["mb"] is None:
            problems.append("the sandbox's memory was unreadable")
        topology = topology_file(ENV / "topology.yml", source=relative(ROOT / "inventory" / "aio" / "topology.yml"))
        cold_s = round(result["sandbox_s"] + runs["cold"]["wall_s"], 1)
        result.update({
            "cold": dict(runs["cold"], total_s=cold_s),
            "warm": runs["warm"],
            "memory": {
                "peak_mb": memory["mb"], "read": memory["read"], "anon_mb_at_end": memory["anon_mb"],
                "current_mb_at_end": memory["current_mb"],
                "definition": ("MiB of the sandbox's cgroup on this machine (every container, the compute services "
                               "and the servers): peak since it started (cgroup v2 memory.peak, v1 "
                               "memory.max_usage_in_bytes; page cache included), and at the end its processes' own "
                               "memory (memory.stat anon, v1 total_rss) and the current usage"),
            },
            "goals": {
                "cold_s": {"goal": GOALS["cold_s"], "measured": cold_s, "met": cold_s <= GOALS["cold_s"]},
                "warm_s": {"goal": GOALS["warm_s"], "measured": runs["warm"]["wall_s"],
                           "met": runs["warm"]["wall_s"] <= GOALS["warm_s"] and runs["warm"]["changed"] == 0},
                "memory_mb": {"goal": GOALS["memory_mb"], "measured": memory["mb"],
                              "met": memory["mb"] is not None and memory["mb"] <= GOALS["memory_mb"]},
            },
            "timing_definition": ("wall_s: one ansible-playbook run; cold total_s: the sandbox (simulated host, "
                                  "its template when missing) and the cold deploy; server: create to ACTIVE and to "
                                  "the console marker, in seconds, as the healthcheck times them"),
            "constraints": relative(constraints),
        })
    finally:
        if not opts.keep:
            result["sandbox_remove_s"] = local.run(relative(SANDBOX), *sandbox_args("absent"), log="sandbox-remove")[0]
            shutil.rmtree(ENV, ignore_errors=True)
    result["problems"] = [problem.replace(str(ROOT) + "/", "") for problem in problems]
    written = run.write(topology, result, complete=not problems)
    print("cold %s s (sandbox %s s + deploy %s s), warm %s s (changed %s), peak memory %s MiB; server ACTIVE %s s, "
          "marker %s s" % (result["cold"]["total_s"], result["sandbox_s"], result["cold"]["wall_s"],
                           result["warm"]["wall_s"], result["warm"]["changed"], result["memory"]["peak_mb"],
                           (result["warm"]["server"] or {}).get("active_s"),
                           (result["warm"]["server"] or {}).get("marker_s")))
    print("wrote %s" % relative(written))
    if problems:
        raise BenchError("partial result:\n  - " + "\n  - ".join(problems))


if __name__ == "__main__":
    main()
