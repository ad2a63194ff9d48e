# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Option resolution and command building of the lxc_attach connection plugin (no LXC needed).

The plugin's real behaviour (commands, files, pipelining, locally and over SSH) is tested against real
containers in tests/plugins_lxc/test_lxc_attach_real.py.
"""

from __future__ import annotations

import pathlib
import shlex
import warnings

import pytest
from ansible.errors import AnsibleConnectionFailure
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import connection_loader, init_plugin_loader

COLLECTIONS = pathlib.Path(__file__).resolve().parents[4] / 'collections'
with warnings.catch_warnings():  # another test module may have configured the collection finder already
    warnings.simplefilter('ignore')
    init_plugin_loader([str(COLLECTIONS)])

CASES = [
    # host vars -> container name, lxc-attach argv head
    ({'container_name': 'infra1-keystone', 'inventory_hostname': 'keystone1'}, 'infra1-keystone'),
    ({'inventory_hostname': 'infra1-galera', 'ansible_host': 'infra1-galera-ct'}, 'infra1-galera-ct'),
    ({'inventory_hostname': 'infra1-nova-api'}, 'infra1-nova-api'),
]


def connection(host_vars):
    conn = connection_loader.get('lxstack.openstack.lxc_attach', PlayContext(), '/dev/null')
    conn.set_options(var_options=host_vars)
    return conn


@pytest.mark.parametrize('host_vars,name', CASES)
def test_container_name_and_clean_environment(host_vars, name):
    argv = connection(host_vars)._attach_argv("echo 'a b' > /tmp/x")
    assert argv == ['lxc-attach', '-n', name, '--clear-env',
                    '--set-var', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
                    '--set-var', 'LANG=C.UTF-8', '--set-var', 'HOME=/root',
                    '--', '/bin/sh', '-c', "echo 'a b' > /tmp/x"]
    # what the SSH leg sends is one shell word per argument
    assert shlex.split(shlex.join(argv)) == argv


def test_defaults():
    conn = connection({'inventory_hostname': 'c1'})
    assert conn.get_option('physical_host_connection') == 'ssh'
    assert conn.get_option('physical_host_user') == 'root'
    assert conn.get_option('physical_host_port') == 22
    assert conn.get_option('pipelining') is True
    assert conn.has_pipelining is True


def test_physical_host_vars():
    conn = connection({'inventory_hostname': 'c1', 'physical_host_address': '10.0.0.11', 'physical_host_port': 2222,
                       'ansible_user': 'deploy', 'ansible_ssh_private_key_file': '/keys/id'})
    assert conn.get_option('physical_host_address') == '10.0.0.11'
    assert conn.get_option('physical_host_port') == 2222
    assert conn.get_option('physical_host_user') == 'deploy'
    assert conn.get_option('physical_host_private_key_file') == '/keys/id'


def test_ssh_without_address_fails_naming_the_container():
    conn = connection({'inventory_hostname': 'c1', 'container_name': 'infra1-keystone'})
    with pytest.raises(AnsibleConnectionFailure, match='container infra1-keystone: physical_host_address is not set'):
        conn.exec_command('true')


def test_unknown_mode_is_rejected():
    with pytest.raises(Exception, match='physical_host_connection'):
        connection({'inventory_hostname': 'c1', 'physical_host_connection': 'telnet'}).get_option(
            'physical_host_connection')
