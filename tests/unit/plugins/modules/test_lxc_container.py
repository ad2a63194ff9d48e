# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Data-driven tests of the pure parts of module_utils/lxc_container.py (no LXC needed)."""

from __future__ import annotations

import pathlib
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / 'collections'))

from ansible_collections.lxstack.openstack.plugins.module_utils import lxc_container as lc  # noqa: E402

CASES = yaml.safe_load((pathlib.Path(__file__).with_suffix('.yaml')).read_text())


def _pairs(items):
    return [tuple(i) for i in items]


@pytest.mark.parametrize('case', CASES['normalize'], ids=lambda c: c['id'])
def test_normalize(case):
    if 'error' in case:
        with pytest.raises(lc.ContainerError, match=case['error']):
            lc.normalize_config(case['config'])
    else:
        assert lc.normalize_config(case['config']) == _pairs(case['expect'])


@pytest.mark.parametrize('case', CASES['parse'], ids=lambda c: c['id'])
def test_parse(case):
    assert lc.parse_config(case['text']) == _pairs(case['expect'])


@pytest.mark.parametrize('case', CASES['reconcile'], ids=lambda c: c['id'])
def test_reconcile(case):
    existing = lc.parse_config(case['existing'])
    identity = lc.identity_items(existing)
    old = [i for i in existing if i[0] not in lc.IDENTITY_KEYS]
    new = lc.normalize_config(case['config'])
    rendered = lc.render_config(identity, new)
    if 'rendered' in case:
        assert rendered == case['rendered']
    # what the module writes parses back to identity + wanted items: nothing else survives
    assert lc.parse_config(rendered) == identity + new
    assert (rendered != case['existing']) == case.get('text_changed', case['changed'])
    changed, live = lc.classify_change(old, new)
    assert changed == case['changed']
    assert live == (None if case['live'] is None else _pairs(case['live']))


@pytest.mark.parametrize('rootfs,store,lower', CASES['backing_store'])
def test_backing_store(rootfs, store, lower):
    assert lc.backing_store_of(rootfs) == store
    assert lc.overlay_lower_dir(rootfs) == lower


def test_manager_without_lxc_fails_clearly(monkeypatch):
    monkeypatch.setattr(lc, 'HAS_LXC', False)
    with pytest.raises(lc.ContainerError, match='python3-lxc is required'):
        lc.ContainerManager('x')
