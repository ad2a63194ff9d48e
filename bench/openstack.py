# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measure the OpenStack control plane in its containers on simulated hosts.

What it does (re-runnable; every run starts from fresh simulated hosts unless --reuse):
  1. derives a bench topology from a scenario topology (default molecule/default's; bench/_simhosts.py)
     and writes it under .cache/bench-openstack/inventory/: every host of every host group becomes
     osbench<N> with its own simulated-host address (from 10.97.0.71 on), every network moves to a free
     subnet of its size, both checked against every molecule scenario and bench/containers.py, and the
     directory the hosts share (glance's image store) is its own; the scenario's group_vars/ is linked
     beside it, so the deploy is configured as the scenario's (upper-constraints from
     $LXSTACK_CONSTRAINTS_DIR, default ../shared/openstack/upper-constraints beside the checkout, as in
     the Makefile); creates the simulated hosts with tests/simhosts/create.yml;
  2. runs the phases playbooks/site.yml imports one by one (json callback), each timed: prechecks, hosts,
     infrastructure, venvs, openstack (cold), then openstack.yml again (warm: changed must be 0), then
     healthcheck (must pass);
  3. per service (a play of openstack.yml, named by its role) of the cold and the warm run: the summed
     durations of its tasks and its wall time (first task start to last task end), and the same for
     every other phase's plays;
  4. the peak memory of every service container: its cgroup's memory.peak (cgroup v2) or
     memory.max_usage_in_bytes (v1), the peak since the container started, read with lxc-cgroup on its
     simulated host over SSH (the deploy key), or the current usage where no peak is readable (which
     file was read is recorded); also each simulated host's own peak, read on this machine;
  5. destroys the simulated hosts (unless --keep) and writes bench/results/openstack.json (a partial
     result, complete=false, when the warm run changed something or a container's memory was unreadable).

Prerequisites (checked first, all reported at once): root; `make setup` done; LXC with the debian
template and distro-info, debootstrap, nftables, ssh on this machine; the release's upper-constraints
file; access to the Debian mirror. Logs and every run's json report: .cache/bench-openstack/.
Run: .venv/bin/python bench/openstack.py [--topology PATH] [--keep] [--reuse] [--plan]
--plan prints the simulated hosts, networks, containers, phases and services, creates nothing.
The machine's load average is recorded: other work on the machine slows every figure.
"""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import subprocess

import yaml
from _common import ROOT, BenchError, Run, relative, require, topology_file
from _simhosts import (
    KEY,
    PRECONDITIONS,
    Playbooks,
    base_image_build,
    base_image_unpacked,
    changed,
    derive,
    describe,
    inventory_hostvars,
    moment,
    options,
    parse_json,
    plan,
    seconds,
    service_containers,
    simhosts_defaults,
    topology_text,
    write_inventory,
)

WORK = ROOT / ".cache" / "bench-openstack"
SITE = ROOT / "playbooks" / "site.yml"
MIB = 1024 * 1024
# A container's memory in its cgroup, cgroup v2 file first, then v1: the peak since it started, and the
# current usage (the figure where no peak file is readable).
PEAK_FILES = ("memory.peak", "memory.max_usage_in_bytes")
CURRENT_FILES = ("memory.current", "memory.usage_in_bytes")
# A container's processes' own memory without the page cache, now: memory.stat's anon (cgroup v2) or
# total_rss (v1, the hierarchy's anonymous and swap cache memory).
ANON_KEYS = ("anon", "total_rss")
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=30")


def constraints_dir():
    """Where the upper-constraints files are: the Makefile's CONSTRAINTS_DIR, as make bench exports it."""
    return pathlib.Path(os.environ.get("LXSTACK_CONSTRAINTS_DIR") or ROOT.parent / "shared/openstack/upper-constraints")


# -- the phases and their plays ----------------------------------------------------------------


def imported(entry):
    """The playbook a playbook entry imports (import_playbook, by either name), or None for a play."""
    return entry.get("ansible.builtin.import_playbook") or entry.get("import_playbook")


def playbook_file(name, importer):
    """The file an import_playbook names: lxstack.openstack.<name>, or a path relative to the importer."""
    if name.startswith("lxstack.openstack."):
        return ROOT / "playbooks" / ("%s.yml" % name.rsplit(".", 1)[1])
    return (pathlib.Path(importer).parent / name).resolve()


def site_phases(site=SITE):
    """(phase, playbook relative to the checkout) of every phase site.yml imports, in its order."""
    entries = yaml.safe_load(pathlib.Path(site).read_text(encoding="utf-8")) or []
    paths = [playbook_file(imported(entry), site) for entry in entries if imported(entry)]
    return [(path.stem, relative(path)) for path in paths]


def run_order(phases):
    """The runs of the bench: the phases in order, openstack.yml twice (openstack_cold, openstack_warm)."""
    order = []
    for phase, path in phases:
        order += [("openstack_cold", path), ("openstack_warm", path)] if phase == "openstack" else [(phase, path)]
    if "openstack_cold" not in dict(order):
        raise BenchError("playbooks/site.yml imports no openstack.yml: nothing to measure")
    return order


def playbook_plays(path):
    """{name, hosts, service} of every play a playbook runs, its imports followed, in order. The service of
    a play that is one role's (one role, no tasks of its own) is the role's short name; other plays (the
    guard, the secrets, venvs.yml's) have none."""
    plays = []
    for entry in yaml.safe_load(pathlib.Path(path).read_text(encoding="utf-8")) or []:
        if imported(entry):
            plays += playbook_plays(playbook_file(imported(entry), path))
            continue
        roles = [role.get("role") or role.get("name") if isinstance(role, dict) else role
                 for role in entry.get("roles") or []]
        own_tasks = any(entry.get(key) for key in ("pre_tasks", "tasks", "post_tasks", "handlers"))
        plays.append({"name": entry.get("name") or entry.get("hosts"), "hosts": entry.get("hosts"),
                      "service": roles[0].rsplit(".", 1)[-1] if len(roles) == 1 and not own_tasks else None})
    return plays


def play_figures(play):
    """One play of a json report: its tasks, their summed durations (task_s), its wall time from the first
    task's start to the last task's end (wall_s), and how many host results changed something. A task
    with no host result (a meta task) has no end and counts for nothing."""
    spans = [task["task"]["duration"] for task in play["tasks"] if "end" in task["task"]["duration"]]
    wall = 0.0
    if spans:
        wall = seconds({"start": min((span["start"] for span in spans), key=moment),
                        "end": max((span["end"] for span in spans), key=moment)})
    return {"tasks": len(play["tasks"]), "task_s": round(sum(seconds(span) for span in spans), 1),
            "wall_s": round(wall, 1),
            "changed": sum(1 for task in play["tasks"] for result in task["hosts"].values() if result.get("changed"))}


def match_plays(plays, report):
    """[(play of the playbook, [its entries in the json report])]: the report names no role, so its plays
    are matched in order with the playbook's, by name (a play run in serial batches has one entry a batch)."""
    matched, index, entries = [], 0, report["plays"]
    for position, spec in enumerate(plays):
        batches = []
        while index < len(entries) and entries[index]["play"]["name"] == spec["name"]:
            batches.append(entries[index])
            index += 1
            if position + 1 < len(plays) and plays[position + 1]["name"] == spec["name"]:
                break  # the next play has the same name: one entry each
        if not batches:
            break
        matched.append((spec, batches))
    if len(matched) != len(plays) or index != len(entries):
        return None
    return matched


def per_service(report, playbook):
    """The plays of a playbook's json report with their figures: {"services": {service: ...}, "other_plays":
    {play name: ...}}; two plays of one service add up."""
    plays = playbook_plays(playbook)
    matched = match_plays(plays, report)
    if matched is None:
        raise BenchError("the plays of the report of %s are not the playbook's:\n  report:   %s\n  playbook: %s"
                         % (relative(playbook), [play["play"]["name"] for play in report["plays"]],
                            [spec["name"] for spec in plays]))
    services, others = {}, {}
    for spec, batches in matched:
        figures = dict(play=spec["name"], hosts=spec["hosts"],
                       **play_figures({"tasks": [task for batch in batches for task in batch["tasks"]]}))
        if spec["service"] is None:
            others[spec["name"]] = figures
        elif spec["service"] in services:
            before = services[spec["service"]]
            services[spec["service"]] = {
                "play": "%s; %s" % (before["play"], figures["play"]),
                "hosts": "%s:%s" % (before["hosts"], figures["hosts"]),
                **{key: round(before[key] + figures[key], 1) for key in ("tasks", "task_s", "wall_s", "changed")}}
        else:
            services[spec["service"]] = figures
    return {"services": services, "other_plays": others}


# -- memory ------------------------------------------------------------------------------------


def memory_script(containers):
    """Shell commands that print `<container> <cgroup file> <bytes>` for every memory file of PEAK_FILES
    and CURRENT_FILES readable for each container: through lxc-cgroup, else from the cgroup file itself
    (cgroup v2 layout, then v1's memory hierarchy)."""
    return ('for c in %s; do for f in %s memory.stat; do '
            'v=$(lxc-cgroup -n "$c" "$f" 2>/dev/null) '
            '|| v=$(cat "/sys/fs/cgroup/lxc.payload.$c/$f" 2>/dev/null) '
            '|| v=$(cat "/sys/fs/cgroup/memory/lxc.payload.$c/$f" 2>/dev/null) '
            '|| continue; '
            'if [ "$f" = memory.stat ]; then echo "$v" | while read -r k n; do '
            'case "$k" in %s) echo "$c $f:$k $n";; esac; done; else echo "$c $f $v"; fi; done; done'
            % (" ".join(shlex.quote(name) for name in containers), " ".join(PEAK_FILES + CURRENT_FILES),
               "|".join(ANON_KEYS)))


def parse_memory(text):
    """{container: {cgroup file: bytes}} from the output of memory_script (anything else is skipped)."""
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].isdigit():
            values.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return values


def memory_figures(values):
    """A container's memory from its cgroup files: mb, the peak in MiB (the current usage where no peak file
    was readable; None where nothing was), read, the file that figure came from, and current_mb."""
    peak = next((name for name in PEAK_FILES + CURRENT_FILES if name in values), None)
    current = next((name for name in CURRENT_FILES if name in values), None)
    anon = next(("memory.stat:" + key for key in ANON_KEYS if "memory.stat:" + key in values), None)
    return {"mb": round(values[peak] / MIB, 1) if peak else None, "read": peak,
            "current_mb": round(values[current] / MIB, 1) if current else None,
            "anon_mb": round(values[anon] / MIB, 1) if anon else None}


def read_memory(argv, containers):
    """{container: memory_figures} of containers, the script run by argv (a local shell, or ssh)."""
    run = subprocess.run([*argv, memory_script(containers)], capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise BenchError("reading the memory of %s failed (rc %d): %s"
                         % (", ".join(containers), run.returncode, run.stderr.strip()[-2000:]))
    values = parse_memory(run.stdout)
    return {name: memory_figures(values.get(name, {})) for name in containers}


def memory(inventory, hosts):
    """Memory of every service container, per simulated host, and of each simulated host itself; the
    problems (a container whose memory was unreadable)."""
    per_host = service_containers(inventory_hostvars(inventory))
    addresses = dict(hosts.values())
    prefix = simhosts_defaults()["simhosts_prefix"]
    problems = []

    def read(argv, containers):
        try:
            return read_memory(argv, containers)
        except BenchError as error:
            problems.append(str(error))
            return {name: memory_figures({}) for name in containers}

    own = read(["sh", "-c"], [prefix + host for host in addresses])
    figures = {}
    for host, address in addresses.items():
        names = per_host.get(host, {})
        read_host = read(["ssh", "-i", str(KEY), *SSH_OPTIONS, "root@%s" % address], list(names.values()))
        containers = {inventory_name: read_host[name] for inventory_name, name in names.items()}
        problems += ["no memory figure of container %s on %s" % (name, host)
                     for name, entry in containers.items() if entry["mb"] is None]
        figures[host] = {
            "containers_mb": round(sum(entry["mb"] or 0 for entry in containers.values()), 1),
            "containers_anon_mb": round(sum(entry["anon_mb"] or 0 for entry in containers.values()), 1),
            "simulated_host_mb": own[prefix + host]["mb"],
            "simulated_host_read": own[prefix + host]["read"],
            "containers": containers,
        }
    definition = ("MiB; per container the peak since it started (cgroup v2 memory.peak, v1 "
                  "memory.max_usage_in_bytes; page cache included), or its current usage where no peak was "
                  "readable (read names the file), read after the healthcheck; anon_mb: its processes' own memory "
                  "then, without the page cache (memory.stat anon, v1 total_rss); containers_mb and "
                  "containers_anon_mb: their sums on the "
                  "host (a sum of peaks, not a peak); simulated_host_mb: the simulated host's own cgroup peak on "
                  "this machine (its system and every container at once)")
    return {"definition": definition, "hosts": figures}, problems


# -- the run -----------------------------------------------------------------------------------


def main():
    opts, scenario = options(__doc__, reuse_help="reuse existing simulated hosts (then no run is cold)",
                             plan_help="print what it would create and run, create nothing")

    derived, hosts, networks = derive(scenario, "openstack")
    text = topology_text(__file__, scenario, derived)
    group_vars = scenario.parent / "group_vars" if (scenario.parent / "group_vars").is_dir() else None
    constraints = constraints_dir() / ("%s.txt" % derived.get("release"))
    preconditions = dict(PRECONDITIONS)
    preconditions["files"] = PRECONDITIONS["files"] + (
        (constraints, "upper-constraints of %s: $LXSTACK_CONSTRAINTS_DIR/<release>.txt" % derived.get("release")),)
    order = run_order(site_phases())
    if opts.plan:
        openstack = dict(order)["openstack_cold"]
        plan(scenario, hosts, networks, text, preconditions,
             group_vars=relative(group_vars) if group_vars else None, constraints=relative(constraints),
             runs=["%s: %s" % run for run in order],
             services={spec["name"]: spec["service"] for spec in playbook_plays(ROOT / openstack)})
        return

    require(**preconditions)
    run = Run(__file__, "The OpenStack control plane in its containers on simulated hosts")
    inventory = write_inventory(WORK, text, opts.reuse, group_vars)
    per_host = service_containers(inventory_hostvars(inventory))
    topology = dict(topology_file(inventory / "topology.yml"), **describe(scenario, hosts, networks, per_host))
    books = Playbooks(WORK, inventory, {"LXSTACK_CONSTRAINTS_DIR": str(constraints.parent)})
    setup = {
        "scenario": "%s on %d simulated hosts (%s), %d service containers" % (
            relative(scenario), len(hosts), ", ".join(new for new, _a in hosts.values()),
            sum(len(c) for c in per_host.values())),
        "reused_simhosts": opts.reuse,
        "group_vars": relative(group_vars) if group_vars else None,
        "constraints": relative(constraints),
    }
    result = books.around(lambda: dict(setup, **measure(books, inventory, hosts, order, opts)), opts.keep)
    problems = result["problems"]
    written = run.write(topology, result, complete=not problems)
    print(json.dumps({phase: figures["wall_s"] for phase, figures in result["phases"].items()}, indent=2))
    for name in ("openstack_cold", "openstack_warm"):
        print("%s (task_s / wall_s): %s" % (name, ", ".join(
            "%s %s / %s" % (service, f["task_s"], f["wall_s"])
            for service, f in result["phases"][name]["services"].items())))
    print("memory (MiB, containers / simulated host): %s" % ", ".join(
        "%s %s / %s" % (host, f["containers_mb"], f["simulated_host_mb"])
        for host, f in result["memory"]["hosts"].items()))
    print("wrote %s" % relative(written))
    if problems:
        raise BenchError("partial result:\n  - " + "\n  - ".join(problems))


def measure(books, inventory, hosts, order, opts):
    """Create the simulated hosts, run every phase, read the memory; the figures and the problems."""
    simhosts_s, _out = books.run("tests/simhosts/create.yml",
                                 "-e", "simhosts_recreate=%s" % ("false" if opts.reuse else "true"), json_output=True)
    phases, problems = {}, []
    for phase, path in order:
        # every venv built from scratch: the deploy host's venv archive cache (repo_venv_cache_dir) is off
        wall, out = books.run(path, "-e", json.dumps({"repo_venv_cache_dir": ""}), json_output=True, log=phase)
        report = parse_json(out)
        (WORK / ("%s.json" % phase)).write_text(json.dumps(report), encoding="utf-8")
        phases[phase] = dict(playbook=path, wall_s=wall, changed=changed(report), services={}, other_plays={})
        try:
            phases[phase].update(per_service(report, ROOT / path))
        except BenchError as error:
            problems.append(str(error))
        if phase == "hosts":
            phases[phase]["base_image"] = {"built": base_image_build(report),
                                           "unpacked_from_cache": base_image_unpacked(report)}
    warm = phases["openstack_warm"]
    if warm["changed"]:
        problems.append("the warm run of %s changed %d results (services: %s)" % (
            warm["playbook"], warm["changed"],
            ", ".join(s for s, f in {**warm["services"], **warm["other_plays"]}.items() if f["changed"]) or "-"))
    figures, unread = memory(inventory, hosts)
    return {
        "simhosts_create_s": simhosts_s,
        "phases": phases,
        "timing_definition": ("phases: wall_s, the ansible-playbook run (one process per phase: facts gathered anew); "
                              "per play: task_s, the summed durations of its tasks, wall_s, first task start to "
                              "last task end; a service is a play of its role"),
        "memory": figures,
        # a message may quote this machine's paths (ssh names its key file): the result names none
        "problems": [problem.replace(str(ROOT) + "/", "") for problem in problems + unread],
    }


if __name__ == "__main__":
    main()
