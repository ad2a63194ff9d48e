# Copyright (c) lxstack contributors
# Apache License 2.0 (see LICENSE)
"""Make `ansible_collections.lxstack.openstack` importable from the checkout."""

import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]
os.environ.setdefault("ANSIBLE_CONFIG", str(REPO / "ansible.cfg"))

from ansible.plugins.loader import init_plugin_loader  # noqa: E402

init_plugin_loader([str(REPO / "collections")])
