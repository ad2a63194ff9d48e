# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render bench/results/summary.md from the result files beside it, and check a `make bench` run.

The docs quote no figure of their own: they point here, and every figure here is read from the
result file its section names, so docs and results cannot drift apart (tests/unit/test_bench.py
checks that summary.md is the rendering of the committed results).
Usage: .venv/bin/python bench/summary.py [--since <UTC ISO time>]
  --since: also check that every bench script wrote a complete result with the common header
  after that time, and that bench/results/ holds no result of a bench that no longer exists.
"""

from __future__ import annotations

import argparse
import json
import sys

from _common import HEADER_KEYS, RESULTS, ROOT, BenchError

SUMMARY = RESULTS / "summary.md"


def benches():
    """The bench scripts (one result file each): bench/*.py but the shared module and this one."""
    return sorted(p.stem for p in (ROOT / "bench").glob("*.py") if not p.stem.startswith("_") and p.stem != "summary")


def load_results():
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(RESULTS.glob("*.json"))}


def cell(value, unit=""):
    if value is None or value == {}:
        return "-"
    return "%s%s" % (value, unit)


def spread(stats, unit=" s"):
    if not stats:
        return "-"
    return "%s / %s / %s%s" % (stats.get("min"), stats.get("median"), stats.get("max"), unit)


def header(name, result):
    """Where the figures come from: file, date, commit, topology, machine."""
    lines = []
    missing = [key for key in HEADER_KEYS if key not in result]
    commit = result.get("commit") or {}
    topology = result.get("topology") or {}
    machine = result.get("machine") or {}
    measured = result.get("measured_at") or result.get("date") or "?"
    lines.append("- measured %s%s" % (measured, ", partial run" if result.get("complete") is False else ""))
    if commit:
        dirty = " with local changes" if commit.get("dirty") else ""
        lines.append("- commit `%s`%s" % (commit.get("sha", "?")[:12], dirty))
    if topology:
        where = topology.get("path") or topology.get("generated_by") or "?"
        lines.append("- topology `%s` (sha256 `%s`)" % (where, str(topology.get("sha256", "?"))[:12]))
    cpus = machine.get("nproc", machine.get("cpus"))
    if machine:
        load = machine.get("loadavg_start") or machine.get("loadavg_before") or [result.get("load_average_at_start")]
        system = machine.get("os") or machine.get("platform", "?")
        lines.append("- machine: %s CPU (%s), %s GB, %s; load average at the start %s" % (
            cpus, machine.get("cpu", "?"), machine.get("memory_gb", "?"), system, cell(load[0] if load else None)))
    if missing:
        lines.append("- this file predates the common header (no %s): re-run `make bench`" % ", ".join(missing))
    return ["## `bench/results/%s.json`: %s" % (name, result.get("benchmark", name)), "", *lines, ""]


def inventory_section(result):
    rows = ["| hosts | inventory hosts | build, no state file (CPU) | build with state file | peak RSS | "
            "`ansible-inventory --list` |", "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in result.get("results", []):
        rows.append("| %s | %s | %s s (%s s) | %s s | %s MB | %s s |" % (
            row["hosts"], row["inventory_hosts"], row["seconds"], row["cpu_seconds"], row["seconds_warm"],
            row["peak_rss_mb"], row["ansible_inventory_list_seconds"]))
    return [*rows, ""]


def containers_section(result):
    create = result.get("container_create_s") or {}
    base = result.get("base_image_build") or {}
    rows = [
        "Scenario: %s." % result.get("scenario", "?"),
        "",
        "| step | seconds |",
        "| --- | ---: |",
        "| create the simulated hosts (`simhosts_create_s`) | %s |" % cell(result.get("simhosts_create_s")),
        "| of which the template build (`simhosts_template_build_s`) | %s |"
        % cell(result.get("simhosts_template_build_s")),
        "| `playbooks/hosts.yml`, first run (`hosts_yml_first_run_s`) | %s |"
        % cell(result.get("hosts_yml_first_run_s")),
        "| of which the base image build (`base_image_build.seconds`) | %s |" % cell(base.get("seconds")),
        "| hosts that unpacked the base image from the deploy host's image cache (`base_image_from_cache`) | %s |"
        % (", ".join(result.get("base_image_from_cache") or []) or "-"),
        "| `playbooks/hosts.yml`, re-run (`hosts_yml_rerun_s`, changed=%s) | %s |" % (
            cell(result.get("hosts_yml_rerun_changed")), cell(result.get("hosts_yml_rerun_s"))),
        "| remove the simulated hosts (`simhosts_destroy_s`) | %s |" % cell(result.get("simhosts_destroy_s")),
        "",
        "Per container (min / median / max, `container_create_s`): clone %s, clone + start %s "
        "(goal %s s: %s within), until systemd runs %s." % (
            spread(create.get("clone")), spread(create.get("create")), cell(create.get("goal_s")),
            cell(create.get("within_goal")), spread(create.get("total"))),
        "",
    ]
    return rows


def venvs_section(result):
    first = result.get("repo_first_run") or {}
    second = result.get("repo_second_run") or {}
    rows = [
        "Release %s, constraints `%s`. Repo: %s wheels (%s MB); first run %s s, re-run %s s (changed=%s)." % (
            result.get("release", "?"), result.get("constraints", "?"), cell(first.get("wheels")),
            cell(first.get("wheels_mb")), cell(first.get("wall_seconds")), cell(second.get("wall_seconds")),
            cell(second.get("changed"))),
        "",
        "| service | repo build: wheels / venv archive | archive | install from the archive (unpack) | "
        "pip from the wheels (pip step) | re-run / check mode | venv | same packages, imports |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    builds = first.get("build_seconds_per_service") or {}
    for service, entry in (result.get("installs") or {}).items():
        build = builds.get(service) or {}
        archive, pip = entry.get("archive_first") or {}, entry.get("pip_first") or {}
        checks = entry.get("checks") or {}
        rows.append("| %s | %s s / %s s | %s MB | %s s (%s s) | %s s (%s s) | %s s / %s s | %s MB | %s, %s |" % (
            service, cell(build.get("wheels")), cell(build.get("venv_archive")), cell(build.get("archive_mb")),
            cell(archive.get("wall_seconds")), cell(archive.get("unpack_seconds")),
            cell(pip.get("wall_seconds")), cell(pip.get("pip_seconds")),
            cell((entry.get("archive_rerun") or {}).get("wall_seconds")),
            cell((entry.get("archive_check_mode") or {}).get("wall_seconds")),
            cell(entry.get("venv_mb")), cell(checks.get("same_packages_as_pip")), cell(checks.get("imports"))))
    api = result.get("keystone_api_uwsgi") or {}
    rows += ["", "Idempotent: %s; venvs came from the archives: %s; keystone API through uWSGI: %s." % (
        cell(result.get("idempotent")), cell(result.get("archive_path_used")),
        ", ".join("%s run %s s (HTTP %s)" % (run, cell(v.get("wall_seconds")), cell(v.get("status")))
                  for run, v in api.items()) or "-"), ""]
    return rows


def fresh_section(result):
    first = next(iter((result.get("runs") or {}).values()), {})
    rows = ["Debian %s; steps inside: `%s`." % (result.get("release", "?"), first.get("steps", "?")),
            "",
            "| run | template built | system ready | steps inside | total | with its removal | load average at "
            "the end | LXC cache held the release |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name, run in (result.get("runs") or {}).items():
        rows.append("| %s | %s | %s s | %s s | %s s | %s s | %s | %s |" % (
            name, cell(run.get("template_built")), cell(run.get("system_s")), cell(run.get("steps_s")),
            cell(run.get("total_s")), cell(run.get("wall_s")), cell((run.get("loadavg_end") or [None])[0]),
            cell(run.get("lxc_cache_held_release"))))
    return [*rows, ""]


def openstack_section(result):
    phases = result.get("phases") or {}
    base = (phases.get("hosts") or {}).get("base_image") or {}
    built = base.get("built") or {}
    rows = [
        "Scenario: %s%s; upper-constraints `%s`." % (
            result.get("scenario", "?"), ", simulated hosts reused (no run is cold)" if result.get("reused_simhosts")
            else "", result.get("constraints", "?")),
        "",
        "| run | playbook | seconds | changed |",
        "| --- | --- | ---: | ---: |",
        "| create the simulated hosts (`simhosts_create_s`) | `tests/simhosts/create.yml` | %s | - |"
        % cell(result.get("simhosts_create_s")),
    ]
    for name, phase in phases.items():
        rows.append("| %s | `%s` | %s | %s |" % (name, phase.get("playbook", "?"), cell(phase.get("wall_s")),
                                                 cell(phase.get("changed"))))
    rows += [
        "| remove the simulated hosts (`simhosts_destroy_s`) | `tests/simhosts/destroy.yml` | %s | - |"
        % cell(result.get("simhosts_destroy_s")),
        "",
        "Base image of the hosts run: built in %s s on %s, unpacked from the deploy host's image cache on %s." % (
            cell(built.get("seconds")), ", ".join(built.get("hosts") or []) or "-",
            ", ".join(base.get("unpacked_from_cache") or []) or "-"),
        "",
        "Per service, a play of `playbooks/openstack.yml` (`phases.openstack_cold`, `phases.openstack_warm`): "
        "its tasks' summed durations / its wall time, in seconds.",
        "",
        "| service | hosts | tasks | cold | warm | warm changed |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    cold = phases.get("openstack_cold") or {}
    warm = phases.get("openstack_warm") or {}
    for kind in ("services", "other_plays"):
        for name, figures in (cold.get(kind) or {}).items():
            again = (warm.get(kind) or {}).get(name) or {}
            rows.append("| %s | `%s` | %s | %s / %s | %s / %s | %s |" % (
                name if kind == "services" else "(%s)" % name, figures.get("hosts"), cell(figures.get("tasks")),
                cell(figures.get("task_s")), cell(figures.get("wall_s")), cell(again.get("task_s")),
                cell(again.get("wall_s")), cell(again.get("changed"))))
    memory = (result.get("memory") or {}).get("hosts") or {}
    rows += ["", "Memory after the healthcheck, MiB (`memory`): per container its peak (or what `read` names), per "
             "host their sum and the simulated host's own peak.", "",
             "| host | containers | sum of the containers' peaks | sum of their anonymous memory "
             "| simulated host's peak |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for host, figures in memory.items():
        rows.append("| %s | %s | %s | %s | %s (%s) |" % (
            host, len(figures.get("containers") or {}), cell(figures.get("containers_mb")),
            cell(figures.get("containers_anon_mb")), cell(figures.get("simulated_host_mb")),
            cell(figures.get("simulated_host_read"))))
    rows += ["", "| container | peak | read | current | anonymous (no page cache) |",
             "| --- | ---: | --- | ---: | ---: |"]
    for figures in memory.values():
        for name, entry in (figures.get("containers") or {}).items():
            rows.append("| %s | %s | %s | %s | %s |" % (name, cell(entry.get("mb")), cell(entry.get("read")),
                                                        cell(entry.get("current_mb")), cell(entry.get("anon_mb"))))
    if result.get("problems"):
        rows += ["", "Problems of this run: %s." % "; ".join(result["problems"])]
    return [*rows, ""]


def aio_section(result):
    cold, warm = result.get("cold") or {}, result.get("warm") or {}
    memory = result.get("memory") or {}
    rows = ["The all-in-one as `make aio` deploys it (`playbooks/aio.yml`), in a sandbox simulated host of its own;"
            " upper-constraints `%s`." % result.get("constraints", "?"), "",
            "| figure | measured | goal | met |", "| --- | ---: | ---: | --- |"]
    for name, label, unit in (("cold_s", "cold deploy from nothing (sandbox + deploy, venvs built)", " s"),
                              ("warm_s", "warm re-run (changed %s)" % cell(warm.get("changed")), " s"),
                              ("memory_mb", "peak memory of the whole all-in-one", " MiB")):
        goal = (result.get("goals") or {}).get(name) or {}
        rows.append("| %s | %s%s | %s%s | %s |" % (
            label, cell(goal.get("measured")), unit, cell(goal.get("goal")), unit, cell(goal.get("met"))))
    rows += ["", "| run | sandbox | playbooks/aio.yml | server ACTIVE | console marker |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for name, run, sandbox in (("cold", cold, result.get("sandbox_s")), ("warm", warm, None)):
        server = run.get("server") or {}
        rows.append("| %s | %s | %s s | %s s | %s s |" % (
            name, "%s s" % cell(sandbox) if sandbox else "-", cell(run.get("wall_s")),
            cell(server.get("active_s")), cell(server.get("marker_s"))))
    rows += ["", "Memory (MiB): peak %s (%s), at the end %s of it the processes' own (anonymous)." % (
        cell(memory.get("peak_mb")), cell(memory.get("read")), cell(memory.get("anon_mb_at_end")))]
    if result.get("problems"):
        rows += ["", "Problems of this run: %s." % "; ".join(result["problems"])]
    return [*rows, ""]


SECTIONS = {"aio": aio_section, "inventory": inventory_section, "containers": containers_section,
            "venvs": venvs_section, "fresh": fresh_section, "openstack": openstack_section}


def render(results):
    lines = [
        "# Benchmark results",
        "",
        "Generated by `bench/summary.py` from the JSON files beside this one; `make bench` measures and",
        "rewrites all of them. Each section names its file, which holds every figure, the commit, the",
        "topology and the machine measured. Figures vary with the load of the machine (recorded).",
        "",
    ]
    for name, result in results.items():
        lines += header(name, result)
        lines += SECTIONS.get(name, lambda _r: [])(result)
    for name in benches():
        if name not in results:
            lines += ["## `bench/results/%s.json`: not measured yet" % name, "",
                      "`bench/%s.py` has written no result yet: `make bench` (or the script alone) measures it." % name,
                      ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def check_fresh(results, since):
    """Every bench wrote a complete result with the common header after `since`; nothing stale."""
    problems = []
    for name in benches():
        result = results.get(name)
        if result is None:
            problems.append("bench/%s.py wrote no bench/results/%s.json" % (name, name))
            continue
        missing = [key for key in HEADER_KEYS if key not in result]
        if missing:
            problems.append("bench/results/%s.json lacks %s" % (name, ", ".join(missing)))
        elif result["measured_at"] < since:
            problems.append("bench/results/%s.json was not rewritten by this run (measured %s, run started %s)"
                            % (name, result["measured_at"], since))
        elif result["complete"] is not True:
            problems.append("bench/results/%s.json is a partial result" % name)
    for name in sorted(set(results) - set(benches())):
        problems.append("bench/results/%s.json has no bench script: remove it" % name)
    if problems:
        raise BenchError("`make bench` did not rewrite every result:\n  - " + "\n  - ".join(problems))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--since", help="UTC time (YYYY-MM-DDTHH:MM:SSZ) the bench run started")
    args = parser.parse_args()
    results = load_results()
    if args.since:
        check_fresh(results, args.since)
    SUMMARY.write_text(render(results), encoding="utf-8")
    print("wrote %s" % SUMMARY.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
