# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measure the service install path for real: repo build (wheels, venv archives), then venv installs.

What it does (re-runnable; every run starts from fresh containers unless --reuse):
  1. starts lxcbr0 (lxc-net) when it is down, creates three Debian 13 containers `lxrepo-build`,
     `lxrepo-svc` and `lxrepo-pip` (lxc-create -t debian -- -r trixie), and prepares them like the
     project's base image (python3, python3-apt, python3-venv, ca-certificates, the host's site CA files);
  2. runs roles/repo on lxrepo-build: per service of the release, in order, its wheels built with the
     release's upper-constraints (later services reuse the wheels of the earlier ones), then its whole
     venv built from them at the final path, compiled and archived (<service>-<release>-<hash>.tar.zst):
     first build time per service, wheels and venv archive separately; then runs it again (must report
     changed=0);
  3. for each service, runs service_common's venv entry point on lxrepo-svc: the venv comes from the
     archive (warm cache: download, sha256 check, unpack, move into place); then again (must report
     changed=0) and once more in check mode (must report changed=0); for comparison, the same entry
     point with the archives turned off on lxrepo-pip (pip install --no-index --find-links from the
     repo's wheels); checks that both venvs hold the same packages (pip freeze) and import the service;
  4. with keystone: runs `keystone-manage --help` from the archive-installed venv, then serves keystone's
     API through service_common's config and uwsgi entry points (sqlite database, fernet keys, Debian's
     uwsgi as a systemd service) until GET /v3 answers 200, twice (the second run must report changed=0);
  5. writes bench/results/venvs.json (partial results after each step, `complete` once all passed;
     the header of bench/_common.py, with the generated inventory's sha256 as the topology) and
     removes the containers (unless --keep; also after a failure). Logs: .cache/bench-venvs/.

Prerequisites (checked first, all reported at once): root; `make setup` done (.venv with
ansible-core and the collection link); LXC with the debian template (lxc-templates, distro-info)
and debootstrap; access to deb.debian.org and PyPI (through the site CA); the upper-constraints
file of the release (default ../shared/openstack/upper-constraints/<release>.txt beside the
checkout, or $LXSTACK_CONSTRAINTS_DIR/<release>.txt), recorded by path relative to the checkout
and sha256.
Run: .venv/bin/python bench/venvs.py [--services keystone,nova] [--keep] [--reuse] [--plan]
(default: the five services); --plan prints what it would create and what is missing, creates nothing.
The machine's load average is recorded with each figure: other work on the machine slows it.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

from _common import (
    BIN,
    ROOT,
    BenchError,
    Run,
    missing_preconditions,
    relative,
    require,
    sha256_file,
    topology_generated,
)

BUILD, SVC, PIP = "lxrepo-build", "lxrepo-svc", "lxrepo-pip"
LXC_NET = "/usr/libexec/lxc/lxc-net"
PLAYBOOK_CLI = str(BIN / "ansible-playbook")
WORK = ROOT / ".cache" / "bench-venvs"
PRECONDITIONS = {
    "root": True,
    "commands": ("lxc-create", "lxc-start", "lxc-stop", "lxc-destroy", "lxc-attach", "lxc-ls", "lxc-info",
                 "debootstrap", "debian-distro-info", "ip", "pgrep"),
    "files": ((pathlib.Path(LXC_NET), "package lxc: starts lxcbr0"),
              (pathlib.Path("/usr/share/lxc/templates/lxc-debian"), "package lxc-templates")),
    "modules": ("ansible",),
}


def sh(*cmd, check=True, capture=True, stdin=None):
    """Run a command, return its stdout."""
    run = subprocess.run(cmd, check=False, text=True, capture_output=capture, input=stdin)
    if check and run.returncode != 0:
        raise BenchError("command failed (%d): %s\n%s%s" % (run.returncode, " ".join(cmd), run.stdout, run.stderr))
    return run.stdout if capture else ""


def attach(name, script, stdin=None):
    return sh("lxc-attach", "-n", name, "--clear-env", "--", "/bin/sh", "-c", script, stdin=stdin)


def exists(name):
    return name in sh("lxc-ls", "-1").split()


def destroy(name):
    if exists(name):
        sh("lxc-stop", "-k", "-n", name, check=False)
        sh("lxc-destroy", "-n", name)


def ensure_bridge():
    if subprocess.run(["ip", "link", "show", "lxcbr0"], capture_output=True, check=False).returncode != 0 or \
            not subprocess.run(["pgrep", "-f", "dnsmasq.*lxcbr0"], capture_output=True, check=False).stdout:
        sh(LXC_NET, "stop", check=False)
        sh(LXC_NET, "start")


def address_of(name, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ips = [ip for ip in sh("lxc-info", "-n", name, "-iH", check=False).split() if "." in ip]
        if ips:
            return ips[0]
        time.sleep(1)
    raise BenchError("%s got no IPv4 address on lxcbr0 in %ds" % (name, timeout))


def prepare(name):
    """A started trixie container with what the project's base image holds, plus python3-venv."""
    if not exists(name):
        # checks the template's prerequisites (lxc-templates, distro-info) before, and the rootfs after
        sh(str(ROOT / "tests" / "lxc-create-debian"), name, "-r", "trixie")
    sh("lxc-start", "-n", name, check=False)
    address = address_of(name)
    for ca in sorted(pathlib.Path("/usr/local/share/ca-certificates").glob("*.crt")):
        attach(name, "mkdir -p /usr/local/share/ca-certificates && cat > /usr/local/share/ca-certificates/%s"
               % ca.name, stdin=ca.read_text())
    attach(name, "export DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin; "
                 "apt-get update -qq && apt-get install -y -qq --no-install-recommends "
                 "python3 python3-venv python3-apt ca-certificates >/dev/null && update-ca-certificates >/dev/null")
    return address


def loadavg():
    return [float(x) for x in pathlib.Path("/proc/loadavg").read_text().split()[:3]]


def seconds(delta):
    """A command result's delta (H:MM:SS.ffffff) in seconds."""
    if not delta:
        return None
    hours, minutes, secs = delta.split(":")
    return round(int(hours) * 3600 + int(minutes) * 60 + float(secs), 1)


def playbook(workdir, name, plays, extra=None, check=False):
    """Run a playbook; return wall seconds, the recap's changed count and the facts it dumped."""
    path = workdir / ("%s.yml" % name)
    path.write_text(json.dumps(plays, indent=1))
    out = workdir / ("%s.out.json" % name)
    out.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    # ansible.cfg enables only the topology plugin; this bench's inventory is a plain ini file
    env["ANSIBLE_INVENTORY_ENABLED"] = "ansible.builtin.ini"
    start = time.monotonic()
    run = subprocess.run(
        [PLAYBOOK_CLI, "-i", str(workdir / "hosts.ini"), str(path), "-e", json.dumps(extra or {}),
         "-e", "bench_out=%s" % out] + (["--check"] if check else []),
        cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = round(time.monotonic() - start, 1)
    (workdir / ("%s.log" % name)).write_text(run.stdout + run.stderr)
    if run.returncode != 0:
        raise BenchError("playbook %s failed, log in %s\n%s" % (name, relative(workdir), run.stdout[-3000:]))
    changed = sum(int(n) for n in re.findall(r"changed=(\d+)", run.stdout))
    facts = json.loads(out.read_text()) if out.exists() else {}
    return wall, changed, facts


def dump_task(expr):
    return {"name": "Dump the measured facts", "ansible.builtin.copy": {
        "content": "{{ %s | to_json }}" % expr, "dest": "{{ bench_out }}", "mode": "0644"},
        "delegate_to": "localhost", "changed_when": False, "check_mode": False}


def venv_play(hosts, service, archives=True):
    """service_common's venv entry point for one service; dumps where the venv came from and the step times."""
    extra_vars = {"service_common_service": service, "service_common_result_var": "bench_venv"}
    if not archives:
        extra_vars["service_common_venv_archive_url"] = ""
    return [{
        "name": "Service venv", "hosts": hosts, "gather_facts": False,
        "tasks": [
            {"name": "Install the venv", "ansible.builtin.include_role": {
                "name": "lxstack.openstack.service_common", "tasks_from": "venv"}, "vars": extra_vars},
            # where it came from is the entry point's result; the step times are read from its own registers
            dump_task("{'source': bench_venv.source, 'rebuilt': bench_venv.changed,"
                      " 'download_seconds': _service_common_archive_download.elapsed | default(None),"
                      " 'unpack': _service_common_archive_unpack.delta | default(None),"
                      " 'unpack_cpu': _service_common_archive_unpack.stdout_lines | default([]) | last | default(''),"
                      " 'pip': _service_common_venv_build.delta | default(None),"
                      " 'pip_cpu': _service_common_venv_build.stdout_lines | default([]) | last | default('')}"),
        ]}]


def venv_run(workdir, name, plays, check=False):
    """One run of the venv entry point: wall, changed, load before, and the step figures."""
    load = loadavg()
    wall, changed, facts = playbook(workdir, name, plays, check=check)
    entry = {"wall_seconds": wall, "changed": changed, "loadavg_before": load,
             "source": facts.get("source"), "rebuilt": facts.get("rebuilt")}
    if facts.get("unpack"):
        entry.update({"download_seconds": facts.get("download_seconds"), "unpack_seconds": seconds(facts["unpack"]),
                      "unpack_cpu": facts.get("unpack_cpu")})
    if facts.get("pip"):
        entry.update({"pip_seconds": seconds(facts["pip"]), "pip_cpu": facts.get("pip_cpu")})
    return entry


def keystone_api_play():
    """Keystone served through service_common's config and uwsgi entry points (sqlite, no galera needed)."""
    manage = "/openstack/venvs/keystone/bin/keystone-manage"
    include = "ansible.builtin.include_role"
    return [{
        "name": "Keystone API through service_common", "hosts": "bench_services", "gather_facts": False,
        "tasks": [
            {"name": "Render keystone.conf",
             include: {"name": "lxstack.openstack.service_common", "tasks_from": "config"},
             "vars": {"service_common_service": "keystone", "service_common_config_dest": "/etc/keystone/keystone.conf",
                      "service_common_result_var": "bench_keystone_conf",
                      "service_common_config": {"DEFAULT": {"debug": False},
                                                "database": {"connection": "sqlite:////var/lib/keystone/keystone.db"},
                                                "cache": {"enabled": True}},
                      "service_common_config_overrides": {"cache": None}}},
            {"name": "Keys and database", "ansible.builtin.shell": {
                "cmd": "set -e; %s fernet_setup --keystone-user keystone --keystone-group keystone; "
                       "%s credential_setup --keystone-user keystone --keystone-group keystone; "
                       "runuser -u keystone -- %s db_sync" % (manage, manage, manage),
                "creates": "/var/lib/keystone/keystone.db"}},
            {"name": "Serve the API", include: {"name": "lxstack.openstack.service_common", "tasks_from": "uwsgi"},
             "vars": {"service_common_service": "keystone", "service_common_uwsgi_name": "keystone-api",
                      "service_common_uwsgi_module": "keystone.wsgi.api:application",
                      "service_common_uwsgi_bind": "{{ management_address }}", "service_common_uwsgi_port": 5000,
                      "service_common_unit_restart": "{{ bench_keystone_conf.changed }}"}},
            {"name": "The API answers", "ansible.builtin.uri": {"url": "http://{{ management_address }}:5000/v3"},
             "register": "api", "retries": 60, "delay": 2, "until": "api.status == 200"},
            dump_task("{'status': api.status, 'version': api.json.version.id}"),
        ]}]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--release", default="2026.2")
    parser.add_argument("--services", default="keystone,placement,glance,nova,neutron",
                        help="comma-separated, from service_common's manifest")
    parser.add_argument("--constraints", help="upper-constraints file (default: the shared copy of the release)")
    parser.add_argument("--keep", action="store_true", help="keep the containers afterwards")
    parser.add_argument("--reuse", action="store_true", help="reuse existing containers (build is then not first)")
    parser.add_argument("--output", help="result file (default bench/results/venvs.json)")
    parser.add_argument("--plan", action="store_true", help="print what it would create, create nothing")
    args = parser.parse_args()
    services = [s for s in args.services.split(",") if s]
    if not services:
        raise BenchError("--services names no service")
    constraints_dir = os.environ.get("LXSTACK_CONSTRAINTS_DIR", str(ROOT.parent / "shared/openstack/upper-constraints"))
    constraints = pathlib.Path(args.constraints or os.path.join(constraints_dir, "%s.txt" % args.release))
    preconditions = {**PRECONDITIONS, "files": PRECONDITIONS["files"] + (
        (constraints, "upper-constraints of %s: --constraints or $LXSTACK_CONSTRAINTS_DIR" % args.release),)}
    containers = (BUILD, SVC, PIP)
    if args.plan:
        print(json.dumps({
            "containers": {BUILD: "repo build", SVC: "venvs from the archives", PIP: "venvs by pip"},
            "reuse": args.reuse, "release": args.release, "services": services,
            "constraints": relative(constraints),
            "constraints_sha256": sha256_file(constraints) if constraints.is_file() else None,
            "missing_preconditions": missing_preconditions(**preconditions)}, indent=2))
        return 0
    require(**preconditions)
    run = Run(__file__, "service venvs: repo build (wheels, archives), installs from the archive and by pip")
    output = pathlib.Path(args.output) if args.output else None

    ensure_bridge()
    if not args.reuse:
        for name in containers:
            destroy(name)
    try:
        return measure(run, output, args, services, constraints, containers)
    finally:
        if not args.keep:
            for name in containers:
                destroy(name)


def measure(run, output, args, services, constraints, containers):
    """Everything after the preconditions; writes the result after each step."""
    t0 = time.monotonic()
    addresses = {name: prepare(name) for name in containers}
    prepare_seconds = round(time.monotonic() - t0, 1)

    workdir = WORK
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    inventory = (
        "[repo]\n%s management_address=%s\n\n[bench_services]\n%s management_address=%s\n\n"
        "[bench_pip]\n%s management_address=%s\n\n[all:vars]\n"
        "ansible_connection=lxstack.openstack.lxc_attach\nphysical_host_connection=local\n"
        "ansible_python_interpreter=/usr/bin/python3\nlxstack_release=\"%s\"\nlxstack_upper_constraints=%s\n"
        % (BUILD, addresses[BUILD], SVC, addresses[SVC], PIP, addresses[PIP], args.release, constraints))
    (workdir / "hosts.ini").write_text(inventory)
    # the inventory names the constraints file by its absolute path: the digest is of the relative form
    topology = topology_generated(
        "bench/venvs.py", inventory.replace(str(constraints), relative(constraints)),
        description="three standalone Debian trixie containers on lxcbr0 (addresses by DHCP), no topology file",
        containers={BUILD: "repo", SVC: "bench_services", PIP: "bench_pip"})
    repo_play = [{
        "name": "Repo service", "hosts": "repo", "gather_facts": False,
        "roles": [{"role": "lxstack.openstack.repo", "vars": {
            "repo_venv_cache_dir": "",  # measure the builds, not the deploy host's cache
            "repo_services": "{{ service_common_release_packages[repo_release | string] | dict2items"
                             " | selectattr('key', 'in', bench_services) | items2dict }}"}}],
        "post_tasks": [dump_task("{'wheels': repo_build_seconds, 'venvs': repo_venv_build_seconds}")],
    }]
    result = {
        "release": args.release, "services": services, "constraints": relative(constraints),
        "constraints_sha256": sha256_file(constraints),
        "container_distro": "debian trixie",
        "containers_prepare_seconds": prepare_seconds,
    }
    load = loadavg()
    wall, changed, facts = playbook(workdir, "repo1", repo_play, {"bench_services": services})
    wheels = attach(BUILD, "ls /var/www/repo/%s/wheels | wc -l; du -sm /var/www/repo/%s/wheels | cut -f1"
                    % (args.release, args.release)).split()
    archives = {}
    for line in attach(BUILD, "cd /var/www/repo/%s/venvs && du -k *.tar.zst" % args.release).splitlines():
        kib, name = line.split()
        archives[name.split("-%s-" % args.release)[0]] = {"file": name, "mb": round(int(kib) / 1024, 1)}
    if set(services) - set(archives):
        raise BenchError("the repo built no venv archive for %s" % sorted(set(services) - set(archives)))
    result["repo_first_run"] = {
        "wall_seconds": wall, "changed": changed, "loadavg_before": load,
        "build_seconds_per_service": {
            service: {"wheels": facts.get("wheels", {}).get(service),
                      "venv_archive": facts.get("venvs", {}).get(service),
                      "archive_mb": archives.get(service, {}).get("mb")}
            for service in services},
        "wheels": int(wheels[0]), "wheels_mb": int(wheels[1]),
        "archives": {service: entry["file"] for service, entry in archives.items()},
    }
    load = loadavg()
    wall, changed, _facts = playbook(workdir, "repo2", repo_play, {"bench_services": services})
    result["repo_second_run"] = {"wall_seconds": wall, "changed": changed, "loadavg_before": load}
    run.write(topology, result, complete=False, path=output)

    result["installs"] = {}
    for service in services:
        entry = {
            "archive_first": venv_run(workdir, "%s-archive-first" % service, venv_play("bench_services", service)),
            "archive_rerun": venv_run(workdir, "%s-archive-rerun" % service, venv_play("bench_services", service)),
            "archive_check_mode": venv_run(workdir, "%s-archive-check" % service, venv_play("bench_services", service),
                                           check=True),
            "pip_first": venv_run(workdir, "%s-pip-first" % service, venv_play("bench_pip", service, archives=False)),
        }
        venv = "/openstack/venvs/%s-%s" % (service, args.release)
        freeze = {name: attach(name, "%s/bin/python -m pip freeze --all" % venv) for name in (SVC, PIP)}
        entry["checks"] = {
            "same_packages_as_pip": freeze[SVC] == freeze[PIP],
            "packages": len(freeze[SVC].splitlines()),
            "imports": attach(SVC, "%s/bin/python -c 'import %s; print(1)'" % (venv, service)).strip() == "1",
            "shebang": attach(SVC, "head -n 1 %s/bin/pip" % venv).strip(),
            "python_link": attach(SVC, "readlink -f %s/bin/python" % venv).strip(),
        }
        entry["venv_mb"] = int(attach(SVC, "du -sm %s | cut -f1" % venv))
        result["installs"][service] = entry
        run.write(topology, result, complete=False, path=output)  # partial results survive a later failure
    if "keystone" in services:
        t = time.monotonic()
        help_text = attach(SVC, "/openstack/venvs/keystone/bin/keystone-manage --help")
        result["keystone_manage_help"] = {"ok": "db_sync" in help_text, "seconds": round(time.monotonic() - t, 1),
                                          "venv_source": result["installs"]["keystone"]["archive_first"]["source"]}
        api = {}
        for api_run in ("first", "second"):
            load = loadavg()
            wall, changed, facts = playbook(workdir, "keystone-api-%s" % api_run, keystone_api_play())
            api[api_run] = {"wall_seconds": wall, "changed": changed, "loadavg_before": load, **facts}
        result["keystone_api_uwsgi"] = api
    installs = result["installs"].values()
    result["idempotent"] = result["repo_second_run"]["changed"] == 0 and all(
        entry["archive_rerun"]["changed"] == 0 and entry["archive_check_mode"]["changed"] == 0 for entry in installs) \
        and result.get("keystone_api_uwsgi", {}).get("second", {}).get("changed", 0) == 0
    result["archive_path_used"] = all(
        entry["archive_first"]["source"] == "archive" and entry["pip_first"]["source"] == "pip"
        and entry["checks"]["same_packages_as_pip"] and entry["checks"]["imports"] for entry in installs)
    ok = result["idempotent"] and result["archive_path_used"]
    written = run.write(topology, result, complete=ok, path=output)
    print(json.dumps(result, indent=2))
    print("wrote %s" % relative(written))
    if not ok:
        raise BenchError("idempotent=%s, archive_path_used=%s: see %s" % (
            result["idempotent"], result["archive_path_used"], relative(written)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
