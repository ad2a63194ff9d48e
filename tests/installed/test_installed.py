# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection as an operator uses it: built with ansible-galaxy, installed into the default
collections path of a fresh HOME (no Galaxy server: the dependencies come from the `ansible` package of
the venv), and run from a directory of the operator's own, with no ansible.cfg anywhere and no ANSIBLE_*
variable: plugins documented, the example topologies parsed, a typo refused by ansible-inventory and by
a playbook named by its collection name, every playbook refusing to run without a topology, and the
prechecks on the all-in-one example.

Run: .venv/bin/python -m pytest tests/installed   (make installed; part of make test)
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile

import ansible
import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
FQCN = "%s.%s" % (GALAXY["namespace"], GALAXY["name"])
# the tarball is what an operator downloads: the plugins, roles, playbooks and docs, not the harness
TARBALL_MAX_BYTES = 400_000
NOT_SHIPPED = re.compile(r"^(tests|molecule|bench|collections|\.[^/]+)(/|$)|(^|/)(__pycache__|secrets\.ya?ml|pki)(/|$)"
                         r"|^ansible\.cfg$")
PLUGIN_DIRS = {"inventory": "inventory", "connection": "connection", "modules": "module", "filter": "filter"}


def _plugins():
    """(ansible-doc type, name) of every plugin of the collection, from the checkout's plugin dirs."""
    found = []
    for directory, kind in PLUGIN_DIRS.items():
        # a filter file holds several filters, each documented in its own <name>.yml
        pattern = "*.yml" if kind == "filter" else "[!_]*.py"
        found.extend((kind, path.stem) for path in sorted((REPO / "plugins" / directory).glob(pattern)))
    return found


def _playbooks():
    return sorted(p.stem for p in (REPO / "playbooks").glob("*.yml") if not p.name.startswith("_"))


class Site:
    """An operator's machine: a HOME of its own and a working directory without ansible.cfg."""

    def __init__(self, root):
        self.home = root / "home"
        self.work = root / "work"
        self.dist = root / "dist"
        for directory in (self.home, self.work, self.dist):
            directory.mkdir()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        self.env["HOME"] = str(self.home)
        self.installed = self.home / ".ansible" / "collections" / "ansible_collections" / GALAXY["namespace"] / \
            GALAXY["name"]
        self.tarball = None

    def run(self, *cmd, env=None, check=False):
        tool = str(BIN / cmd[0]) if (BIN / cmd[0]).exists() else cmd[0]
        result = subprocess.run([tool, *cmd[1:]], cwd=self.work, env=dict(self.env, **(env or {})),
                                capture_output=True, text=True, check=False, timeout=300)
        if check:
            assert result.returncode == 0, "%s: rc=%d\n%s\n%s" % (cmd, result.returncode, result.stdout,
                                                                  result.stderr)
        return result

    def environment(self, example, name=None):
        """A copy of an example environment of the installed collection in the working directory."""
        target = self.work / (name or example)
        shutil.copytree(self.installed / "inventory" / example, target)
        return target


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("installed"))
    site.run("ansible-galaxy", "collection", "build", "--output-path", str(site.dist), str(REPO), check=True)
    (site.tarball,) = site.dist.glob("*.tar.gz")
    # --offline: no Galaxy server; the dependencies' ranges must be met by the collections installed
    # with the `ansible` package, or the install fails
    installed = site.run("ansible-galaxy", "collection", "install", "--offline", str(site.tarball), check=True)
    for dependency in GALAXY["dependencies"]:
        assert "'%s:" % dependency in installed.stdout, installed.stdout
    assert (site.installed / "MANIFEST.json").is_file()
    return site


def test_no_ansible_cfg_is_used(site):
    version = site.run("ansible", "--version", check=True).stdout
    assert re.search(r"^\s*config file = None$", version, re.MULTILINE), version
    listed = site.run("ansible-galaxy", "collection", "list", FQCN, check=True).stdout
    assert str(site.installed.parents[1]) in listed


def test_tarball_is_small_and_holds_what_operators_run(site):
    size = site.tarball.stat().st_size
    assert size < TARBALL_MAX_BYTES, "%s is %d bytes" % (site.tarball.name, size)
    with tarfile.open(site.tarball) as tar:
        names = [m.name for m in tar.getmembers()]
    assert not [n for n in names if NOT_SHIPPED.search(n)], [n for n in names if NOT_SHIPPED.search(n)]
    for wanted in ("plugins/inventory/topology.py", "playbooks/_guard.yml", "playbooks/prechecks.yml",
                   "roles/lxc_host/tasks/main.yml", "inventory/aio/topology.yml", "docs/topology.md",
                   "docs/ansible-cfg.md", "meta/runtime.yml", "COPYING"):
        assert wanted in names, wanted


def test_every_collection_used_is_a_declared_dependency(site):
    """Each collection of the `ansible` package that the roles, playbooks or plugins name is in galaxy.yml."""
    manifest = json.loads((site.installed / "MANIFEST.json").read_text())
    declared = manifest["collection_info"]["dependencies"]
    assert declared == GALAXY["dependencies"]
    available = {"%s.%s" % (p.parent.name, p.name)
                 for p in (pathlib.Path(ansible.__file__).parents[1] / "ansible_collections").glob("*/*")
                 if (p / "MANIFEST.json").is_file()}
    used = {}
    for path in site.installed.rglob("*"):
        if path.suffix not in (".yml", ".yaml", ".j2", ".py") or not path.is_file():
            continue
        for match in re.finditer(r"(?<![\w.])([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*", path.read_text()):
            if match.group(1) in available:
                used.setdefault(match.group(1), str(path.relative_to(site.installed)))
    missing = {name: where for name, where in used.items() if name not in declared}
    assert not missing, "used but not in galaxy.yml dependencies: %s" % missing


@pytest.mark.parametrize("kind", sorted({kind for kind, _name in _plugins()}))
def test_ansible_doc_of_every_plugin(site, kind):
    names = ["%s.%s" % (FQCN, name) for k, name in _plugins() if k == kind]
    result = site.run("ansible-doc", "-t", kind, *names, check=True)
    for name in names:
        assert name in result.stdout, (name, result.stdout[:500])
    assert "[WARNING]" not in result.stderr and "[ERROR]" not in result.stderr, result.stderr


@pytest.mark.parametrize("example", ["aio", "multinode"])
def test_example_topologies(site, example):
    env = site.environment(example)
    state = (env / "topology.state.yml").read_text()
    # expected: the topology's hosts and the containers the shipped state file allocates
    topology = yaml.safe_load((env / "topology.yml").read_text())
    hosts = sum(len(group["hosts"]) for group in topology["host_groups"].values())
    containers = len(yaml.safe_load(state)["containers"])
    assert hosts >= 1 and containers > hosts, (hosts, containers)
    for _run in range(2):   # the second run also reads the state file the first one may have written
        result = site.run("ansible-inventory", "-i", env.name, "--list", check=True)
        assert "[WARNING]" not in result.stderr, result.stderr
        groups = json.loads(result.stdout)
        assert len(groups["physical_hosts"]["children"]) >= 1
        assert len(groups["all_containers"]["children"]) >= 1
        assert len(groups["_meta"]["hostvars"]) == hosts + containers
    assert (env / "topology.state.yml").read_text() == state, "the shipped state file is not what the plugin writes"
    graph = site.run("ansible-inventory", "-i", env.name, "--graph", check=True)
    assert "@all_containers:" in graph.stdout and not graph.stderr.strip(), graph.stderr


def test_typo_is_refused_by_inventory_and_playbook(site):
    env = site.environment("multinode", "typo")
    topology = env / "topology.yml"
    (env / "topology.state.yml").unlink()
    text = topology.read_text()
    assert "  galera: {count: 3}\n" in text
    topology.write_text(text.replace("  galera: {count: 3}\n", "  galera: {count: 3, foo: 1}\n"))
    expected = ("[ERROR]: invalid topology (1 error):\n  %s: services.galera.foo: unknown key"
                % (site.work / "typo" / "topology.yml"))
    for cmd in (("ansible-inventory", "-i", "typo", "--graph"),
                ("ansible-playbook", "-i", "typo", "%s.prechecks" % FQCN)):
        result = site.run(*cmd)
        assert result.returncode != 0, (cmd, result.stdout, result.stderr)
        # the topology's own message comes first, before Ansible's warnings about the source
        assert result.stderr.startswith(expected), (cmd, result.stderr)
        assert "PLAY [" not in result.stdout
    assert not (env / "topology.state.yml").exists()


@pytest.mark.parametrize("playbook", _playbooks())
def test_every_playbook_refuses_without_a_topology(site, playbook):
    env = site.work / "no-topology"
    env.mkdir(exist_ok=True)
    (env / "topology.yml").write_text("# the topology of the lab, still to be written\n")
    result = site.run("ansible-playbook", "-i", env.name, "%s.%s" % (FQCN, playbook))
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "is not a parsed lxstack topology: it has no hosts" in out, out
    # the guard is the first play: nothing of the playbook itself ran
    assert re.findall(r"^PLAY \[(.*?)\]", result.stdout, re.MULTILINE) == [
        "Check that the inventory is a parsed lxstack topology"], result.stdout


def test_prechecks_by_collection_name(site):
    """prechecks on a copy of the all-in-one example, whose only host is this machine (connection local).

    They pass on a Debian 12/13 host with systemd as PID 1 and the topology's bridges and NICs; on a
    machine without them (such as a CI container) they must fail with the checks' own verdict on aio1,
    never earlier (collection, role, inventory or interpreter problems)."""
    site.environment("aio", "aio-prechecks")
    result = site.run("ansible-playbook", "-i", "aio-prechecks", "%s.prechecks" % FQCN,
                      env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    report = json.loads(result.stdout)
    tasks = [(task["task"]["name"], host, outcome) for play in report["plays"] for task in play["tasks"]
             for host, outcome in task["hosts"].items()]
    assert tasks[0][:2] == ("Refuse to run without a parsed topology", "localhost") and not tasks[0][2].get("failed")
    facts = next(outcome for name, host, outcome in tasks if name == "Gathering Facts" and host == "aio1")
    assert not facts.get("failed"), facts
    # Debian's interpreter, whatever python3 comes first on PATH (a pyenv shim there made discovery fail)
    assert facts["ansible_facts"]["ansible_python"]["executable"] == "/usr/bin/python3"
    failed = [(name, outcome) for name, host, outcome in tasks if outcome.get("failed")]
    if result.returncode == 0:
        assert not failed and report["stats"]["aio1"]["failures"] == 0
    else:
        assert len(failed) == 1, failed
        name, outcome = failed[0]
        assert name.startswith("lxstack.openstack.lxc_host : Check "), name
        assert outcome["msg"].startswith("aio1: "), outcome
