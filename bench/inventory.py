# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of the topology inventory plugin.

For synthetic topologies of 10, 100, 1 000 and 10 000 hosts (3 infra hosts, the rest compute)
this measures, each in a fresh Python process:
  - build: the plugin parsing the topology file into Ansible's InventoryData (validation, placement,
    allocation, atomic state write) -- first run without a state file ("cold") and again with it ("warm");
  - peak RSS of that process;
  - for reference, the wall time of `ansible-inventory -i <dir> --list` (warm).
Writes bench/results/inventory.json (header: see bench/_common.py; the topology entry holds the
sha256 of each generated topology).
Prerequisites: `make setup` (the venv and the collection link). Light: no container, no root.
Usage: .venv/bin/python bench/inventory.py [--sizes 10,100] [--repeat 3] [--plan]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

from _common import BIN, ROOT, BenchError, Run, require, sha256_text, topology_generated

REPO = ROOT
ANSIBLE_INVENTORY = BIN / "ansible-inventory"

# Runs in the child process: argv[1] = topology file. Prints one JSON line.
CHILD = r"""
import json, resource, sys, time
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader([sys.argv[2]])
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader
plugin = inventory_loader.get("lxstack.openstack.topology")
inventory = InventoryData()
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start, cpu_start = time.perf_counter(), time.process_time()
plugin.parse(inventory, DataLoader(), sys.argv[1])
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu,
                  "hosts": len(inventory.hosts), "groups": len(inventory.groups),
                  "rss_before_mb": rss_before / 1024,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def topology_text(size):
    """3 infra hosts with containers, the rest bare-metal compute hosts, on a /16 management network."""
    lines = [
        "plugin: lxstack.openstack.topology",
        'release: "2026.2"',
        "networks:",
        "  management:",
        "    cidr: 10.0.0.0/16",
        "    bridge: br-mgmt",
        '    reserved: ["10.0.0.1-10.0.63.255"]',
        "    internal_vip: 10.0.0.9",
        "    groups: [all_containers]",
        "  storage:",
        "    cidr: 10.1.0.0/16",
        "    bridge: br-storage",
        '    reserved: ["10.1.0.1-10.1.63.255"]',
        "    groups: [glance]",
        "host_groups:",
        "  infra:",
        "    hosts:",
    ]
    for i in range(1, 4):
        lines.append("      infra%d: {address: 10.0.0.%d, networks: {storage: 10.1.0.%d}}" % (i, 10 + i, 10 + i))
    lines += ["  compute:", "    hosts:"]
    for i in range(1, size - 2):
        n = 256 + i   # from 10.0.1.1 up
        lines.append("      compute%d: {address: 10.0.%d.%d, networks: {storage: 10.1.%d.%d}}"
                     % (i, n // 256, n % 256, n // 256, n % 256))
    return "\n".join(lines) + "\n"


def run_child(path):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(REPO / "collections")],
                         capture_output=True, text=True, check=False, env=env)
    if out.returncode != 0:
        raise BenchError("the plugin failed on the generated topology of %s:\n%s"
                         % (path.parent.name + " hosts", out.stderr[-3000:]))
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - start
    return result


def run_cli(directory):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    start = time.perf_counter()
    run = subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(directory), "--list"], cwd=REPO, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    if run.returncode != 0:
        raise BenchError("ansible-inventory --list failed on the generated topology of %s hosts:\n%s"
                         % (directory.name, run.stderr[-3000:]))
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--repeat", type=int, default=3, help="warm runs per size (the best is kept)")
    parser.add_argument("--plan", action="store_true", help="print the topologies it would measure, measure nothing")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if any(size < 4 for size in sizes) or args.repeat < 1:
        raise BenchError("--sizes must be at least 4 hosts each (3 infra + compute), --repeat at least 1")
    texts = {size: topology_text(size) for size in sizes}
    topology = topology_generated(
        "bench/inventory.py (topology_text)", "".join(texts[size] for size in sizes),
        description="3 infra hosts with containers, the rest bare-metal compute hosts, /16 management "
                    "and storage networks",
        per_size={str(size): sha256_text(text) for size, text in texts.items()})
    if args.plan:
        print(json.dumps(topology, indent=2))
        return
    require(modules=("ansible",))
    run = Run(__file__, "lxstack.openstack.topology inventory build")
    rows = []
    with tempfile.TemporaryDirectory(prefix="lxstack-bench-") as tmp:
        for size in sizes:
            env = pathlib.Path(tmp) / str(size)
            env.mkdir()
            path = env / "topology.yml"
            path.write_text(texts[size])
            cold = run_child(path)
            warm = min((run_child(path) for _run in range(args.repeat)), key=lambda r: r["seconds"])
            cli = min(run_cli(env) for _run in range(args.repeat))
            row = {
                "hosts": size,
                "inventory_hosts": cold["hosts"],
                "groups": cold["groups"],
                "seconds": round(cold["seconds"], 4),
                "seconds_warm": round(warm["seconds"], 4),
                "cpu_seconds": round(cold["cpu_seconds"], 4),
                "cpu_seconds_warm": round(warm["cpu_seconds"], 4),
                "peak_rss_mb": round(max(cold["peak_rss_mb"], warm["peak_rss_mb"]), 1),
                "rss_before_parse_mb": round(cold["rss_before_mb"], 1),
                "process_seconds": round(cold["process_seconds"], 3),
                "ansible_inventory_list_seconds": round(cli, 3),
            }
            if row["inventory_hosts"] < size:
                raise BenchError("%d hosts in the topology gave only %d inventory hosts"
                                 % (size, row["inventory_hosts"]))
            rows.append(row)
            print("%(hosts)6d hosts: build %(seconds).3f s, cpu %(cpu_seconds).3f s (warm %(seconds_warm).3f s), "
                  "peak RSS %(peak_rss_mb).1f MB, "
                  "ansible-inventory --list %(ansible_inventory_list_seconds).2f s" % row, flush=True)
    written = run.write(topology, {
        "notes": "seconds: plugin parse into InventoryData without a state file (validate, place, allocate, "
                 "write state), wall clock; cpu_seconds: CPU time of the same (robust on a loaded machine); "
                 "*_warm: the same with the state file present, best of --repeat; peak_rss_mb: peak RSS of that "
                 "process, Python and ansible-core included (see rss_before_parse_mb); "
                 "ansible_inventory_list_seconds: full CLI run, best of --repeat",
        "results": rows,
    })
    print("wrote %s" % written.relative_to(REPO))


if __name__ == "__main__":
    main()
