# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measure the service install path for real: repo wheel build, then venv installs from it.

What it does (re-runnable; every run starts from fresh containers unless --reuse):
  1. starts lxcbr0 (lxc-net) when it is down, creates two Debian 13 containers `lxrepo-build`
     and `lxrepo-svc` (lxc-create -t debian -- -r trixie), and prepares them like the project's
     base image (python3, python3-apt, python3-venv, ca-certificates, the host's site CA files);
  2. runs roles/repo on lxrepo-build: wheels of each service of the release built with the
     release's upper-constraints (first build time per service, in order: later services reuse the
     wheels of the earlier ones), served by nginx; then runs it again (must report changed=0);
  3. for each service, runs service_common's venv entry point on lxrepo-svc: the venv installs
     from the repo over HTTP (--no-index --find-links); then again (must report changed=0);
  4. with keystone: runs `keystone-manage --help` from the venv, then serves keystone's API through
     service_common's config and uwsgi entry points (sqlite database, fernet keys, Debian's uwsgi as a
     systemd service) until GET /v3 answers 200, twice (the second run must report changed=0);
  5. writes bench/results/venvs.json and removes the containers (unless --keep).

Prerequisites: root; `make setup` done (.venv with ansible-core and the collection link); LXC with
the debian template and debootstrap; access to deb.debian.org and PyPI (through the site CA);
the upper-constraints file of the release (default
../shared/openstack/upper-constraints/<release>.txt, or $LXSTACK_CONSTRAINTS_DIR/<release>.txt).
Run: .venv/bin/python bench/venvs.py [--services keystone,nova] [--keep] [--reuse]  (default: the five services)
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
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD, SVC = "lxrepo-build", "lxrepo-svc"
LXC_NET = "/usr/libexec/lxc/lxc-net"
PLAYBOOK_CLI = str(ROOT / ".venv" / "bin" / "ansible-playbook")


def sh(*cmd, check=True, capture=True, stdin=None):
    """Run a command, return its stdout."""
    run = subprocess.run(cmd, check=False, text=True, capture_output=capture, input=stdin)
    if check and run.returncode != 0:
        raise SystemExit("command failed (%d): %s\n%s%s" % (run.returncode, " ".join(cmd), run.stdout, run.stderr))
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
    raise SystemExit("%s got no IPv4 address on lxcbr0 in %ds" % (name, timeout))


def prepare(name):
    """A started trixie container with what the project's base image holds, plus python3-venv."""
    if not exists(name):
        sh("lxc-create", "-n", name, "-t", "debian", "--", "-r", "trixie")
    sh("lxc-start", "-n", name, check=False)
    address = address_of(name)
    for ca in sorted(pathlib.Path("/usr/local/share/ca-certificates").glob("*.crt")):
        attach(name, "mkdir -p /usr/local/share/ca-certificates && cat > /usr/local/share/ca-certificates/%s"
               % ca.name, stdin=ca.read_text())
    attach(name, "export DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin; "
                 "apt-get update -qq && apt-get install -y -qq --no-install-recommends "
                 "python3 python3-venv python3-apt ca-certificates >/dev/null && update-ca-certificates >/dev/null")
    return address


def write(path, result):
    output = pathlib.Path(path)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")


def loadavg():
    return [float(x) for x in pathlib.Path("/proc/loadavg").read_text().split()[:3]]


def playbook(workdir, name, plays, extra=None):
    """Run a playbook; return wall seconds, the recap's changed count and the facts it dumped."""
    path = workdir / ("%s.yml" % name)
    path.write_text(json.dumps(plays, indent=1))
    out = workdir / ("%s.out.json" % name)
    out.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    start = time.monotonic()
    run = subprocess.run(
        [PLAYBOOK_CLI, "-i", str(workdir / "hosts.ini"), str(path), "-e", json.dumps(extra or {}),
         "-e", "bench_out=%s" % out],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = round(time.monotonic() - start, 1)
    (workdir / ("%s.log" % name)).write_text(run.stdout + run.stderr)
    if run.returncode != 0:
        raise SystemExit("playbook %s failed, log in %s\n%s" % (name, workdir, run.stdout[-3000:]))
    changed = sum(int(n) for n in re.findall(r"changed=(\d+)", run.stdout))
    facts = json.loads(out.read_text()) if out.exists() else {}
    return wall, changed, facts


def dump_task(expr):
    return {"name": "Dump the measured facts", "ansible.builtin.copy": {
        "content": "{{ %s | to_json }}" % expr, "dest": "{{ bench_out }}", "mode": "0644"},
        "delegate_to": "localhost", "changed_when": False}


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
                      "service_common_unit_restart": "{{ service_common_config_changed }}"}},
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
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "venvs.json"))
    args = parser.parse_args()
    services = [s for s in args.services.split(",") if s]
    constraints_dir = os.environ.get("LXSTACK_CONSTRAINTS_DIR", str(ROOT.parent / "shared/openstack/upper-constraints"))
    constraints = args.constraints or os.path.join(constraints_dir, "%s.txt" % args.release)
    if os.geteuid() != 0 or not shutil.which("lxc-create") or not os.path.exists(PLAYBOOK_CLI):
        raise SystemExit("needs root, LXC and `make setup` (see the prerequisites at the top of %s)" % __file__)
    if not os.path.exists(constraints):
        raise SystemExit("constraints file %s not found" % constraints)

    ensure_bridge()
    if not args.reuse:
        destroy(BUILD)
        destroy(SVC)
    t0 = time.monotonic()
    addresses = {name: prepare(name) for name in (BUILD, SVC)}
    prepare_seconds = round(time.monotonic() - t0, 1)

    workdir = pathlib.Path(tempfile.mkdtemp(prefix="lxstack-bench-venvs-"))
    (workdir / "hosts.ini").write_text(
        "[repo]\n%s management_address=%s\n\n[bench_services]\n%s management_address=%s\n\n[all:vars]\n"
        "ansible_connection=lxstack.openstack.lxc_attach\nphysical_host_connection=local\n"
        "ansible_python_interpreter=/usr/bin/python3\nlxstack_release=\"%s\"\nlxstack_upper_constraints=%s\n"
        % (BUILD, addresses[BUILD], SVC, addresses[SVC], args.release, constraints))
    repo_play = [{
        "name": "Repo service", "hosts": "repo", "gather_facts": False,
        "roles": [{"role": "lxstack.openstack.repo", "vars": {
            "repo_services": "{{ service_common_release_packages[repo_release | string] | dict2items"
                             " | selectattr('key', 'in', bench_services) | items2dict }}"}}],
        "post_tasks": [dump_task("{'build_seconds': repo_build_seconds}")],
    }]
    result = {
        "release": args.release, "services": services, "constraints": constraints,
        "machine": {"cpus": os.cpu_count(), "container_distro": "debian trixie"},
        "containers_prepare_seconds": prepare_seconds,
    }
    load = loadavg()
    wall, changed, facts = playbook(workdir, "repo1", repo_play, {"bench_services": services})
    wheels = attach(BUILD, "ls /var/www/repo/%s/wheels | wc -l; du -sm /var/www/repo/%s/wheels | cut -f1"
                    % (args.release, args.release)).split()
    result["repo_first_run"] = {
        "wall_seconds": wall, "changed": changed, "loadavg_before": load,
        "pip_wheel_seconds_per_service": facts.get("build_seconds", {}),
        "wheels": int(wheels[0]), "wheels_mb": int(wheels[1]),
    }
    load = loadavg()
    wall, changed, _facts = playbook(workdir, "repo2", repo_play, {"bench_services": services})
    result["repo_second_run"] = {"wall_seconds": wall, "changed": changed, "loadavg_before": load}

    result["installs"] = {}
    for service in services:
        venv_play = [{
            "name": "Service venv", "hosts": "bench_services", "gather_facts": False,
            "tasks": [
                {"name": "Install the venv", "ansible.builtin.include_role": {
                    "name": "lxstack.openstack.service_common", "tasks_from": "venv"},
                 "vars": {"service_common_service": service}},
                dump_task("{'build_seconds': service_common_venv_build.delta | default(None),"
                          " 'build_cpu': service_common_venv_build.stdout_lines | default([]) | last | default(''),"
                          " 'rebuilt': service_common_venv_changed}"),
            ]}]
        entry = {}
        for run in ("first", "second"):
            load = loadavg()
            wall, changed, facts = playbook(workdir, "%s-%s" % (service, run), venv_play)
            entry[run] = {"wall_seconds": wall, "changed": changed, "loadavg_before": load, **facts}
        entry["venv_mb"] = int(attach(SVC, "du -sm /openstack/venvs/%s-%s | cut -f1" % (service, args.release)))
        result["installs"][service] = entry
        write(args.output, result)  # partial results survive a later failure
    if "keystone" in services:
        t = time.monotonic()
        help_text = attach(SVC, "/openstack/venvs/keystone/bin/keystone-manage --help")
        result["keystone_manage_help"] = {"ok": "db_sync" in help_text, "seconds": round(time.monotonic() - t, 1)}
        api = {}
        for run in ("first", "second"):
            load = loadavg()
            wall, changed, facts = playbook(workdir, "keystone-api-%s" % run, keystone_api_play())
            api[run] = {"wall_seconds": wall, "changed": changed, "loadavg_before": load, **facts}
        result["keystone_api_uwsgi"] = api
    result["idempotent"] = result["repo_second_run"]["changed"] == 0 and all(
        entry["second"]["changed"] == 0 for entry in result["installs"].values()) and \
        result.get("keystone_api_uwsgi", {}).get("second", {}).get("changed", 0) == 0
    result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    write(args.output, result)
    print(json.dumps(result, indent=2))
    if not args.keep:
        destroy(BUILD)
        destroy(SVC)
        shutil.rmtree(workdir)
    return 0 if result["idempotent"] else 1


if __name__ == "__main__":
    sys.exit(main())
