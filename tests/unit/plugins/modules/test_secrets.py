# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the secrets module on real files (tmp_path), in-process and through ansible-playbook."""

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

ROOT = pathlib.Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "collections"))

from ansible.module_utils.testing import patch_module_args  # noqa: E402
from ansible_collections.lxstack.openstack.plugins.modules import secrets as mod  # noqa: E402

KEYS = [
    "galera_root_password",
    {"name": "keystone_credential_key", "kind": "fernet"},
    {"name": "rabbitmq_erlang_cookie", "kind": "alnum", "length": 48},
    {"name": "nova_metadata_secret", "kind": "hex", "length": 64},
    {"name": "cluster_uuid", "kind": "uuid"},
]


def run(capsys, check_mode=False, diff=False, **args):
    """Run the module in-process, return its JSON result."""
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args), pytest.raises(SystemExit):
        mod.main()
    return json.loads(capsys.readouterr().out)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_generates_once_with_kinds_and_mode(tmp_path, capsys):
    path = tmp_path / "secrets.yml"
    result = run(capsys, path=str(path), keys=KEYS)
    assert result["changed"] is True
    assert result["added"] == [k if isinstance(k, str) else k["name"] for k in KEYS]
    assert mode_of(path) == 0o600
    data = yaml.safe_load(path.read_text())
    assert len(data["galera_root_password"]) == 32
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", data["galera_root_password"])
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}=", data["keystone_credential_key"])
    assert re.fullmatch(r"[A-Za-z0-9]{48}", data["rabbitmq_erlang_cookie"])
    assert re.fullmatch(r"[0-9a-f]{64}", data["nova_metadata_secret"])
    assert re.fullmatch(r"[0-9a-f-]{36}", data["cluster_uuid"])
    assert not [p for p in tmp_path.iterdir() if p.name != "secrets.yml"]  # no temporary file left


def test_second_run_unchanged(tmp_path, capsys):
    path = tmp_path / "secrets.yml"
    run(capsys, path=str(path), keys=KEYS)
    before = path.read_bytes()
    inode = path.stat().st_ino
    result = run(capsys, path=str(path), keys=KEYS)
    assert result["changed"] is False and result["added"] == []
    assert path.read_bytes() == before and path.stat().st_ino == inode  # not even rewritten


def test_new_key_added_existing_untouched(tmp_path, capsys):
    path = tmp_path / "secrets.yml"
    path.write_text("---\n# operator comment\nkeystone_admin_password: chosen-by-hand\n")
    os.chmod(path, 0o600)
    before = path.read_text()
    result = run(capsys, path=str(path), keys=["keystone_admin_password", "glance_db_password"])
    assert result["added"] == ["glance_db_password"]
    assert result["keys"] == ["keystone_admin_password", "glance_db_password"]
    text = path.read_text()
    assert text.startswith(before)  # existing lines, comment included, byte for byte
    assert yaml.safe_load(text)["keystone_admin_password"] == "chosen-by-hand"


def test_flow_mapping_is_rewritten_keeping_values(tmp_path, capsys):
    path = tmp_path / "secrets.yml"
    path.write_text("{a_password: keep-me}")
    run(capsys, path=str(path), keys=["a_password", "b_password"])
    data = yaml.safe_load(path.read_text())
    assert data["a_password"] == "keep-me" and len(data["b_password"]) == 32


def test_created_0600_under_permissive_umask(tmp_path, capsys):
    old = os.umask(0)
    try:
        run(capsys, path=str(tmp_path / "s.yml"), keys=["x_password"])
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "s.yml") == 0o600


def test_wrong_mode_corrected(tmp_path, capsys):
    path = tmp_path / "secrets.yml"
    run(capsys, path=str(path), keys=["x_password"])
    os.chmod(path, 0o644)
    result = run(capsys, path=str(path), keys=["x_password"], diff=True)
    assert result["changed"] is True and result["added"] == []
    assert "0600" in result["diff"]["after"]
    assert mode_of(path) == 0o600


def test_check_mode_writes_nothing(tmp_path, capsys):
    path = tmp_path / "secrets.yml"
    result = run(capsys, check_mode=True, path=str(path), keys=KEYS[:2])
    assert result["changed"] is True
    assert result["added"] == ["galera_root_password", "keystone_credential_key"]
    assert not path.exists()
    run(capsys, path=str(path), keys=KEYS[:1])
    before = path.read_bytes()
    result = run(capsys, check_mode=True, path=str(path), keys=KEYS[:2])
    assert result["added"] == ["keystone_credential_key"]
    assert path.read_bytes() == before


def test_diff_and_output_hold_names_never_values(tmp_path, capsys):
    path = tmp_path / "secrets.yml"
    run(capsys, path=str(path), keys=KEYS[:2])
    result = run(capsys, diff=True, path=str(path), keys=KEYS)
    assert result["diff"]["before"] == "galera_root_password: <hidden>\nkeystone_credential_key: <hidden>\n"
    assert "rabbitmq_erlang_cookie: <hidden>" in result["diff"]["after"]
    dumped = json.dumps(result)
    for value in yaml.safe_load(path.read_text()).values():
        assert value not in dumped


def test_failed_rename_leaves_file_and_no_temp(tmp_path, capsys, monkeypatch):
    path = tmp_path / "secrets.yml"
    run(capsys, path=str(path), keys=["a_password"])
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(mod.os, "replace", boom)
    result = run(capsys, path=str(path), keys=["a_password", "b_password"])
    assert result["failed"] is True and "disk full" in result["msg"]
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.yml"]


@pytest.mark.parametrize(
    "keys,message",
    [
        (["bad-name"], "not a valid variable name"),
        (["a", "a"], "listed twice"),
        ([{"name": "a", "kind": "rot13"}], "kind 'rot13' is not one of"),
        ([{"name": "a", "length": 8}], "below the minimum of 16"),
        ([{"name": "a", "size": 8}], "mapping of name, kind, length"),
    ],
)
def test_bad_keys_fail_and_write_nothing(tmp_path, capsys, keys, message):
    path = tmp_path / "secrets.yml"
    result = run(capsys, path=str(path), keys=keys)
    assert result["failed"] is True and message in result["msg"]
    assert not path.exists()


def test_not_a_mapping_fails(tmp_path, capsys):
    path = tmp_path / "secrets.yml"
    path.write_text("- a\n- b\n")
    result = run(capsys, path=str(path), keys=["a"])
    assert result["failed"] is True and "does not hold a YAML mapping" in result["msg"]


def test_verbose_playbook_output_holds_no_value(tmp_path):
    """The real path: module, then include_vars with no_log, run with -vvv and --diff; grep finds no value."""
    path = tmp_path / "secrets.yml"
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {"name": "Secrets", "lxstack.openstack.secrets": {"path": str(path), "keys": KEYS}},
                {"name": "Load", "ansible.builtin.include_vars": {"file": str(path)}, "no_log": True},
                {"name": "Use", "ansible.builtin.assert": {"that": ["galera_root_password | length == 32"]}},
            ],
        }
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    cli = str(pathlib.Path(sys.executable).parent / "ansible-playbook")
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    for _attempt in range(2):
        out = subprocess.run(
            [cli, "-vvv", "--diff", "-i", str(inventory), str(tmp_path / "play.yml")],
            capture_output=True,
            text=True,
            cwd=ROOT,
            # ansible.cfg enables only the topology inventory plugin
            env=dict(os.environ, ANSIBLE_INVENTORY_ENABLED="ansible.builtin.ini"),
            check=False,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert "galera_root_password" in out.stdout
        for value in yaml.safe_load(path.read_text()).values():
            assert value not in out.stdout + out.stderr
    assert "changed=0" in out.stdout
