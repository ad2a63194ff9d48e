# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""service_common entry points return their result in the variable the caller names, so a second call
does not overwrite the first one's (run through ansible-playbook, in check mode, on this machine)."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import subprocess
import sys

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
PLAYBOOK_CLI = str(pathlib.Path(sys.executable).parent / "ansible-playbook")
ENTRY_POINTS = ("venv", "systemd", "uwsgi", "database", "mq", "config")


def test_every_entry_point_documents_the_result_variable():
    specs = yaml.safe_load((REPO / "roles" / "service_common" / "meta" / "argument_specs.yml").read_text())
    for entry in ENTRY_POINTS:
        assert "service_common_result_var" in specs["argument_specs"][entry]["options"], entry


def _tasks(tasks):
    for task in tasks or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key))


def test_no_entry_point_sets_a_fixed_public_fact():
    """Facts an entry point sets are private (_service_common_*) or the caller's variable."""
    for path in sorted((REPO / "roles" / "service_common" / "tasks").glob("*.yml")):
        for task in _tasks(yaml.safe_load(path.read_text())):
            names = [*task.get("ansible.builtin.set_fact", {}), task.get("register", "_")]
            for name in names:
                assert name.startswith("_service_common_") or name in ("_", "{{ service_common_result_var }}"), \
                    "%s: %s sets %s" % (path.name, task["name"], name)


def test_two_config_calls_keep_their_own_results(tmp_path):
    """Two files rendered one after the other: each call's result stays in its own variable (check mode:
    nothing is written, the first file is missing so it would change, the second is already right)."""
    same = tmp_path / "same.ini"
    same.write_text("[DEFAULT]\nkey = same\n")
    same.chmod(0o640)
    out = tmp_path / "results.json"
    play = [{
        "hosts": "localhost", "gather_facts": False,
        "vars": {"service_common_service": "lxstacktest", "service_common_unit_user": "root",
                 "service_common_config_owner": "root"},
        "tasks": [
            {"name": "First file", "ansible.builtin.include_role": {
                "name": "lxstack.openstack.service_common", "tasks_from": "config"},
             "vars": {"service_common_config_dest": str(tmp_path / "new.ini"),
                      "service_common_config": {"DEFAULT": {"key": "new"}},
                      "service_common_result_var": "first_conf"}},
            {"name": "Second file", "ansible.builtin.include_role": {
                "name": "lxstack.openstack.service_common", "tasks_from": "config"},
             "vars": {"service_common_config_dest": str(same),
                      "service_common_config": {"DEFAULT": {"key": "same"}},
                      "service_common_result_var": "second_conf"}},
            {"name": "Save both results", "ansible.builtin.copy": {
                "content": "{{ {'first': first_conf, 'second': second_conf} | to_json }}", "dest": str(out),
                "mode": "0644"}, "check_mode": False},
        ]}]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    run = subprocess.run([PLAYBOOK_CLI, "-i", "localhost,", "-c", "local", "--check",
                          "-e", "ansible_python_interpreter=%s" % sys.executable, str(playbook)],
                         capture_output=True, text=True, env=env, cwd=str(REPO), check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    # checksum: the SHA-1 of the text the file holds, or would hold
    assert json.loads(out.read_text()) == {
        "first": {"changed": True, "dest": str(tmp_path / "new.ini"),
                  "checksum": hashlib.sha1(b"[DEFAULT]\nkey = new\n").hexdigest()},
        "second": {"changed": False, "dest": str(same), "checksum": hashlib.sha1(same.read_bytes()).hexdigest()},
    }
    assert not (tmp_path / "new.ini").exists()
