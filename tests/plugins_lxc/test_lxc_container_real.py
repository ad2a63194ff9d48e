# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lxstack.openstack.lxc_container against real containers (see conftest.py)."""

from __future__ import annotations

import pathlib
import shutil

import pytest
from conftest import BASE_CONFIG, destroy, lxc_names, sh

NAME = 'lxut-mod'
CONFIG_FILE = pathlib.Path('/var/lib/lxc', NAME, 'config')
LIMIT = 'lxc.cgroup.memory.limit_in_bytes'


def init_pid(name=NAME):
    return sh('lxc-info', '-n', name, '-p', '-H', check=False).stdout.strip()


def lxc_state(name=NAME):
    return sh('lxc-info', '-n', name, '-s', '-H', check=False).stdout.strip()


def systemd_state(name=NAME):
    return sh('lxc-attach', '-n', name, '--clear-env', '--', 'systemctl', 'is-system-running',
              check=False).stdout.strip()


def assert_systemd_running(name=NAME):
    """systemd booted with no failed unit ('degraded' means one failed)."""
    state = systemd_state(name)
    failed = sh('lxc-attach', '-n', name, '--clear-env', '--', 'systemctl', '--failed', '--no-legend', '--plain',
                check=False).stdout.strip()
    assert (state, failed) == ('running', ''), f'systemd is {state!r}; failed units: {failed}'


@pytest.fixture(scope='module')
def netless_base(lxut_base):
    """The base as these tests' containers need it: they have no NIC (lxc.net.0.type = empty), but the lxc-debian
    template configures eth0 with DHCP (ifupdown), and networking.service then fails at every boot."""
    interfaces = pathlib.Path('/var/lib/lxc', lxut_base, 'rootfs', 'etc', 'network', 'interfaces')
    interfaces.write_text('# lxut containers have no network interface but lo\nauto lo\niface lo inet loopback\n')
    return lxut_base


@pytest.fixture(scope='module')
def created(netless_base, module):
    destroy(NAME)
    result = module({'name': NAME, 'base': netless_base, 'config': BASE_CONFIG})
    print(f"\n{NAME}: timings {result.get('timings')}")
    yield result
    destroy(NAME)


def test_create_clones_overlayfs_and_waits_for_systemd(created):
    assert created.get('failed') is not True, created
    assert created['changed'] is True
    assert created['backing_store'] == 'overlayfs'
    assert created['state'] == 'started'
    assert lxc_state() == 'RUNNING'
    assert_systemd_running()
    text = CONFIG_FILE.read_text()
    assert 'lxc.rootfs.path = overlay:/var/lib/lxc/lxut-base/rootfs:' in text
    assert 'lxc.uts.name = lxut-mod' in text
    assert 'lxc.net.0.type = empty' in text and 'lxcbr0' not in text  # base's network did not survive
    timings = created['timings']
    assert timings['clone'] < 5 and timings['systemd'] < 60


def test_started_init_has_the_default_personality(created):
    # python3-lxc's start() on LXC 6.0 left init with a garbage personality (systemd's
    # LockPersonality= units then failed); the module starts through lxc-start instead.
    assert pathlib.Path('/proc', init_pid(), 'personality').read_text().strip() == '00000000'


def test_second_run_changes_nothing(created, module):
    before = CONFIG_FILE.read_text()
    pid = init_pid()
    result = module({'name': NAME, 'base': 'lxut-base', 'config': BASE_CONFIG})
    assert result['changed'] is False, result
    assert CONFIG_FILE.read_text() == before and init_pid() == pid


def test_check_mode_reports_and_changes_nothing(created, module):
    before = CONFIG_FILE.read_text()
    pid = init_pid()
    result = module({'name': NAME, 'config': [*BASE_CONFIG, ['lxc.start.auto', True]]}, '--check', '--diff')
    assert result['changed'] is True and result['restarted'] is True
    assert CONFIG_FILE.read_text() == before and init_pid() == pid
    config_diff = result['diff'][0]
    assert config_diff['before'] == before
    assert config_diff['after'] == before + 'lxc.start.auto = 1\n'


def test_check_mode_create_and_absent_do_nothing(lxut_base, module):
    result = module({'name': 'lxut-never', 'base': lxut_base, 'config': BASE_CONFIG}, '--check', '--diff')
    assert result['changed'] is True and 'lxut-never' not in lxc_names()
    assert result['diff'][1] == {'before_header': 'state', 'after_header': 'state',
                                 'before': 'state: absent\n', 'after': 'state: started\n'}
    result = module({'name': NAME, 'state': 'absent'}, '--check')
    assert result['changed'] is True and lxc_state() == 'RUNNING'


def test_cgroup_limit_applied_live_without_restart(created, module):
    pid = init_pid()
    result = module({'name': NAME, 'config': [*BASE_CONFIG, [LIMIT, '400M']]}, '--diff')
    assert result['changed'] is True and result['restarted'] is False
    assert result['applied_live'] == ['memory.limit_in_bytes = 400M']
    assert init_pid() == pid
    assert sh('lxc-cgroup', '-n', NAME, 'memory.limit_in_bytes').stdout.strip() == str(400 * 1024 * 1024)
    assert LIMIT not in result['diff'][0]['before']
    assert result['diff'][0]['after'].endswith(f'{LIMIT} = 400M\n')


def test_drift_is_removed(created, module):
    wanted = [*BASE_CONFIG, [LIMIT, '400M']]
    clean = CONFIG_FILE.read_text()
    with CONFIG_FILE.open('a') as handle:
        handle.write('# hand edit\nlxc.cgroup.cpu.shares = 7\n')
    result = module({'name': NAME, 'config': wanted, 'restart_on_change': False})
    assert result['changed'] is True
    assert CONFIG_FILE.read_text() == clean
    # a removed limit cannot be undone live: restart needed, forbidden here
    assert result['restart_required'] is True


def test_restart_forbidden_leaves_container_running(created, module):
    pid = init_pid()
    result = module({'name': NAME, 'config': [*BASE_CONFIG, ['lxc.tty.max', '5']], 'restart_on_change': False})
    assert result['changed'] is True and result['restart_required'] is True and result['restarted'] is False
    assert init_pid() == pid and 'lxc.tty.max = 5' in CONFIG_FILE.read_text()
    # later runs still know the running container has the old config
    again = module({'name': NAME, 'config': [*BASE_CONFIG, ['lxc.tty.max', '5']], 'restart_on_change': False})
    assert again['changed'] is False and again['restart_required'] is True and init_pid() == pid
    # and the first run that may restart does it
    again = module({'name': NAME, 'config': [*BASE_CONFIG, ['lxc.tty.max', '5']]})
    assert again['changed'] is True and again['restarted'] is True and init_pid() != pid
    assert not (CONFIG_FILE.parent / 'lxstack_restart_required').exists()


def test_restart_when_allowed(created, module):
    pid = init_pid()
    result = module({'name': NAME, 'config': BASE_CONFIG})
    assert result['changed'] is True and result['restarted'] is True and result['restart_required'] is False
    assert lxc_state() == 'RUNNING' and init_pid() != pid
    assert_systemd_running()


def test_stop_and_start(created, module):
    result = module({'name': NAME, 'state': 'stopped', 'config': BASE_CONFIG})
    assert result['changed'] is True and lxc_state() == 'STOPPED'
    assert module({'name': NAME, 'state': 'stopped', 'config': BASE_CONFIG})['changed'] is False
    result = module({'name': NAME, 'state': 'present', 'config': BASE_CONFIG})
    assert result['changed'] is False and result['state'] == 'stopped'
    result = module({'name': NAME, 'state': 'started', 'config': BASE_CONFIG})
    assert result['changed'] is True and lxc_state() == 'RUNNING'


def test_base_with_clones_is_not_destroyed(created, module):
    result = module({'name': 'lxut-base', 'state': 'absent'})
    assert result.get('failed') is True
    assert 'lxut-mod' in result['msg'] and 'lxut-base' in lxc_names()


def test_failed_start_rolls_back_the_clone(lxut_base, module):
    # LXC accepts the config but cannot start: the new clone must be removed again
    bad = [*BASE_CONFIG, ['lxc.mount.entry', '/nonexistent-lxut mnt none bind 0 0']]
    result = module({'name': 'lxut-broken', 'base': lxut_base, 'config': bad})
    assert result.get('failed') is True and 'lxut-broken failed to start' in result['msg']
    assert 'lxut-broken' not in lxc_names()
    assert not pathlib.Path('/var/lib/lxc/lxut-broken').exists()
    assert 'lxut-broken' not in pathlib.Path('/var/lib/lxc/lxut-base/lxc_snapshots').read_text()


def test_rejected_config_key_fails_before_anything(lxut_base, module):
    result = module({'name': 'lxut-broken', 'base': lxut_base, 'config': [*BASE_CONFIG, ['lxc.no.such.key', '1']]})
    assert result.get('failed') is True
    assert result['msg'] == 'container lxut-broken: LXC rejects config item lxc.no.such.key = 1'
    assert not pathlib.Path('/var/lib/lxc/lxut-broken').exists()


@pytest.mark.parametrize('flags', [(), ('--check',)], ids=['apply', 'check'])
def test_missing_base_fails_clearly(module, flags):
    result = module({'name': 'lxut-orphan', 'base': 'lxut-no-such-base'}, *flags)
    assert result.get('failed') is True and 'lxut-no-such-base does not exist' in result['msg']
    assert 'lxut-orphan' not in lxc_names()


def test_unloadable_directory_is_left_alone(lxut_base, module):
    junk = pathlib.Path('/var/lib/lxc/lxut-junk')
    junk.mkdir(exist_ok=True)
    (junk / 'config').write_text('lxc.no.such.key = 1\n')
    try:
        result = module({'name': 'lxut-junk', 'base': lxut_base, 'config': BASE_CONFIG})
        assert result.get('failed') is True and 'LXC cannot load it' in result['msg']
        assert (junk / 'config').read_text() == 'lxc.no.such.key = 1\n'
    finally:
        shutil.rmtree(junk)


def test_btrfs_falls_back_to_dir(lxut_base, module):
    """/var/lib/lxc is not btrfs here: the clone falls back to a full copy and says so."""
    fs = sh('stat', '-f', '-c', '%T', '/var/lib/lxc').stdout.strip()
    if fs == 'btrfs':
        pytest.skip('/var/lib/lxc is on btrfs')
    try:
        result = module({'name': 'lxut-copy', 'base': lxut_base, 'backing_store': 'btrfs', 'state': 'present',
                         'config': BASE_CONFIG})
        assert result.get('failed') is not True, result
        assert result['backing_store'] == 'dir' and result['state'] == 'stopped'
        assert (pathlib.Path('/var/lib/lxc/lxut-copy/rootfs/usr/bin/python3')).exists()
    finally:
        destroy('lxut-copy')


def test_absent_then_absent_again(created, module):
    result = module({'name': NAME, 'state': 'absent'})
    assert result['changed'] is True and NAME not in lxc_names()
    assert not CONFIG_FILE.parent.exists()
    assert module({'name': NAME, 'state': 'absent'})['changed'] is False
