#!/usr/bin/python
# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lxc_container
short_description: Manage an LXC system container from data, with copy-on-write clones
version_added: 0.1.0
description:
  - Creates a container as a clone of a stopped base container (copy-on-write snapshot on overlayfs or btrfs,
    full copy with C(dir)), writes its whole configuration from data, starts, stops or destroys it.
  - The rendered configuration file is the whole truth. The module writes C(/var/lib/lxc/<name>/config) as the
    identity lines LXC wrote at clone time (C(lxc.rootfs.path), C(lxc.uts.name), C(lxc.arch)) followed by the
    items of O(config), in order. Any other line (drift, manual edits, comments) is removed.
  - "Restart policy: when the configuration of a running container changes and the change only adds or changes
    cgroup limits (C(lxc.cgroup.*) or C(lxc.cgroup2.*) keys other than C(devices.*)), the new limits are applied
    live with C(set_cgroup_item) and the container keeps running. Any other change needs a restart, done only when
    O(restart_on_change=true); otherwise the module returns RV(restart_required=true) and leaves it running.
    The deferred restart is remembered (file C(lxstack_restart_required) in the container directory) until the
    container stops, so later runs keep reporting it and a later run with O(restart_on_change=true) restarts it."
  - Creating is all or nothing. If a step after the clone fails (writing the config, starting, waiting for
    systemd), the new container is destroyed and the module fails naming the container and the step.
  - Runs on the LXC host and needs python3-lxc, which Debian ships for C(/usr/bin/python3) only; set
    C(ansible_python_interpreter=/usr/bin/python3) for the LXC host.
author:
  - lxstack contributors (@lxstack)
requirements:
  - python3-lxc (C(import lxc)) on the LXC host
  - lxc-attach (package lxc) on the LXC host when O(wait_for=systemd)
attributes:
  check_mode:
    support: full
    description: Reports what would change (creation, config text, state, restart) and changes nothing.
  diff_mode:
    support: full
    description: Before and after of the config text and of the run state.
options:
  name:
    description: Name of the container (at most 63 characters, a valid host name).
    type: str
    required: true
  state:
    description:
      - V(started) creates if needed, applies the config and makes sure it runs.
      - V(stopped) creates if needed, applies the config and makes sure it is stopped.
      - V(present) creates if needed (left stopped) and applies the config; a running container stays running.
      - V(absent) stops and destroys it. A container whose rootfs is the lower layer of overlayfs clones is
        never destroyed (the module fails and lists the clones), so the clones are not corrupted.
    type: str
    choices: [started, stopped, present, absent]
    default: started
  base:
    description:
      - Name of the stopped base container to clone from when the container does not exist yet.
      - Required to create; ignored for an existing container.
    type: str
  backing_store:
    description:
      - How the clone stores its rootfs. V(overlayfs) and V(btrfs) make a copy-on-write snapshot of the base
        (btrfs needs the base on a btrfs subvolume). If that clone fails, the module falls back to V(dir), a full
        copy, and returns the store used in RV(backing_store).
      - Only used when creating.
    type: str
    choices: [overlayfs, btrfs, dir]
    default: overlayfs
  config:
    description:
      - The managed configuration items, in order. Each item is a dict with C(key) and C(value) or a two-element
        list C([key, value]). Keys may repeat (C(lxc.mount.entry), C(lxc.include)).
      - The identity keys C(lxc.rootfs.path), C(lxc.uts.name) and C(lxc.arch) are kept from the clone and may not be
        given here.
      - Nothing of the base's config survives except the identity keys, so give the includes too, for example
        C(lxc.include = /usr/share/lxc/config/debian.common.conf).
      - Boolean values become C(0)/C(1); other values are written as strings.
    type: list
    elements: raw
    default: []
  restart_on_change:
    description:
      - Restart a running container when its config changed in a way that cannot be applied live.
      - When V(false), the container is left running and RV(restart_required) is V(true).
    type: bool
    default: true
  wait_for:
    description:
      - V(systemd) waits after every start until C(systemctl is-system-running) inside the container answers
        C(running) or C(degraded), and also checks that on a running container.
      - V(none) returns once LXC reports the container RUNNING.
    type: str
    choices: [systemd, none]
    default: systemd
  timeout:
    description: Seconds to wait for the container to start and for systemd to be running.
    type: int
    default: 120
  stop_timeout:
    description: Seconds a clean shutdown may take before the container is killed.
    type: int
    default: 30
  lxc_path:
    description: The LXC path holding the containers.
    type: path
    default: /var/lib/lxc
seealso:
  - name: lxc.container.conf(5)
    description: The LXC container configuration keys.
    link: https://linuxcontainers.org/lxc/manpages/man5/lxc.container.conf.5.html
"""

EXAMPLES = r"""
- name: Keystone container cloned from the base, on the management bridge, limited
  lxstack.openstack.lxc_container:
    name: infra1-keystone
    base: lxstack-base-trixie
    config:
      - {key: lxc.include, value: /usr/share/lxc/config/debian.common.conf}
      - {key: lxc.net.0.type, value: veth}
      - {key: lxc.net.0.link, value: br-mgmt}
      - {key: lxc.net.0.name, value: eth1}
      - {key: lxc.net.0.hwaddr, value: "02:00:0a:00:00:11"}
      - {key: lxc.net.0.ipv4.address, value: 10.0.0.17/24}
      - {key: lxc.net.0.flags, value: up}
      - {key: lxc.mount.entry, value: "/var/log/lxstack/infra1-keystone var/log/keystone none bind,create=dir 0 0"}
      - {key: lxc.cgroup2.memory.max, value: 2G}
      - {key: lxc.start.auto, value: true}

- name: Same, pairs form, never restart (upgrade flow)
  lxstack.openstack.lxc_container:
    name: infra1-keystone
    config:
      - [lxc.include, /usr/share/lxc/config/debian.common.conf]
      - [lxc.net.0.type, empty]
    restart_on_change: false
  register: _ct

- name: Stop a container
  lxstack.openstack.lxc_container:
    name: infra1-keystone
    state: stopped

- name: Remove a container
  lxstack.openstack.lxc_container:
    name: infra1-keystone
    state: absent
"""

RETURN = r"""
name:
  description: The container name.
  returned: always
  type: str
  sample: infra1-keystone
state:
  description: The run state after the task (what it would be in check mode).
  returned: always
  type: str
  sample: started
backing_store:
  description: The backing store of the rootfs (C(overlayfs), C(btrfs) or C(dir)); null when absent.
  returned: always
  type: str
  sample: overlayfs
config:
  description: The managed config items (without the identity keys), as C(key)/C(value) dicts.
  returned: always
  type: list
  elements: dict
  sample: [{key: lxc.net.0.type, value: veth}]
config_file:
  description: Path of the config file.
  returned: always
  type: str
  sample: /var/lib/lxc/infra1-keystone/config
restart_required:
  description: The container runs with an older config (changed by this or an earlier run) and
    O(restart_on_change=false) forbade the restart that applies it.
  returned: always
  type: bool
  sample: false
restarted:
  description: The container was (or in check mode would be) restarted to apply a config change.
  returned: always
  type: bool
  sample: false
applied_live:
  description: Cgroup limits applied to the running container without a restart (C(controller.key = value)).
  returned: always
  type: list
  elements: str
  sample: [memory.limit_in_bytes = 512M]
timings:
  description: Seconds spent cloning (C(clone)), until RUNNING (C(start)) and until systemd was running
    (C(systemd), counted from the start).
  returned: always
  type: dict
  sample: {clone: 0.05, start: 0.4, systemd: 3.9}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lxstack.openstack.plugins.module_utils.lxc_container import (
    ContainerError,
    ContainerManager,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            state=dict(type='str', default='started', choices=['started', 'stopped', 'present', 'absent']),
            base=dict(type='str'),
            backing_store=dict(type='str', default='overlayfs', choices=['overlayfs', 'btrfs', 'dir']),
            config=dict(type='list', elements='raw', default=[]),
            restart_on_change=dict(type='bool', default=True),
            wait_for=dict(type='str', default='systemd', choices=['systemd', 'none']),
            timeout=dict(type='int', default=120),
            stop_timeout=dict(type='int', default=30),
            lxc_path=dict(type='path', default='/var/lib/lxc'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        manager = ContainerManager(params['name'], check=module.check_mode, lxcpath=params['lxc_path'])
        result = manager.ensure(
            params['state'], base=params['base'], backing_store=params['backing_store'], config=params['config'],
            restart_on_change=params['restart_on_change'], wait_for=params['wait_for'], timeout=params['timeout'],
            stop_timeout=params['stop_timeout'])
    except ContainerError as exc:
        module.fail_json(msg=str(exc), name=params['name'])
    result['changed'] = manager.changed
    result['timings'] = manager.timings
    if module._diff:
        before, after = manager.diff_before, manager.diff_after
        result['diff'] = [
            {'before_header': result['config_file'], 'after_header': result['config_file'],
             'before': before['config'], 'after': after['config']},
            {'before_header': 'state', 'after_header': 'state',
             'before': f"state: {before['state']}\n", 'after': f"state: {after['state']}\n"},
        ]
    module.exit_json(**result)


if __name__ == '__main__':
    main()
