# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lxstack.openstack.lxc_attach against real containers, locally and over SSH (see conftest.py).

The SSH leg talks to an sshd this test starts on 127.0.0.1 (a free port, a generated key).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest
import yaml
from conftest import BASE_CONFIG, ansible_env, destroy, run_ansible, sh

MODES = ('local', 'ssh')


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture(scope='module')
def sshd(tmp_path_factory):
    if not os.path.exists('/usr/sbin/sshd'):
        pytest.skip('openssh-server is not installed (/usr/sbin/sshd)')
    tmp = tmp_path_factory.mktemp('sshd')
    for key in ('host_key', 'client_key'):
        sh('ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', str(tmp / key))
    shutil.copy(tmp / 'client_key.pub', tmp / 'authorized_keys')
    port = free_port()
    (tmp / 'sshd_config').write_text(
        f'ListenAddress 127.0.0.1\nPort {port}\nHostKey {tmp}/host_key\nPidFile {tmp}/sshd.pid\n'
        f'AuthorizedKeysFile {tmp}/authorized_keys\nPermitRootLogin prohibit-password\n'
        'PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n'
        # as Debian's sshd: large files to and from containers go by sftp (the connection plugin's LARGE_FILE)
        'Subsystem sftp /usr/lib/openssh/sftp-server\n')
    os.makedirs('/run/sshd', exist_ok=True)
    proc = subprocess.Popen(['/usr/sbin/sshd', '-D', '-f', str(tmp / 'sshd_config'), '-E', str(tmp / 'sshd.log')])
    deadline = time.monotonic() + 10
    while socket.socket().connect_ex(('127.0.0.1', port)) != 0:
        assert time.monotonic() < deadline, (tmp / 'sshd.log').read_text()
        time.sleep(0.1)
    yield {'port': port, 'key': str(tmp / 'client_key'), 'control_dir': tmp / 'cp'}
    for sock in (tmp / 'cp').glob('*'):  # end the ControlPersist masters of this test
        sh('ssh', '-o', f'ControlPath={sock}', '-O', 'exit', 'lxut', check=False)
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)


@pytest.fixture(scope='module')
def setup(lxut_base, module, sshd, tmp_path_factory):
    """One container per mode and an inventory the way the topology plugin writes it."""
    hosts = {}
    for mode in MODES:
        name = f'lxut-att-{mode}'
        destroy(name)
        result = module({'name': name, 'base': lxut_base, 'config': BASE_CONFIG})
        assert result['changed'] is True, (result.get('msg'), result.get('module_stderr'), result.get('exception'))
        hosts[f'{name}-host'] = {'container_name': name, 'physical_host_connection': mode}
    hosts['lxut-att-ssh-host'].update(physical_host_address='127.0.0.1', physical_host_port=sshd['port'],
                                      physical_host_private_key_file=sshd['key'])
    hosts['lxut-missing-host'] = {'container_name': 'lxut-missing', 'physical_host_connection': 'local'}
    inventory = tmp_path_factory.mktemp('inv') / 'containers.yml'
    inventory.write_text(yaml.safe_dump({'all_containers': {
        'hosts': hosts,
        'vars': {'ansible_connection': 'lxstack.openstack.lxc_attach',
                 'ansible_python_interpreter': '/usr/bin/python3'}}}))
    env = ansible_env(ANSIBLE_SSH_CONTROL_PATH_DIR=str(sshd['control_dir']), PIP_FIND_LINKS='/lxut/leak',
                      PIP_INDEX_URL='http://lxut.invalid/simple')
    yield {'inventory': inventory, 'env': env, 'tmp': tmp_path_factory.mktemp('files')}
    for mode in MODES:
        destroy(f'lxut-att-{mode}')


def run(setup, mode, module, args=None, *flags):
    host = f'lxut-att-{mode}-host'
    result, elapsed = run_ansible(setup['inventory'], host, module, args, *flags, env=setup['env'])
    print(f'\n{mode}: {module} {elapsed:.2f} s')
    return result


def in_container(mode, *argv):
    return sh('lxc-attach', '-n', f'lxut-att-{mode}', '--clear-env', '--', *argv).stdout


@pytest.mark.parametrize('mode', MODES)
def test_ping_is_pipelined(setup, mode):
    result = run(setup, mode, 'ansible.builtin.ping')
    assert result.get('ping') == 'pong', result
    # with pipelining the module goes through stdin: no remote temporary directory was ever made
    assert in_container(mode, 'sh', '-c', 'test -e /root/.ansible/tmp && echo tmp || echo none').strip() == 'none'


@pytest.mark.parametrize('mode', MODES)
def test_setup_gathers_container_facts(setup, mode):
    facts = run(setup, mode, 'ansible.builtin.setup')['ansible_facts']
    assert facts['ansible_distribution_release'] == 'trixie'
    assert facts['ansible_hostname'] == f'lxut-att-{mode}'
    assert facts['ansible_virtualization_type'] == 'lxc'


@pytest.mark.parametrize('mode', MODES)
def test_controller_environment_does_not_leak(setup, mode):
    result = run(setup, mode, 'ansible.builtin.command', 'env')
    env = dict(line.split('=', 1) for line in result['stdout'].splitlines())
    assert not [k for k in env if k.startswith('PIP_')], env
    assert env['LANG'] == 'C.UTF-8' and env['HOME'] == '/root'
    assert env['PATH'] == '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'


@pytest.mark.parametrize('mode', MODES)
def test_shell_quoting_survives(setup, mode):
    result = run(setup, mode, 'ansible.builtin.shell', 'printf "%s|%s" "it\'s $HOME" \'$HOME "x"\'')
    assert result['stdout'] == 'it\'s /root|$HOME "x"'


@pytest.mark.parametrize('mode', MODES)
def test_copy_and_fetch_5mb(setup, mode):
    # LXUT_BLOB_MB=100 times a venv archive's size (pytest -s prints each module's seconds)
    src = setup['tmp'] / f'blob-{mode}'
    src.write_bytes(os.urandom(int(os.environ.get('LXUT_BLOB_MB', '5')) * 1024 * 1024))
    digest = hashlib.sha1(src.read_bytes()).hexdigest()
    result = run(setup, mode, 'ansible.builtin.copy', f'src={src} dest=/root/blob mode=0600')
    assert result['changed'] is True and result['checksum'] == digest, result
    assert in_container(mode, 'sha1sum', '/root/blob').split()[0] == digest
    fetched = setup['tmp'] / f'fetched-{mode}'
    result = run(setup, mode, 'ansible.builtin.fetch', f'src=/root/blob dest={fetched} flat=yes')
    assert result.get('failed') is not True, result
    assert hashlib.sha1(fetched.read_bytes()).hexdigest() == digest
    if mode == 'ssh':  # both went through the physical host's private staging directory, left empty
        staged = os.path.expanduser('~/.cache/lxstack-xfer')
        assert os.stat(staged).st_mode & 0o777 == 0o700 and os.listdir(staged) == [], os.listdir(staged)
    # second copy: unchanged
    assert run(setup, mode, 'ansible.builtin.copy', f'src={src} dest=/root/blob mode=0600')['changed'] is False


def test_missing_container_fails_clearly(setup):
    result, _elapsed = run_ansible(setup['inventory'], 'lxut-missing-host', 'ansible.builtin.ping', None,
                                   env=setup['env'])
    assert result.get('unreachable') is True, result
    assert 'container lxut-missing on localhost is not running or does not exist' in result['msg']
