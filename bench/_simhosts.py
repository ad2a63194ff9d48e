# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the benches on simulated hosts (tests/simhosts) share: the bench topology derived from a scenario
topology, its inventory, the playbook runs with their json reports, and the removal of the hosts.

A bench topology is a scenario topology (default molecule/default's) with every host of every host group
renamed <prefix><N> and given its own simulated-host address (from a first host part on, inside the
machine bridge network of tests/simhosts, checked free against every molecule scenario and every bench
listed before it in SIM_BENCHES), and every network moved to the next free subnet of its size (every
address, range and VIP in it moves along), so that the bench can run beside the molecule scenarios and
the other benches on the shared machine bridges; the directories of this machine shared into the simulated
hosts (simhosts_mounts, e.g. glance's image store) are the bench's own.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import yaml
from _common import BIN, ROOT, BenchError, missing_preconditions, relative, topology_file

SCENARIO = ROOT / "molecule" / "default" / "inventory" / "topology.yml"
SIMHOSTS_DEFAULTS = ROOT / "tests" / "simhosts" / "roles" / "simhosts" / "defaults" / "main.yml"
KEY = ROOT / ".cache" / "simhosts" / "id_ed25519"
# The benches on simulated hosts: (bench, host prefix, first simulated-host address as the host part
# inside the machine bridge network). The molecule scenarios use other addresses, and each bench's
# derivation checks its addresses and networks against every scenario and every bench listed before it
# (derived from the default scenario), so all of them can run at once.
SIM_BENCHES = (
    ("containers", "bench", 21),
    ("openstack", "osbench", 71),
)
PRECONDITIONS = {
    "root": True,
    "commands": ("lxc-create", "lxc-attach", "lxc-ls", "debootstrap", "debian-distro-info", "nft", "ssh",
                 "ssh-keygen", "ip"),
    "files": ((pathlib.Path("/usr/share/lxc/templates/lxc-debian"), "package lxc-templates"),
              (ROOT / "tests" / "simhosts" / "create.yml", "the simulated-host harness")),
    "modules": ("ansible", "ansible_collections.ansible.posix"),
}


def options(doc, reuse_help="reuse existing simulated hosts", plan_help="print what it would create, create nothing"):
    """The options every bench on simulated hosts takes; (options, the scenario topology file)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--topology", default=relative(SCENARIO), help="scenario topology, relative to the checkout")
    parser.add_argument("--keep", action="store_true", help="leave the simulated hosts running")
    parser.add_argument("--reuse", action="store_true", help=reuse_help)
    parser.add_argument("--plan", action="store_true", help=plan_help)
    opts = parser.parse_args()
    scenario = (ROOT / opts.topology).resolve()
    if not scenario.is_file():
        raise BenchError("topology %s not found" % opts.topology)
    return opts, scenario


# -- the bench topology, derived from the scenario ---------------------------------------------


def scenario_topologies():
    """Every molecule scenario topology: the bench must not collide with any of them."""
    return sorted((ROOT / "molecule").glob("*/inventory/topology.yml"))


def simhosts_defaults():
    return yaml.safe_load(SIMHOSTS_DEFAULTS.read_text(encoding="utf-8"))


def simhosts_network():
    """The machine bridge network of tests/simhosts, from its defaults (not repeated here)."""
    return ipaddress.ip_interface(simhosts_defaults()["simhosts_bridge_address"]).network


def topology_hosts(data):
    """(group, host name, spec) of every host, in topology order."""
    for group, spec in (data.get("host_groups") or {}).items():
        for name, host in ((spec or {}).get("hosts") or {}).items():
            yield group, name, host if isinstance(host, dict) else {}


def topology_networks(data):
    return {name: ipaddress.ip_network(spec["cidr"]) for name, spec in (data.get("networks") or {}).items()}


def derive_hosts(data, used_addresses, prefix, first_host):
    """{old name: (new name, simulated-host address)} for every host of the topology."""
    network = simhosts_network()
    plan = {}
    for index, (_group, name, _spec) in enumerate(topology_hosts(data)):
        address = network.network_address + first_host + index
        if address not in network or address in (network.network_address, network.broadcast_address):
            raise BenchError("%d hosts do not fit in %s from .%d on" % (index + 1, network, first_host))
        if str(address) in used_addresses:
            raise BenchError("bench address %s of %s is already the ssh_address of %s"
                             % (address, name, used_addresses[str(address)]))
        plan[name] = ("%s%d" % (prefix, index + 1), str(address))
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


def own_mounts(derived, prefix):
    """derived with the source of every simhosts_mounts entry (host group or host variable) renamed
    <prefix>-<name> in the same directory: tests/simhosts/destroy.yml removes the sources of the hosts it
    removes, and a bench must neither share nor remove a scenario's (glance's image store, say)."""
    def relocate(holder):
        if isinstance(holder, dict) and isinstance(holder.get("simhosts_mounts"), list):
            holder["simhosts_mounts"] = [
                dict(mount, source=str(pathlib.PurePosixPath(mount["source"]).with_name(
                    "%s-%s" % (prefix, pathlib.PurePosixPath(mount["source"]).name))))
                if isinstance(mount, dict) and mount.get("source") else mount
                for mount in holder["simhosts_mounts"]]

    for spec in (derived.get("host_groups") or {}).values():
        relocate((spec or {}).get("vars"))
        for host in ((spec or {}).get("hosts") or {}).values():
            relocate(host)
    return derived


def sim_bench(name):
    """(host prefix, first host part) of a bench of SIM_BENCHES, and the benches listed before it."""
    names = [bench for bench, _prefix, _first in SIM_BENCHES]
    if name not in names:
        raise BenchError("%s is not a bench of SIM_BENCHES (bench/_simhosts.py)" % name)
    index = names.index(name)
    return SIM_BENCHES[index][1:], [bench for bench, _p, _f in SIM_BENCHES[:index]]


def derive(scenario, bench):
    """The topology data of bench (a name of SIM_BENCHES) and what was changed, from a scenario topology
    file: ({...}, {old host: (new host, address)}, {network: (old cidr, new cidr)})."""
    (prefix, first_host), before = sim_bench(bench)
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
    for other in before:
        other_data, _hosts, _networks = derive(SCENARIO, other)
        for _group, name, spec in topology_hosts(other_data):
            used[str(spec["ssh_address"])] = "%s of bench/%s.py" % (name, other)
        taken += topology_networks(other_data).values()
    taken += topology_networks(data).values()
    hosts = derive_hosts(data, used, prefix, first_host)
    networks = derive_networks(data, taken)
    derived = translate(data, list(networks.values()))
    for group, spec in (derived.get("host_groups") or {}).items():
        renamed = {}
        for name, host in (spec.get("hosts") or {}).items():
            new_name, address = hosts[name]
            renamed[new_name] = dict(host if isinstance(host, dict) else {}, ssh_address=address)
        derived["host_groups"][group]["hosts"] = renamed
    return own_mounts(derived, prefix), hosts, networks


def topology_text(script, scenario, derived):
    return ("# generated by %s from %s: hosts renamed, networks moved\n" % (relative(script), relative(scenario))
            + yaml.safe_dump(derived, sort_keys=False))


def plain(value):
    """A value of ansible-inventory's JSON without ansible-core's {"__ansible_unsafe": ...} wrapper."""
    if isinstance(value, dict) and set(value) == {"__ansible_unsafe"}:
        return value["__ansible_unsafe"]
    return value


def inventory_hostvars(inventory):
    """{host: its variables} of the inventory, as ansible-inventory --list gives them."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    run = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(inventory), "--list"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise BenchError("the derived topology does not build an inventory:\n%s" % run.stderr[-3000:])
    listing = json.loads(run.stdout)
    return listing.get("_meta", {}).get("hostvars", {})


def service_containers(hostvars):
    """{physical host: {inventory host: LXC container name}} of the service containers of an inventory's
    hostvars: a service container is a host with a container_name (docs/architecture.md, the inventory
    contract)."""
    per_host = {}
    for host, host_vars in sorted(hostvars.items()):
        if "container_name" in host_vars:
            per_host.setdefault(plain(host_vars["physical_host"]), {})[host] = plain(host_vars["container_name"])
    return per_host


def inventory_containers(inventory):
    """{physical host: [containers]} as the topology plugin places them."""
    return {host: list(containers) for host, containers in service_containers(inventory_hostvars(inventory)).items()}


def describe(scenario, hosts, networks, per_host):
    return {
        "scenario": topology_file(scenario),
        "simulated_hosts": {new: {"from": old, "ssh_address": address, "containers": len(per_host.get(new, []))}
                            for old, (new, address) in hosts.items()},
        "networks": {name: {"from": str(old), "to": str(new)} for name, (old, new) in networks.items()},
        "containers": sum(len(c) for c in per_host.values()),
    }


def plan(scenario, hosts, networks, text, preconditions=None, **extra):
    """--plan: print the simulated hosts, networks and containers a bench would create, anything else it
    names (extra) and its missing preconditions (default PRECONDITIONS); creates nothing."""
    with tempfile.TemporaryDirectory(prefix="lxstack-bench-plan-") as tmp:
        (pathlib.Path(tmp) / "topology.yml").write_text(text, encoding="utf-8")
        per_host = inventory_containers(tmp)
    document = describe(scenario, hosts, networks, per_host)
    document["containers_per_host"] = per_host
    document.update(extra)
    document["missing_preconditions"] = missing_preconditions(**(preconditions or PRECONDITIONS))
    print(json.dumps(document, indent=2))


def write_inventory(work, text, reuse, group_vars=None):
    """The bench inventory directory under work: the topology written, group_vars/ linked to the given
    directory (as molecule links a scenario's), and what a run wrote beside the topology (allocation state,
    deployment secrets, TLS material) kept only when the simulated hosts are reused."""
    inventory = work / "inventory"
    inventory.mkdir(parents=True, exist_ok=True)
    if not reuse:
        for name in ("topology.state.yml", "secrets.yml"):
            if (inventory / name).exists():
                (inventory / name).unlink()
        if (inventory / "pki").is_dir():
            shutil.rmtree(inventory / "pki")
    (inventory / "topology.yml").write_text(text, encoding="utf-8")
    link = inventory / "group_vars"
    if link.is_symlink() or link.exists():
        if link.is_dir() and not link.is_symlink():
            shutil.rmtree(link)
        else:
            link.unlink()
    if group_vars is not None:
        link.symlink_to(pathlib.Path(group_vars).resolve(), target_is_directory=True)
    return inventory


# -- running and reading the playbooks ---------------------------------------------------------


class Playbooks:
    """ansible-playbook on a bench inventory, as root with the deploy key of the simulated hosts;
    each run's output is kept in work/<log>.log."""

    def __init__(self, work, inventory, extra_env=None):
        self.work, self.inventory, self.extra_env = work, inventory, dict(extra_env or {})

    def env(self, json_output=False):
        run_env = dict(os.environ)
        run_env.update({
            "PATH": "%s:%s" % (BIN, run_env.get("PATH", "")),
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "LXSTACK_SIMHOSTS_KEY": str(KEY),
            "ANSIBLE_PRIVATE_KEY_FILE": str(KEY),
            "ANSIBLE_REMOTE_USER": "root",
        })
        run_env.update(self.extra_env)
        if json_output:
            # json on stdout; the timer callback replaces profile_tasks, whose output would mix in
            run_env.update({"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
                            "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.timer"})
        return run_env

    def run(self, path, *args, json_output=False, log=None):
        """Run ansible-playbook; returns (seconds, stdout). Fails loudly, with the log's tail."""
        cmd = [str(BIN / "ansible-playbook"), "-i", str(self.inventory), str(ROOT / path), *args]
        print("$ " + " ".join(relative(c) if c.startswith(str(ROOT)) else c for c in cmd), flush=True)
        started = time.monotonic()
        run = subprocess.run(cmd, cwd=ROOT, env=self.env(json_output), text=True, capture_output=True, check=False)
        elapsed = round(time.monotonic() - started, 1)
        log = self.work / ("%s.log" % (log or pathlib.Path(path).stem))
        log.write_text(run.stdout + run.stderr, encoding="utf-8")
        if run.returncode != 0:
            sys.stdout.write(run.stdout[-6000:] + run.stderr[-3000:])
            raise BenchError("%s failed (rc %d) after %ss, log in %s" % (path, run.returncode, elapsed, relative(log)))
        return elapsed, run.stdout

    def destroy_quietly(self):
        """tests/simhosts/destroy.yml after a failure: no simulated host left behind, the failure kept."""
        subprocess.run([str(BIN / "ansible-playbook"), "-i", str(self.inventory),
                        str(ROOT / "tests/simhosts/destroy.yml")],
                       cwd=ROOT, env=self.env(), capture_output=True, check=False)

    def around(self, measure, keep):
        """measure() on the simulated hosts, which are destroyed afterwards unless keep (also after a
        failure, whose logs stay in work); the removal time is the result's simhosts_destroy_s."""
        destroyed = False
        try:
            result = measure()
            if not keep:
                result["simhosts_destroy_s"] = self.run("tests/simhosts/destroy.yml")[0]
                destroyed = True
        finally:
            if not keep and not destroyed:
                self.destroy_quietly()
        return result


def parse_json(stdout):
    """The json callback's document (anything printed before it is skipped)."""
    match = re.search(r"(?m)^\{", stdout)
    if match is None:
        raise BenchError("no JSON report in the output of ansible-playbook:\n" + stdout[-3000:])
    return json.JSONDecoder().raw_decode(stdout[match.start():])[0]


def moment(text):
    return datetime.datetime.fromisoformat(text.rstrip("Z"))


def seconds(duration):
    return round((moment(duration["end"]) - moment(duration["start"])).total_seconds(), 2)


def tasks(report):
    for play in report["plays"]:
        yield from play["tasks"]


def base_image_build(report):
    """The lxc_host task of hosts.yml that runs debootstrap (not the one that installs it); None when the
    base image came from the deploy host's image cache or was there already."""
    for task in tasks(report):
        name = task["task"]["name"].lower()
        if "run debootstrap" in name and any(not r.get("skipped") for r in task["hosts"].values()):
            return {"seconds": seconds(task["task"]["duration"]), "task": task["task"]["name"],
                    "hosts": sorted(h for h, r in task["hosts"].items() if r.get("changed"))}
    return None


def base_image_unpacked(report):
    """The hosts of hosts.yml that unpacked the base image from the deploy host's image cache
    (roles/lxc_host/tasks/base_image.yml) instead of building it."""
    return sorted({host for task in tasks(report) if "unpack the image" in task["task"]["name"].lower()
                   for host, result in task["hosts"].items() if result.get("changed")})


def changed(report):
    return sum(stat.get("changed", 0) for stat in report["stats"].values())


def summary(values):
    return {"min": min(values), "median": round(statistics.median(values), 3), "max": max(values)} if values else {}
