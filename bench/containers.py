# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measure LXC hosts and service containers on simulated hosts.

What it does (re-runnable; every run starts from fresh simulated hosts unless --reuse):
  1. derives a bench topology from a scenario topology (default molecule/default's) and writes it
     under .cache/bench-containers/inventory/: every host of every host group becomes bench<N> with
     its own simulated-host address (from 10.97.0.21 on, inside tests/simhosts' machine bridge
     network, checked free against every molecule scenario), and every network moves to the next
     free subnet of its size (every address, range and VIP in it moves along), so the bench can run
     beside a molecule scenario on the shared machine bridges; creates the simulated hosts with
     tests/simhosts/create.yml (privileged LXC containers with systemd and sshd on this machine);
  2. runs playbooks/hosts.yml once (json callback): the base image build time is the duration of
     the lxc_host task that runs debootstrap, and the per-container create time comes from the
     `timings` the lxstack.openstack.lxc_container module returns (clone from the cached base
     image, start, systemd running) -- one entry per container of the inventory, or it fails;
  3. runs playbooks/hosts.yml again: its wall time is the no-change re-run (changed must be 0);
  4. destroys the simulated hosts (unless --keep) and writes bench/results/containers.json.

Prerequisites (checked first, all reported at once): root; `make setup` done; LXC with the debian
template and distro-info, debootstrap, nftables, ssh on this machine; access to the Debian mirror.
Run: .venv/bin/python bench/containers.py [--topology PATH] [--keep] [--reuse] [--plan]
--plan prints the simulated hosts, networks and containers it would create, creates nothing.
The machine's load average is recorded: other work on the machine slows every figure.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

import yaml
from _common import (
    BIN,
    ROOT,
    BenchError,
    Run,
    missing_preconditions,
    relative,
    require,
    topology_file,
)

WORK = ROOT / ".cache" / "bench-containers"
SCENARIO = ROOT / "molecule" / "default" / "inventory" / "topology.yml"
SIMHOSTS_DEFAULTS = ROOT / "tests" / "simhosts" / "roles" / "simhosts" / "defaults" / "main.yml"
KEY = ROOT / ".cache" / "simhosts" / "id_ed25519"
HOST_PREFIX = "bench"
# First simulated-host address of the bench (host part inside the machine bridge network): the
# molecule scenarios use other ones, and derive_hosts checks it against every one of them.
FIRST_HOST = 21
CREATE_GOAL_S = 2.0
PRECONDITIONS = {
    "root": True,
    "commands": ("lxc-create", "lxc-attach", "lxc-ls", "debootstrap", "debian-distro-info", "nft", "ssh",
                 "ssh-keygen", "ip"),
    "files": ((pathlib.Path("/usr/share/lxc/templates/lxc-debian"), "package lxc-templates"),
              (ROOT / "tests" / "simhosts" / "create.yml", "the simulated-host harness")),
    "modules": ("ansible", "ansible_collections.ansible.posix"),
}


# -- the bench topology, derived from the scenario ---------------------------------------------


def scenario_topologies():
    """Every molecule scenario topology: the bench must not collide with any of them."""
    return sorted((ROOT / "molecule").glob("*/inventory/topology.yml"))


def simhosts_network():
    """The machine bridge network of tests/simhosts, from its defaults (not repeated here)."""
    defaults = yaml.safe_load(SIMHOSTS_DEFAULTS.read_text(encoding="utf-8"))
    return ipaddress.ip_interface(defaults["simhosts_bridge_address"]).network


def topology_hosts(data):
    """(group, host name, spec) of every host, in topology order."""
    for group, spec in (data.get("host_groups") or {}).items():
        for name, host in ((spec or {}).get("hosts") or {}).items():
            yield group, name, host if isinstance(host, dict) else {}


def topology_networks(data):
    return {name: ipaddress.ip_network(spec["cidr"]) for name, spec in (data.get("networks") or {}).items()}


def derive_hosts(data, used_addresses):
    """{old name: (new name, simulated-host address)} for every host of the topology."""
    network = simhosts_network()
    plan = {}
    for index, (_group, name, _spec) in enumerate(topology_hosts(data)):
        address = network.network_address + FIRST_HOST + index
        if address not in network or address in (network.network_address, network.broadcast_address):
            raise BenchError("%d hosts do not fit in %s from .%d on" % (index + 1, network, FIRST_HOST))
        if str(address) in used_addresses:
            raise BenchError("bench address %s of %s is already the ssh_address of %s"
                             % (address, name, used_addresses[str(address)]))
        plan[name] = ("%s%d" % (HOST_PREFIX, index + 1), str(address))
    if not plan:
        raise BenchError("the topology has no host under host_groups")
    return plan


def derive_networks(data, taken):
    """{network name: (old cidr, new cidr)}: each moved by whole multiples of its size until it
    overlaps no network of any scenario (taken) nor another moved one."""
    moved = {}
    for name, old in topology_networks(data).items():
        for step in range(1, 64):
            candidate = ipaddress.ip_network("%s/%d" % (old.network_address + step * old.num_addresses, old.prefixlen))
            if not any(candidate.overlaps(other) for other in list(taken) + [n for _o, n in moved.values()]):
                moved[name] = (old, candidate)
                break
        else:
            raise BenchError("no free subnet of the size of %s (%s) near it" % (name, old))
    return moved


def translate(value, moved):
    """value with every address, range or CIDR inside a moved network moved along."""
    if isinstance(value, dict):
        return {key: translate(item, moved) for key, item in value.items()}
    if isinstance(value, list):
        return [translate(item, moved) for item in value]
    if not isinstance(value, str):
        return value

    def move(text):
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return None
        for old, new in moved:
            if address in old:
                return str(new.network_address + (int(address) - int(old.network_address)))
        return None

    if "-" in value and value.count("-") == 1:
        first, last = (part.strip() for part in value.split("-"))
        first_moved, last_moved = move(first), move(last)
        if first_moved and last_moved:
            return "%s-%s" % (first_moved, last_moved)
    if "/" in value:
        address, _slash, prefix = value.partition("/")
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            return value  # not a CIDR (a path, a URL)
        moved_address = move(address)
        return "%s/%s" % (moved_address, prefix) if moved_address else value
    return move(value) or value


def derive(scenario):
    """The bench topology data and what was changed, from a scenario topology file."""
    data = yaml.safe_load(scenario.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise BenchError("%s: not a topology mapping" % relative(scenario))
    used, taken = {}, []
    for other in scenario_topologies():
        other_data = yaml.safe_load(other.read_text(encoding="utf-8")) or {}
        for _group, name, spec in topology_hosts(other_data):
            if spec.get("ssh_address"):
                used[str(spec["ssh_address"])] = "%s in %s" % (name, relative(other))
        taken += topology_networks(other_data).values()
    taken += topology_networks(data).values()
    hosts = derive_hosts(data, used)
    networks = derive_networks(data, taken)
    bench = translate(data, list(networks.values()))
    for group, spec in (bench.get("host_groups") or {}).items():
        renamed = {}
        for name, host in (spec.get("hosts") or {}).items():
            new_name, address = hosts[name]
            renamed[new_name] = dict(host if isinstance(host, dict) else {}, ssh_address=address)
        bench["host_groups"][group]["hosts"] = renamed
    return bench, hosts, networks


def topology_text(scenario, bench):
    return ("# generated by bench/containers.py from %s: hosts renamed, networks moved\n" % relative(scenario)
            + yaml.safe_dump(bench, sort_keys=False))


def plain(value):
    """A value of ansible-inventory's JSON without ansible-core's {"__ansible_unsafe": ...} wrapper."""
    if isinstance(value, dict) and set(value) == {"__ansible_unsafe"}:
        return value["__ansible_unsafe"]
    return value


def inventory_containers(inventory):
    """{physical host: [containers]} as the topology plugin places them."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    run = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(inventory), "--list"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise BenchError("the derived topology does not build an inventory:\n%s" % run.stderr[-3000:])
    listing = json.loads(run.stdout)
    hostvars = listing.get("_meta", {}).get("hostvars", {})
    per_host = {}
    # a service container is a host with a container_name (docs/architecture.md, the inventory contract)
    for host, host_vars in sorted(hostvars.items()):
        if "container_name" in host_vars:
            per_host.setdefault(plain(host_vars["physical_host"]), []).append(host)
    return per_host


def describe(scenario, hosts, networks, per_host):
    return {
        "scenario": topology_file(scenario),
        "simulated_hosts": {new: {"from": old, "ssh_address": address, "containers": len(per_host.get(new, []))}
                            for old, (new, address) in hosts.items()},
        "networks": {name: {"from": str(old), "to": str(new)} for name, (old, new) in networks.items()},
        "containers": sum(len(c) for c in per_host.values()),
    }


# -- running and reading the playbooks ---------------------------------------------------------


def env(json_output=False):
    run_env = dict(os.environ)
    run_env.update({
        "PATH": "%s:%s" % (BIN, run_env.get("PATH", "")),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "LXSTACK_SIMHOSTS_KEY": str(KEY),
        "ANSIBLE_PRIVATE_KEY_FILE": str(KEY),
        "ANSIBLE_REMOTE_USER": "root",
    })
    if json_output:
        # json on stdout; the timer callback replaces profile_tasks, whose output would mix in
        run_env.update({"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
                        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.timer"})
    return run_env


def playbook(inventory, path, *args, json_output=False):
    """Run ansible-playbook; returns (seconds, stdout). Fails loudly, with the log's tail."""
    cmd = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / path), *args]
    print("$ " + " ".join(relative(c) if c.startswith(str(ROOT)) else c for c in cmd), flush=True)
    started = time.monotonic()
    run = subprocess.run(cmd, cwd=ROOT, env=env(json_output), text=True, capture_output=True, check=False)
    elapsed = round(time.monotonic() - started, 1)
    log = WORK / ("%s.log" % pathlib.Path(path).stem)
    log.write_text(run.stdout + run.stderr, encoding="utf-8")
    if run.returncode != 0:
        sys.stdout.write(run.stdout[-6000:] + run.stderr[-3000:])
        raise BenchError("%s failed (rc %d) after %ss, log in %s" % (path, run.returncode, elapsed, relative(log)))
    return elapsed, run.stdout


def parse_json(stdout):
    """The json callback's document (anything printed before it is skipped)."""
    match = re.search(r"(?m)^\{", stdout)
    if match is None:
        raise BenchError("no JSON report in the output of ansible-playbook:\n" + stdout[-3000:])
    return json.JSONDecoder().raw_decode(stdout[match.start():])[0]


def seconds(duration):
    start, end = (datetime.datetime.fromisoformat(duration[k].rstrip("Z")) for k in ("start", "end"))
    return round((end - start).total_seconds(), 2)


def tasks(report):
    for play in report["plays"]:
        yield from play["tasks"]


def template_build(report):
    """Seconds of the simhosts template tasks (tests/simhosts/roles/simhosts/tasks/template.yml, which name
    the template) that changed something; None when cached templates served. The json callback gives no
    task file, so the per-host copy of the template rootfs (host.yml) is left out by its name."""
    spent = [seconds(task["task"]["duration"]) for task in tasks(report)
             if "template" in task["task"]["name"].lower() and "rootfs into" not in task["task"]["name"]
             and any(r.get("changed") for r in task["hosts"].values())]
    return round(sum(spent), 1) if spent else None


def base_image_build(report):
    """The lxc_host task that runs debootstrap (not the one that installs it)."""
    for task in tasks(report):
        name = task["task"]["name"].lower()
        if "run debootstrap" in name and any(not r.get("skipped") for r in task["hosts"].values()):
            return {"seconds": seconds(task["task"]["duration"]), "task": task["task"]["name"],
                    "hosts": sorted(h for h, r in task["hosts"].items() if r.get("changed"))}
    return None


def container_timings(report):
    per = {}
    for task in tasks(report):
        for host, result in task["hosts"].items():
            timing = result.get("timings")
            if isinstance(timing, dict) and "clone" in timing:
                per[host] = dict(timing, create=round(timing["clone"] + timing.get("start", 0), 3),
                                 total=round(timing["clone"] + timing.get("systemd", timing.get("start", 0)), 3))
    return per


def changed(report):
    return sum(stat.get("changed", 0) for stat in report["stats"].values())


def summary(values):
    return {"min": min(values), "median": round(statistics.median(values), 3), "max": max(values)} if values else {}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topology", default=relative(SCENARIO), help="scenario topology, relative to the checkout")
    parser.add_argument("--keep", action="store_true", help="leave the simulated hosts running")
    parser.add_argument("--reuse", action="store_true", help="reuse existing simulated hosts")
    parser.add_argument("--plan", action="store_true", help="print what it would create, create nothing")
    opts = parser.parse_args()
    scenario = (ROOT / opts.topology).resolve()
    if not scenario.is_file():
        raise BenchError("topology %s not found" % opts.topology)

    bench, hosts, networks = derive(scenario)
    text = topology_text(scenario, bench)
    if opts.plan:
        with tempfile.TemporaryDirectory(prefix="lxstack-bench-plan-") as tmp:
            (pathlib.Path(tmp) / "topology.yml").write_text(text, encoding="utf-8")
            per_host = inventory_containers(tmp)
        plan = describe(scenario, hosts, networks, per_host)
        plan["containers_per_host"] = per_host
        plan["missing_preconditions"] = missing_preconditions(**PRECONDITIONS)
        print(json.dumps(plan, indent=2))
        return

    require(**PRECONDITIONS)
    run = Run(__file__, "LXC hosts and service containers on simulated hosts")
    inventory = WORK / "inventory"
    inventory.mkdir(parents=True, exist_ok=True)
    state = inventory / "topology.state.yml"
    if state.exists() and not opts.reuse:
        state.unlink()
    (inventory / "topology.yml").write_text(text, encoding="utf-8")
    per_host = inventory_containers(inventory)
    expected = sorted(c for containers in per_host.values() for c in containers)
    topology = dict(topology_file(inventory / "topology.yml"), **describe(scenario, hosts, networks, per_host))

    destroyed = False
    try:
        result = measure(inventory, scenario, hosts, expected, opts)
        if not opts.keep:
            result["simhosts_destroy_s"] = playbook(inventory, "tests/simhosts/destroy.yml")[0]
            destroyed = True
    finally:
        if not opts.keep and not destroyed:
            # a failed run leaves no simulated host behind (its log stays in .cache/bench-containers)
            subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory),
                            str(ROOT / "tests/simhosts/destroy.yml")],
                           cwd=ROOT, env=env(), capture_output=True, check=False)
    rerun_changed = result["hosts_yml_rerun_changed"]
    written = run.write(topology, result, complete=rerun_changed == 0)
    print(json.dumps({k: v for k, v in result.items() if k != "container_create_s"}, indent=2))
    print("container create (s): clone %s, create %s, total %s, within %ss: %s" % (
        result["container_create_s"]["clone"], result["container_create_s"]["create"],
        result["container_create_s"]["total"], CREATE_GOAL_S,
        result["container_create_s"]["within_goal"]))
    print("wrote %s" % relative(written))
    if rerun_changed != 0:
        raise BenchError("the re-run of playbooks/hosts.yml reported %d changes" % rerun_changed)


def measure(inventory, scenario, hosts, expected, opts):
    """Create the simulated hosts, run hosts.yml twice; the figures."""
    simhosts_s, out = playbook(inventory, "tests/simhosts/create.yml",
                               "-e", "simhosts_recreate=%s" % ("false" if opts.reuse else "true"), json_output=True)
    simhosts_template_s = template_build(parse_json(out))

    first_s, out = playbook(inventory, "playbooks/hosts.yml", json_output=True)
    first = parse_json(out)
    (WORK / "hosts-first.json").write_text(json.dumps(first), encoding="utf-8")
    rerun_s, out = playbook(inventory, "playbooks/hosts.yml", json_output=True)
    rerun = parse_json(out)
    (WORK / "hosts-rerun.json").write_text(json.dumps(rerun), encoding="utf-8")

    per = container_timings(first)
    if sorted(per) != expected:
        missing, unexpected = sorted(set(expected) - set(per)), sorted(set(per) - set(expected))
        raise BenchError("module timings for %d of the %d containers of the inventory; missing: %s, unexpected: %s"
                         % (len(per), len(expected), missing, unexpected))
    base = base_image_build(first)
    if base is None and not opts.reuse:
        raise BenchError("no base image build found on fresh simulated hosts (task 'Run debootstrap ...' of lxc_host)")
    clone = [t["clone"] for t in per.values()]
    create = [t["create"] for t in per.values()]
    total = [t["total"] for t in per.values()]
    definition = ("lxc_container module timings: clone from the cached base image (clone), "
                  "until RUNNING (start), until systemd running (systemd, from the start); "
                  "create = clone + start (compared with the goal), total = clone + systemd")
    return {
        "scenario": "%s on %d simulated hosts (%s), %d service containers" % (
            relative(scenario), len(hosts), ", ".join(new for new, _a in hosts.values()), len(per)),
        "reused_simhosts": opts.reuse,
        "simhosts_create_s": simhosts_s,
        "simhosts_template_build_s": simhosts_template_s,
        "base_image_build": base,
        "hosts_yml_first_run_s": first_s,
        "container_create_s": {
            "definition": definition,
            "goal_s": CREATE_GOAL_S,
            "clone": summary(clone),
            "create": summary(create),
            "total": summary(total),
            "within_goal": "%d/%d" % (sum(1 for t in create if t <= CREATE_GOAL_S), len(create)),
            "per_container": per,
        },
        "hosts_yml_rerun_s": rerun_s,
        "hosts_yml_rerun_changed": changed(rerun),
    }


if __name__ == "__main__":
    main()
