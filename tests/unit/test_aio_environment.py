# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment directory that `make aio` writes (tests/simhosts/aio_sandbox.yml, without the parts
tagged `sandbox`, which touch this machine): the topology of inventory/aio copied once, reached at the
sandbox's address by SSH instead of the local connection; make's settings rewritten at each run; modes
0700/0600; a second run changes nothing and keeps an operator's edit of the topology; the inventory
plugin builds the all-in-one from it. And the dashboard's address the browser check derives."""

from __future__ import annotations

import json
import os
import pathlib
import re
import stat
import subprocess
import sys

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
SANDBOX = "10.98.0.11"


def run_sandbox_playbook(env, *extra):
    playbook = REPO / "tests" / "simhosts" / "aio_sandbox.yml"
    argv = [str(BIN / "ansible-playbook"), str(playbook), "--skip-tags", "sandbox", "-e", "aio_dir=%s" % env, *extra]
    run = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False,
                         env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1"))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return int(re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", run.stdout).group(1))


def templated(env, host, variable):
    """A variable of the host as a play sees it (templated), by the debug module (no connection)."""
    run = subprocess.run([str(BIN / "ansible"), "-i", str(env / "topology.yml"), host, "-m", "ansible.builtin.debug",
                          "-a", "var=%s" % variable, "-o"], capture_output=True, text=True, cwd=REPO, check=False,
                         env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1"))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads(run.stdout.split(" => ", 1)[1])[variable]


def inventory_host(env, host):
    run = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(env / "topology.yml"), "--host", host],
                         capture_output=True, text=True, cwd=REPO, check=False,
                         env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")))
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_sandbox_environment(tmp_path):
    env = tmp_path / "aio"
    changed = run_sandbox_playbook(env, "-e", "aio_sandbox=true", "-e", "aio_constraints=/srv/constraints/")
    assert changed > 0
    topology = (env / "topology.yml").read_text()
    original = (REPO / "inventory" / "aio" / "topology.yml").read_text()
    assert "connection: local" in original and "connection: local" not in topology
    assert "ssh_address: %s" % SANDBOX in topology
    # the same topology but for aio1's connection: SSH to the sandbox
    wanted = yaml.safe_load(original)
    aio1 = wanted["host_groups"]["infra"]["hosts"]["aio1"]
    del aio1["connection"]
    aio1["ssh_address"] = SANDBOX
    assert yaml.safe_load(topology) == wanted
    settings = yaml.safe_load((env / "group_vars" / "all" / "make_aio.yml").read_text())
    assert settings["lxstack_upper_constraints"] == "/srv/constraints/{{ lxstack_release }}.txt"
    assert settings["ansible_user"] == "root"
    assert settings["ansible_ssh_private_key_file"].endswith("/.cache/simhosts/id_ed25519")
    files = (env, env / "topology.yml", env / "group_vars" / "all" / "make_aio.yml")
    assert [mode(path) for path in files] == [0o700, 0o600, 0o600]

    aio1 = inventory_host(env, "aio1")
    assert aio1["ansible_host"] == SANDBOX
    assert templated(env, "aio1", "lxstack_upper_constraints") == "/srv/constraints/2026.2.txt"
    assert aio1["compute_host_provider_networks"][0]["address"] == "172.24.4.1/24"

    # an operator's edit of the topology stays; the second run changes nothing
    (env / "topology.yml").write_text(topology + "# edited\n")
    assert run_sandbox_playbook(env, "-e", "aio_sandbox=true", "-e", "aio_constraints=/srv/constraints/") == 0
    assert (env / "topology.yml").read_text().endswith("# edited\n")


def test_environment_without_sandbox_keeps_the_local_connection(tmp_path):
    env = tmp_path / "aio"
    run_sandbox_playbook(env, "-e", "aio_sandbox=false")
    assert (env / "topology.yml").read_text() == (REPO / "inventory" / "aio" / "topology.yml").read_text()
    # no constraints given: the official URL (no setting), no SSH settings
    assert (env / "group_vars" / "all" / "make_aio.yml").read_text().strip().splitlines()[1:] == []
    assert inventory_host(env, "aio1")["ansible_connection"] == "local"


def test_environment_is_removed(tmp_path):
    env = tmp_path / "aio"
    run_sandbox_playbook(env, "-e", "aio_sandbox=false")
    assert run_sandbox_playbook(env, "-e", "aio_sandbox=false", "-e", "aio_state=absent") > 0
    assert not env.exists()


@pytest.mark.parametrize("auth_url, dashboard", [
    ("https://172.29.236.10:5000/v3", "https://172.29.236.10/"),
    ("http://cloud.example.org:5000/v3", "http://cloud.example.org/"),
    ("https://[2001:db8::10]:5000/v3", "https://[2001:db8::10]/"),
])
def test_dashboard_url_from_the_public_identity_endpoint(auth_url, dashboard):
    sys.path.insert(0, str(REPO / "tests" / "aio"))
    try:
        import horizon_browser
    finally:
        sys.path.pop(0)
    assert horizon_browser.dashboard_url({"auth": {"auth_url": auth_url}}) == dashboard
