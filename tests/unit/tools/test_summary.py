# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""tests/summary.py: the per-tier table of `make test`, and its verdict on skips in CI."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / 'summary.py'


def junit(tests, failures=0, errors=0, skipped=0, seconds=1.5):
    return ('<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="%d" failures="%d" '
            'skipped="%d" tests="%d" time="%s"/></testsuites>' % (errors, failures, skipped, tests, seconds))


@pytest.fixture
def results(tmp_path):
    (tmp_path / 'lint.log').write_text(
        'ruff: 34 files\nAll checks passed!\n'
        '\x1b[32mPassed\x1b[0m: 0 failure(s), 0 warning(s) in 209 files processed of 222 encountered.\n')
    (tmp_path / 'sanity.log').write_text(
        'Running sanity test "ansible-doc"\nInstalling requirements\nRunning sanity test "compile" on Python 3.11\n')
    (tmp_path / 'unit.xml').write_text(junit(213, seconds=52.1))
    (tmp_path / 'lxc.xml').write_text(junit(29, seconds=211.3))
    (tmp_path / 'molecule-default.xml').write_text(junit(40, skipped=0))
    (tmp_path / 'molecule-aio.xml').write_text(junit(30, skipped=2))
    return tmp_path


def summary(results, *tiers, ci=''):
    return subprocess.run([sys.executable, str(SCRIPT), str(results), *tiers], capture_output=True, text=True,
                          env={'CI': ci}, check=False)


def table(stdout):
    """{tier: [ran, failed, skipped, seconds]} of the printed table."""
    rows = {}
    for line in stdout.splitlines():
        if not line or line.startswith(('==', 'tier ', 'ERROR')):
            continue
        name, _sep, figures = line.partition('  ')
        rows[name.strip()] = figures.split()[:4]
    return rows


def test_every_tier_counted(results):
    proc = summary(results, 'lint', 'sanity', 'unit', 'lxc', 'molecule')
    assert proc.returncode == 0, proc.stdout
    assert table(proc.stdout) == {
        'lint: ruff': ['34', '0', '-', '-'],
        'lint: ansible-lint': ['209', '0', '-', '-'],
        'sanity': ['2', '-', '-', '-'],
        'unit': ['213', '0', '0', '52.1'],
        'lxc': ['29', '0', '0', '211.3'],
        'molecule aio (testinfra)': ['30', '0', '2', '1.5'],
        'molecule default (testinfra)': ['40', '0', '0', '1.5'],
    }


def test_a_real_container_test_skipped_in_ci_fails(results):
    proc = summary(results, 'unit', 'molecule', ci='true')
    assert proc.returncode == 1
    assert 'ERROR: molecule aio (testinfra): 2 skipped in CI' in proc.stdout


def test_a_skipped_unit_test_is_no_failure_in_ci(results):
    (results / 'unit.xml').write_text(junit(213, skipped=3))
    assert summary(results, 'unit', ci='true').returncode == 0


def test_a_tier_without_results_fails(results):
    (results / 'lxc.xml').unlink()
    proc = summary(results, 'unit', 'lxc')
    assert proc.returncode == 1
    assert 'ERROR: lxc: left no result (did it run?)' in proc.stdout


def test_failures_are_counted(results):
    (results / 'unit.xml').write_text(junit(213, failures=2, errors=1))
    assert table(summary(results, 'unit').stdout)['unit'][:2] == ['213', '3']


MOLECULE_LOG = '''\x1b[2m\u2502\x1b[0m TASK [galera : Check the cluster]
\x1b[2m\u2502\x1b[0m fatal: [infra1-galera]: FAILED! => {"msg": "expected, ignored"}
\x1b[2m\u2502\x1b[0m ...ignoring
\x1b[2m\u2502\x1b[0m TASK [placement : Sync the placement database]
\x1b[2m\u2502\x1b[0m ok: [infra1-placement]
\x1b[2m\u2502\x1b[0m TASK [placement : Register placement in keystone]
\x1b[2m\u2502\x1b[0m fatal: [infra1-placement -> infra1-keystone]: FAILED! => {"msg": "Gateway Timeout"}
\x1b[2m\u2502\x1b[0m TASK [glance : Refuse an image store that is not shared]
\x1b[2m\u2502\x1b[0m fatal: [g2-glance]: FAILED! =>
\x1b[2m\u2502\x1b[0m     changed: false
\x1b[2m\u2502\x1b[0m     msg: 'g2-glance does not share
\x1b[2m\u2502\x1b[0m         the image store'
\x1b[2m\u2502\x1b[0m
\x1b[2m\u2502\x1b[0m PLAY RECAP
ERROR    Ansible return code was 2
'''


def test_a_failed_scenario_names_its_failed_task_at_the_end(results):
    (results / 'molecule-default.log').write_text(MOLECULE_LOG)
    (results / 'molecule-default.failed').touch()
    out = summary(results, 'molecule').stdout
    digest = out[out.index('== what failed in molecule-default'):]
    assert 'TASK [placement : Register placement in keystone]\n' \
           'fatal: [infra1-placement -> infra1-keystone]: FAILED! => {"msg": "Gateway Timeout"}' in digest
    assert 'expected, ignored' not in digest and 'Sync the placement' not in digest
    # a result printed on the lines after "FAILED! =>" (the YAML callback) is joined to it
    assert "fatal: [g2-glance]: FAILED! => changed: false msg: 'g2-glance does not share the image store'\n" in digest
    assert 'PLAY RECAP' not in digest


def test_a_passed_scenario_prints_no_digest(results):
    (results / 'molecule-default.log').write_text(MOLECULE_LOG)
    assert 'what failed' not in summary(results, 'molecule').stdout


def test_failed_tests_are_named(results):
    (results / 'molecule-aio.xml').write_text(
        '<testsuites><testsuite tests="2" failures="1"><testcase classname="test_keystone" name="test_token[h]">'
        '<failure message="x"/></testcase><testcase classname="a" name="ok"/></testsuite></testsuites>')
    out = summary(results, 'molecule').stdout
    assert '== failed tests in molecule-aio.xml\ntest_keystone::test_token[h]\n' in out
    assert 'a::ok' not in out
