# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-test host selection: ``@pytest.mark.testinfra_hosts("ansible://<group>")``.

pytest-testinfra only reads a module-level ``testinfra_hosts`` list (a test without one runs on the
local machine). The marker sets that list for the one test being parametrized, before testinfra's
own ``pytest_generate_tests`` reads it, so one module can check several inventory groups.
"""

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "testinfra_hosts(*hosts): testinfra host specs of this test")


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc):
    module = metafunc.module
    # the module's own list, kept before a marker replaces it: a test without a marker after one
    # with a marker gets the module's hosts, not the previous test's
    if "_testinfra_hosts_module" not in vars(module):
        module._testinfra_hosts_module = getattr(module, "testinfra_hosts", None)
    marker = metafunc.definition.get_closest_marker("testinfra_hosts")
    hosts = list(marker.args) if marker is not None else module._testinfra_hosts_module
    if hosts is not None:
        module.testinfra_hosts = hosts
    elif hasattr(module, "testinfra_hosts"):
        del module.testinfra_hosts
