# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: lxc_attach
short_description: Run tasks in an LXC container through lxc-attach on its physical host
version_added: 0.1.0
description:
  - Every command of a task for a container runs on the container's physical host as
    C(lxc-attach -n <container> --clear-env --set-var PATH=... --set-var LANG=C.UTF-8 --set-var HOME=/root
    -- /bin/sh -c <command>). The container needs no sshd.
  - With O(physical_host_connection=local) (the physical host is the controller) C(lxc-attach) runs as a local
    subprocess; with V(ssh) it runs on the physical host through Ansible's own C(ssh) connection plugin, so the
    C([ssh_connection]) settings (ControlPersist, C(ssh_args)) apply and one SSH master serves every container
    of a host.
  - C(--clear-env) keeps the environment of the controller or the physical host (for example C(PIP_*)
    variables) out of the container; only C(PATH), C(LANG) and C(HOME) are set.
  - Files are streamed through the attached process (C(cat > dest) and C(cat src)), so they also reach a
    container whose rootfs is an overlay not visible on the host. Over SSH a file to copy of 1 MiB or more,
    and every file to fetch, goes by the C(ssh) plugin's own file transfer to C(~/.cache/lxstack-xfer/) on the
    physical host (mode 0700, the file removed after) and through C(lxc-attach) there; a smaller file to copy
    is held in memory and streamed in the same command.
  - Pipelining is supported. The tasks run as root in the container; leave become off for containers
    (a minimal container has no sudo).
  - The SSH leg is Ansible's C(ssh) plugin configured with O(physical_host_address), O(physical_host_user),
    O(physical_host_port) and O(physical_host_private_key_file); C(ansible.cfg) and environment settings of
    the C(ssh) plugin (C(ssh_args), control path, timeout, host key checking) apply, per-host C(ansible_ssh_*)
    variables of the container other than the key do not. Key authentication only.
author:
  - lxstack contributors (@lxstack)
options:
  remote_addr:
    description: Fallback for the container name when O(container_name) is not set.
    type: str
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
  container_name:
    description: Name of the container on its physical host.
    type: str
    vars:
      - name: container_name
  physical_host_address:
    description: Address (or name) the controller reaches the physical host at over SSH.
    type: str
    vars:
      - name: physical_host_address
  physical_host_connection:
    description: How the physical host is reached, V(ssh) or V(local) (the controller is the physical host).
    type: str
    choices: [ssh, local]
    default: ssh
    vars:
      - name: physical_host_connection
  physical_host_user:
    description: SSH user on the physical host. It must be able to run C(lxc-attach), so normally root.
    type: str
    default: root
    vars:
      - name: physical_host_user
      - name: ansible_user
  physical_host_port:
    description: SSH port of the physical host.
    type: int
    default: 22
    vars:
      - name: physical_host_port
  physical_host_private_key_file:
    description: SSH private key for the physical host.
    type: path
    vars:
      - name: physical_host_private_key_file
      - name: ansible_ssh_private_key_file
      - name: ansible_private_key_file
  pipelining:
    description: Send modules through stdin instead of temporary files.
    type: bool
    default: true
    env:
      - name: ANSIBLE_PIPELINING
    ini:
      - section: connection
        key: pipelining
      - section: ssh_connection
        key: pipelining
    vars:
      - name: ansible_pipelining
  lxc_attach_executable:
    description: The lxc-attach command on the physical host.
    type: str
    default: lxc-attach
    vars:
      - name: lxc_attach_executable
"""

EXAMPLES = r"""
# Inventory (normally written by the lxstack.openstack.topology inventory plugin)
# [all_containers]
# infra1-keystone physical_host_address=10.0.0.11 physical_host_connection=ssh container_name=infra1-keystone
# [all_containers:vars]
# ansible_connection=lxstack.openstack.lxc_attach
# ansible_python_interpreter=/usr/bin/python3
# physical_host_private_key_file=~/.ssh/lxstack

- name: Gather facts of a container through its physical host
  hosts: all_containers
  tasks:
    - name: Ping
      ansible.builtin.ping:
"""

import os
import shlex
import subprocess
import uuid

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.connection import ConnectionBase
from ansible.plugins.loader import connection_loader
from ansible.utils.display import Display
from ansible_collections.lxstack.openstack.plugins.module_utils.lxc_container import ATTACH_ENV

display = Display()

# what lxc-attach itself prints when the container is stopped or missing
NOT_RUNNING = b'Failed to get init pid'
# Over SSH, a file to copy of at least LARGE_FILE bytes, and every file to fetch, goes by the ssh plugin's
# own file transfer (sftp or scp) to HOST_XFER_DIR on the physical host (under the SSH user's home, made
# mode 0700) and through lxc-attach there: the ssh plugin gathers a command's output in memory by
# concatenation, so a 100 MB venv archive through `cat` took most of a minute.
LARGE_FILE = 1024 * 1024
HOST_XFER_DIR = '.cache/lxstack-xfer'


class Connection(ConnectionBase):
    """Commands and files of a container, through lxc-attach on its physical host."""

    transport = 'lxstack.openstack.lxc_attach'
    has_pipelining = True
    default_user = 'root'

    def __init__(self, play_context, *args, **kwargs):
        super().__init__(play_context, *args, **kwargs)
        self._ssh = None

    # ---------------------------------------------------------------- helpers
    @property
    def container(self):
        return self.get_option('container_name') or self.get_option('remote_addr') or self._play_context.remote_addr

    @property
    def _local(self):
        return self.get_option('physical_host_connection') == 'local'

    def _where(self):
        if self._local:
            return 'localhost'
        return self.get_option('physical_host_address')

    def _attach_argv(self, command):
        argv = [self.get_option('lxc_attach_executable'), '-n', self.container, '--clear-env']
        for var in ATTACH_ENV:
            argv += ['--set-var', var]
        return [*argv, '--', '/bin/sh', '-c', command]

    def _connect(self):
        if self._connected:
            return self
        if not self._local:
            address = self.get_option('physical_host_address')
            if not address:
                raise AnsibleConnectionFailure(
                    'container %s: physical_host_address is not set (needed with physical_host_connection=ssh)'
                    % self.container)
            self._ssh = connection_loader.get('ssh', self._play_context, '/dev/null')
            direct = {
                'host': address,
                'remote_user': self.get_option('physical_host_user'),
                'port': self.get_option('physical_host_port'),
                'pipelining': True,
            }
            if self.get_option('physical_host_private_key_file'):
                direct['private_key_file'] = self.get_option('physical_host_private_key_file')
            self._ssh.set_options(direct=direct)
            self._ssh._connect()
        display.vvv('LXC-ATTACH %s on %s' % (self.container, self._where()), host=self.container)
        self._connected = True
        return self

    def _run(self, command, in_data=None, stdin_file=None, stdout_file=None, host_redirect=''):
        """Run a shell command in the container; returns (rc, stdout, stderr) as bytes. Over SSH,
        ``host_redirect`` (e.g. ``' < file'``) follows the lxc-attach command line in the physical host's shell."""
        argv = self._attach_argv(command)
        display.vvvv('LXC-ATTACH EXEC %s' % shlex.join(argv), host=self.container)
        if self._local:
            stdin = stdin_file if stdin_file is not None else (subprocess.PIPE if in_data else subprocess.DEVNULL)
            stdout = stdout_file if stdout_file is not None else subprocess.PIPE
            with subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE) as proc:
                out, err = proc.communicate(in_data if in_data else None)
            rc = proc.returncode
            out = out or b''
        else:
            if stdin_file is not None:
                in_data = stdin_file.read()
            rc, out, err = self._ssh.exec_command(shlex.join(argv) + host_redirect, in_data=in_data, sudoable=False)
            if stdout_file is not None:
                stdout_file.write(out)
                out = b''
        if rc != 0 and NOT_RUNNING in err and b'lxc-attach' in err:
            raise AnsibleConnectionFailure('container %s on %s is not running or does not exist: %s'
                                           % (self.container, self._where(), to_text(err).strip()))
        return rc, out, err

    # ------------------------------------------------------------- interface
    def exec_command(self, cmd, in_data=None, sudoable=True):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        self._connect()
        return self._run(cmd, in_data=in_data)

    def _host_exec(self, command):
        """A shell command on the physical host (over SSH), failing loudly."""
        rc, _out, err = self._ssh.exec_command(command, sudoable=False)
        if rc != 0:
            raise AnsibleError('%s on %s failed: %s' % (command, self._where(), to_text(err).strip()))

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        self._connect()
        display.vvv('PUT %s TO %s' % (in_path, out_path), host=self.container)
        b_in_path = to_bytes(in_path, errors='surrogate_or_strict')
        if not os.path.exists(b_in_path):
            raise AnsibleFileNotFound('file or module does not exist: %s' % in_path)
        command = 'cat > %s' % shlex.quote(out_path)
        if not self._local and os.path.getsize(b_in_path) >= LARGE_FILE:
            staged = '%s/%s' % (HOST_XFER_DIR, uuid.uuid4().hex)
            self._host_exec('umask 077 && mkdir -p %s' % HOST_XFER_DIR)
            try:
                self._ssh.put_file(in_path, staged)
                rc, _out, err = self._run(command, host_redirect=' < %s' % shlex.quote(staged))
            finally:
                self._host_exec('rm -f %s' % shlex.quote(staged))
        else:
            with open(b_in_path, 'rb') as src:
                rc, _out, err = self._run(command, stdin_file=src)
        if rc != 0:
            raise AnsibleError('failed to transfer %s to %s in container %s: %s'
                               % (in_path, out_path, self.container, to_text(err).strip()))

    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        self._connect()
        display.vvv('FETCH %s TO %s' % (in_path, out_path), host=self.container)
        command = 'cat %s' % shlex.quote(in_path)
        if self._local:
            with open(to_bytes(out_path, errors='surrogate_or_strict'), 'wb') as dest:
                rc, _out, err = self._run(command, stdout_file=dest)
        else:
            staged = '%s/%s' % (HOST_XFER_DIR, uuid.uuid4().hex)
            self._host_exec('umask 077 && mkdir -p %s' % HOST_XFER_DIR)
            try:
                rc, _out, err = self._run(command, host_redirect=' > %s' % shlex.quote(staged))
                if rc == 0:
                    self._ssh.fetch_file(staged, out_path)
            finally:
                self._host_exec('rm -f %s' % shlex.quote(staged))
        if rc != 0:
            raise AnsibleError('failed to fetch %s from container %s: %s'
                               % (in_path, self.container, to_text(err).strip()))

    def reset(self):
        if self._ssh is not None:
            self._ssh.reset()

    def close(self):
        if self._ssh is not None:
            self._ssh.close()
        self._connected = False
