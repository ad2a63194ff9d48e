# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-test host selection: ``@pytest.mark.testinfra_hosts("ansible://<group>")``, with ``one=True``
for the first host of the group only (an API check that any member of the group can run as well).

pytest-testinfra only reads a module-level ``testinfra_hosts`` list (a test without one runs on the
local machine). The marker sets that list for the one test being parametrized, before testinfra's
own ``pytest_generate_tests`` reads it, so one module can check several inventory groups.
"""

import os
import shlex

import pytest
import testinfra
from ansible_collections.lxstack.openstack.plugins.module_utils.lxc_container import ATTACH_ENV
from inventory_vars import plain
from testinfra.backend.ansible import AnsibleBackend
from testinfra.utils.ansible_runner import AnsibleRunner, get_ansible_config


def pytest_configure(config):
    config.addinivalue_line("markers", "testinfra_hosts(*hosts, one=False): testinfra host specs of this test")


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc):
    module = metafunc.module
    # the module's own list, kept before a marker replaces it: a test without a marker after one
    # with a marker gets the module's hosts, not the previous test's
    if "_testinfra_hosts_module" not in vars(module):
        module._testinfra_hosts_module = getattr(module, "testinfra_hosts", None)
    marker = metafunc.definition.get_closest_marker("testinfra_hosts")
    hosts = list(marker.args) if marker is not None else module._testinfra_hosts_module
    if marker is not None and marker.kwargs.get("one"):
        runner = AnsibleRunner.get_runner(metafunc.config.option.ansible_inventory)
        hosts = ["ansible://%s" % runner.get_hosts(spec.split("://", 1)[1])[0] for spec in hosts]
    if hosts is not None:
        module.testinfra_hosts = hosts
    elif hasattr(module, "testinfra_hosts"):
        del module.testinfra_hosts


# ---------------------------------------------------------------- commands in containers, fast
#
# testinfra's ansible backend runs a connection plugin it does not know (lxstack.openstack.lxc_attach)
# through the `ansible` command: one process per command, which parses the topology and opens the
# connection again (2 to 5 s each; most of the verify time). A container's command runs here the way
# that plugin runs it: `lxc-attach -n <container> --clear-env --set-var ... -- /bin/sh -c <command>`
# on its physical host, over one multiplexed SSH connection per host, from the plugin's own
# per-container variables. host.ansible(...) still goes through Ansible and the plugin.

_PHYSICAL = {}


def _physical_host(variables):
    """The testinfra SSH host of a container's physical host (one per address, kept)."""
    address = variables["physical_host_address"]
    if address not in _PHYSICAL:
        control = os.path.join(os.path.expanduser("~/.ansible/cp"), "testinfra-%%C")
        os.makedirs(os.path.dirname(control), exist_ok=True)
        _PHYSICAL[address] = testinfra.get_host(
            "ssh://%s@%s:%s" % (variables.get("physical_host_user", "root"), address,
                                variables.get("physical_host_port", 22)),
            ssh_identity_file=variables.get("physical_host_private_key_file")
            or get_ansible_config().get("defaults", "private_key_file", fallback=None),
            ssh_extra_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
            controlpath=control, controlpersist=300)
    return _PHYSICAL[address]


def _run(self, command, *args, **kwargs):
    variables = plain(self.ansible_runner.get_variables(self.host))
    if (self.force_ansible or variables.get("ansible_connection") != "lxstack.openstack.lxc_attach"
            or variables.get("physical_host_connection", "ssh") != "ssh"):
        return _ansible_run(self, command, *args, **kwargs)
    command = self.get_command(command, *args)
    argv = ["lxc-attach", "-n", variables.get("container_name", self.host), "--clear-env"]
    for var in ATTACH_ENV:
        argv += ["--set-var", var]
    out = _physical_host(variables).run(shlex.join([*argv, "--", "/bin/sh", "-c", command]))
    return self.result(out.rc, self.encode(command), out.stdout_bytes, out.stderr_bytes)


_ansible_run = AnsibleBackend.run
AnsibleBackend.run = _run
