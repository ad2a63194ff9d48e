# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real-LXC tests of the lxc_container module and the lxc_attach connection plugin.

They need root, LXC and python3-lxc for /usr/bin/python3, and skip otherwise; in CI (``CI=true``) every
skip is a failure instead, so the tier cannot pass without running. Every container they make is named
``lxut-*``. The base ``lxut-base`` (Debian trixie + python3, from the lxc-debian template through
tests/lxc-create-debian, which fails when python3 did not get installed; about 50 s the first time, under
20 s once /var/cache/lxc holds the rootfs) is removed at the end unless LXUT_KEEP_BASE=1. Stale ``lxut-*``
containers of an interrupted run are removed at the start.

Run: .venv/bin/python -m pytest tests/plugins_lxc
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / '.venv' / 'bin' / 'ansible'
LXC_CREATE_DEBIAN = ROOT / 'tests' / 'lxc-create-debian'
# CI runs on machines that have everything: a skip there means a test did not run, not a missing feature.
IN_CI = os.environ.get('CI', '').lower() in ('1', 'true', 'yes')
BASE = 'lxut-base'
SYSTEM_PY = '/usr/bin/python3'
# The managed config every test container starts from: no network needed.
BASE_CONFIG = [
    ['lxc.include', '/usr/share/lxc/config/debian.common.conf'],
    ['lxc.net.0.type', 'empty'],
    ['lxc.tty.max', '4'],
    ['lxc.pty.max', '1024'],
]


def _missing():
    if os.geteuid() != 0:
        return 'needs root'
    if not shutil.which('lxc-create') or not shutil.which('lxc-attach'):
        return 'LXC is not installed'
    if subprocess.run([SYSTEM_PY, '-c', 'import lxc'], capture_output=True, check=False).returncode:
        return 'python3-lxc is not importable by /usr/bin/python3'
    if not ANSIBLE.exists():
        return 'run make setup first (.venv/bin/ansible)'
    return None


def pytest_collection_modifyitems(config, items):
    reason = _missing()
    here = pathlib.Path(__file__).parent
    for item in items:
        if here in pathlib.Path(item.fspath).parents:
            item.add_marker(pytest.mark.lxc)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skipped test of this directory (no root, no python3-lxc, no sshd, ...) fails, with the reason."""
    report = yield
    if IN_CI and report.skipped and not hasattr(report, 'wasxfail'):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = 'failed'
        report.longrepr = f'skipped in CI (CI={os.environ["CI"]}), where every real-LXC and SSH test must run: {reason}'
    return report


def sh(*argv, check=True, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, check=check, **kwargs)


def lxc_names():
    return sh('lxc-ls', '-1').stdout.split()


def destroy(name):
    if name in lxc_names():
        sh('lxc-stop', '-n', name, '-k', check=False)
        sh('lxc-destroy', '-n', name)


def ansible_env(**extra):
    env = dict(os.environ)
    env.update(ANSIBLE_CONFIG=str(ROOT / 'ansible.cfg'), ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
               ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_CALLBACKS_ENABLED='ansible.posix.json',
               ANSIBLE_NOCOLOR='1',
               # ansible.cfg enables only the topology plugin; these tests write ini and yaml inventories
               ANSIBLE_INVENTORY_ENABLED='ansible.builtin.ini, ansible.builtin.yaml')
    env.update(extra)
    return env


def run_ansible(inventory, host, module, args, *flags, env=None):
    """Run one ad-hoc task; return (result dict of the host, seconds)."""
    cmd = [str(ANSIBLE), '-i', str(inventory), host, '-m', module, *flags]
    if args is not None:
        cmd += ['-a', args if isinstance(args, str) else json.dumps(args)]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env or ansible_env(), check=False)
    elapsed = time.monotonic() - started
    try:
        out = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f'ansible printed no JSON (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}') from None
    return out['plays'][0]['tasks'][0]['hosts'][host], elapsed


@pytest.fixture(scope='session')
def local_inventory(tmp_path_factory):
    path = tmp_path_factory.mktemp('inv') / 'local.ini'
    path.write_text(f'localhost ansible_connection=local ansible_python_interpreter={SYSTEM_PY}\n')
    return path


@pytest.fixture(scope='session')
def module(local_inventory):
    """Call lxstack.openstack.lxc_container on this machine: module(args, '--check', '--diff')."""
    def call(args, *flags):
        result, _elapsed = run_ansible(local_inventory, 'localhost', 'lxstack.openstack.lxc_container', args, *flags)
        return result
    return call


@pytest.fixture(scope='session')
def lxut_base():
    for name in lxc_names():
        if name.startswith('lxut-') and name != BASE:
            destroy(name)
    rootfs = pathlib.Path('/var/lib/lxc', BASE, 'rootfs')
    if BASE in lxc_names() and not (rootfs / 'usr/bin/python3').exists():
        destroy(BASE)
    if BASE not in lxc_names():
        started = time.monotonic()
        proc = sh(str(LXC_CREATE_DEBIAN), BASE, '-r', 'trixie', '--packages=python3', check=False, timeout=900)
        if proc.returncode:
            pytest.fail(f'{BASE} could not be created (end of the output; the cause is last):\n'
                        f'{proc.stdout[-2000:]}\n{proc.stderr.strip()[-3000:]}', pytrace=False)
        print(f'\n{BASE} created in {time.monotonic() - started:.1f} s')
    sh('lxc-stop', '-n', BASE, '-k', check=False)
    yield BASE
    if os.environ.get('LXUT_KEEP_BASE') != '1':
        destroy(BASE)
