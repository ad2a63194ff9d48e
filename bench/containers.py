# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measure LXC hosts and service containers on simulated hosts.

What it does (re-runnable; every run starts from fresh simulated hosts unless --reuse):
  1. derives a bench topology from a scenario topology (default molecule/default's; bench/_simhosts.py)
     and writes it under .cache/bench-containers/inventory/: every host of every host group becomes
     bench<N> with its own simulated-host address (from 10.97.0.21 on, inside tests/simhosts' machine
     bridge network, checked free against every molecule scenario), and every network moves to the next
     free subnet of its size (every address, range and VIP in it moves along), so the bench can run
     beside a molecule scenario on the shared machine bridges (a directory shared into the hosts,
     simhosts_mounts, is renamed bench-<name>); creates the simulated hosts with
     tests/simhosts/create.yml (privileged LXC containers with systemd and sshd on this machine);
  2. runs playbooks/hosts.yml once (json callback): the base image build time is the duration of
     the lxc_host task that runs debootstrap (none when every host unpacked the image from the deploy
     host's image cache, ~/.cache/lxstack/images, which a molecule run fills: base_image_from_cache),
     and the per-container create time comes from the `timings` the lxstack.openstack.lxc_container
     module returns (clone from the cached base image, start, systemd running) -- one entry per
     container of the inventory, or it fails;
  3. runs playbooks/hosts.yml again: its wall time is the no-change re-run (changed must be 0);
  4. destroys the simulated hosts (unless --keep) and writes bench/results/containers.json.

Prerequisites (checked first, all reported at once): root; `make setup` done; LXC with the debian
template and distro-info, debootstrap, nftables, ssh on this machine; access to the Debian mirror.
Run: .venv/bin/python bench/containers.py [--topology PATH] [--keep] [--reuse] [--plan]
--plan prints the simulated hosts, networks and containers it would create, creates nothing.
The machine's load average is recorded: other work on the machine slows every figure.
"""

from __future__ import annotations

import json

from _common import ROOT, BenchError, Run, relative, require, topology_file
from _simhosts import (
    PRECONDITIONS,
    Playbooks,
    base_image_build,
    base_image_unpacked,
    changed,
    describe,
    inventory_containers,
    options,
    parse_json,
    plan,
    seconds,
    summary,
    tasks,
    topology_text,
    write_inventory,
)
from _simhosts import derive as derive_bench

WORK = ROOT / ".cache" / "bench-containers"
CREATE_GOAL_S = 2.0


def derive(scenario):
    """The bench topology data and what was changed, from a scenario topology file (bench/_simhosts.py)."""
    return derive_bench(scenario, "containers")


# -- reading the json reports -------------------------------------------------------------------


def template_build(report):
    """Seconds of the simhosts template tasks (tests/simhosts/roles/simhosts/tasks/template.yml, which name
    the template) that changed something; None when cached templates served. The json callback gives no
    task file, so the per-host copy of the template rootfs (host.yml) is left out by its name."""
    spent = [seconds(task["task"]["duration"]) for task in tasks(report)
             if "template" in task["task"]["name"].lower() and "rootfs into" not in task["task"]["name"]
             and any(r.get("changed") for r in task["hosts"].values())]
    return round(sum(spent), 1) if spent else None


def container_timings(report):
    per = {}
    for task in tasks(report):
        for host, result in task["hosts"].items():
            timing = result.get("timings")
            if isinstance(timing, dict) and "clone" in timing:
                per[host] = dict(timing, create=round(timing["clone"] + timing.get("start", 0), 3),
                                 total=round(timing["clone"] + timing.get("systemd", timing.get("start", 0)), 3))
    return per


def main():
    opts, scenario = options(__doc__)

    bench, hosts, networks = derive(scenario)
    text = topology_text(__file__, scenario, bench)
    if opts.plan:
        plan(scenario, hosts, networks, text)
        return

    require(**PRECONDITIONS)
    run = Run(__file__, "LXC hosts and service containers on simulated hosts")
    inventory = write_inventory(WORK, text, opts.reuse)
    per_host = inventory_containers(inventory)
    expected = sorted(c for containers in per_host.values() for c in containers)
    topology = dict(topology_file(inventory / "topology.yml"), **describe(scenario, hosts, networks, per_host))

    # a failed run leaves no simulated host behind (its log stays in .cache/bench-containers)
    books = Playbooks(WORK, inventory)
    result = books.around(lambda: measure(books, scenario, hosts, expected, opts), opts.keep)
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


def measure(books, scenario, hosts, expected, opts):
    """Create the simulated hosts, run hosts.yml twice; the figures."""
    simhosts_s, out = books.run("tests/simhosts/create.yml",
                                "-e", "simhosts_recreate=%s" % ("false" if opts.reuse else "true"), json_output=True)
    simhosts_template_s = template_build(parse_json(out))

    first_s, out = books.run("playbooks/hosts.yml", json_output=True)
    first = parse_json(out)
    (WORK / "hosts-first.json").write_text(json.dumps(first), encoding="utf-8")
    rerun_s, out = books.run("playbooks/hosts.yml", json_output=True)
    rerun = parse_json(out)
    (WORK / "hosts-rerun.json").write_text(json.dumps(rerun), encoding="utf-8")

    per = container_timings(first)
    if sorted(per) != expected:
        missing, unexpected = sorted(set(expected) - set(per)), sorted(set(per) - set(expected))
        raise BenchError("module timings for %d of the %d containers of the inventory; missing: %s, unexpected: %s"
                         % (len(per), len(expected), missing, unexpected))
    base, unpacked = base_image_build(first), base_image_unpacked(first)
    if base is None and not unpacked and not opts.reuse:
        raise BenchError("fresh simulated hosts got their base image neither from a build (task 'Run debootstrap "
                         "...' of lxc_host) nor from the deploy host's image cache (task 'Unpack the image ...')")
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
        "base_image_from_cache": unpacked,
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
