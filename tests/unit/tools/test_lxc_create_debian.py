# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""tests/lxc-create-debian: fails loudly where the debian template fails quietly (no LXC needed).

The script runs with a PATH of stand-ins: a fake lxc-create that writes a rootfs whose dpkg database
holds the packages named in $FAKE_INSTALLED (what apt inside would have managed to install), and links
to the few real tools the script uses. debian-distro-info and the template are present or not per case.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / 'lxc-create-debian'
REAL_TOOLS = ('bash', 'awk', 'grep', 'tr', 'dpkg-query', 'rm', 'mkdir', 'chmod', 'touch')

FAKE_LXC_CREATE = r'''#!/bin/bash
# fake lxc-create -n NAME -t debian -- ...: a rootfs with apt-get and a dpkg database of $FAKE_INSTALLED
echo "lxc-create $*" >> "$FAKE_LOG"
[ -z "$FAKE_CREATE_FAILS" ] || exit 1
root=$FAKE_LXCPATH/$2/rootfs
mkdir -p "$root/usr/bin" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info" "$root/etc/apt"
: > "$root/usr/bin/apt-get"; chmod +x "$root/usr/bin/apt-get"
printf '%s\n' "${FAKE_SOURCES:-deb http://deb.debian.org/debian trixie main}" > "$root/etc/apt/sources.list"
for p in $FAKE_INSTALLED; do
  printf 'Package: %s\nStatus: install ok installed\nVersion: 1\nArchitecture: all\nMaintainer: x\nDescription: x\n\n' \
    "$p" >> "$root/var/lib/dpkg/status"
done
touch "$root/var/lib/dpkg/status"
'''


@pytest.fixture
def env(tmp_path):
    """The environment of one run: a PATH of fakes and real tools, an LXC path, a log of calls."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for tool in REAL_TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    scripts = {
        'lxc-create': FAKE_LXC_CREATE,
        'lxc-config': '#!/bin/bash\necho "$FAKE_LXCPATH"\n',
        'lxc-destroy': '#!/bin/bash\necho "lxc-destroy $*" >> "$FAKE_LOG"; rm -rf "${FAKE_LXCPATH:?}/$2"\n',
        'debian-distro-info': '#!/bin/bash\necho 13\n',
    }
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    templates = tmp_path / 'templates'
    templates.mkdir()
    (templates / 'lxc-debian').write_text('')
    (tmp_path / 'lxc').mkdir()
    return {'PATH': str(bin_dir), 'LXC_TEMPLATE_DIR': str(templates), 'FAKE_LXCPATH': str(tmp_path / 'lxc'),
            'FAKE_LOG': str(tmp_path / 'calls.log'), 'FAKE_INSTALLED': '', 'FAKE_CREATE_FAILS': ''}


def run(env, *args, **overrides):
    proc = subprocess.run([str(SCRIPT), *args], env=dict(env, **overrides), capture_output=True, text=True,
                          check=False)
    log = pathlib.Path(env['FAKE_LOG'])
    return proc, log.read_text() if log.exists() else ''


def test_all_packages_installed(env):
    proc, calls = run(env, 'ct1', '-r', 'trixie', '--packages=python3,python3-apt',
                      FAKE_INSTALLED='python3 python3-apt')
    assert proc.returncode == 0, proc.stderr
    assert calls == 'lxc-create -n ct1 -t debian -- -r trixie --packages=python3,python3-apt\n'
    assert (pathlib.Path(env['FAKE_LXCPATH']) / 'ct1' / 'rootfs').is_dir()


def test_no_packages_asked(env):
    proc, _calls = run(env, 'ct1', '-r', 'bookworm')
    assert proc.returncode == 0, proc.stderr


def test_packages_missing_after_a_zero_exit_fails_and_removes_the_container(env):
    """What apt inside does on a 404 of the security suite or an unreachable mirror: lxc-create exits 0."""
    proc, calls = run(env, 'ct1', '-r', 'trixie', '--packages=python3,python3-apt', FAKE_INSTALLED='python3-apt')
    assert proc.returncode == 1
    assert 'ct1: lxc-create exited 0 but apt inside did not install: python3.' in proc.stderr
    assert 'Likely cause: the mirror or the security mirror is unreachable' in proc.stderr
    assert 'deb http://deb.debian.org/debian trixie main' in proc.stderr
    assert calls.splitlines()[-1] == 'lxc-destroy -n ct1'
    assert not (pathlib.Path(env['FAKE_LXCPATH']) / 'ct1').exists()


def test_a_security_suite_of_the_old_form_is_named_as_the_cause(env):
    """What the template writes when debian-distro-info does not know the release."""
    sources = ('deb http://deb.debian.org/debian trixie main\n'
               'deb http://security.debian.org/debian-security trixie/updates main')
    proc, _calls = run(env, 'ct1', '-r', 'trixie', '--packages=python3', FAKE_SOURCES=sources)
    assert proc.returncode == 1
    assert 'Likely cause: the security suite has the pre-Debian-11 form <release>/updates' in proc.stderr
    assert 'debian-security trixie/updates main;' in proc.stderr


def test_without_distro_info_nothing_is_created(env):
    os.unlink(pathlib.Path(env['PATH']) / 'debian-distro-info')
    proc, calls = run(env, 'ct1', '-r', 'trixie', '--packages=python3', FAKE_INSTALLED='python3')
    assert proc.returncode == 1
    assert 'debian-distro-info is missing: install distro-info' in proc.stderr
    assert 'trixie/updates' in proc.stderr
    assert calls == ''


def test_without_the_template_nothing_is_created(env):
    os.unlink(pathlib.Path(env['LXC_TEMPLATE_DIR']) / 'lxc-debian')
    proc, calls = run(env, 'ct1', '-r', 'trixie')
    assert proc.returncode == 1
    assert 'install lxc-templates' in proc.stderr
    assert calls == ''


def test_a_failing_lxc_create_fails(env):
    proc, _calls = run(env, 'ct1', '-r', 'trixie', FAKE_CREATE_FAILS='1')
    assert proc.returncode == 1
    assert 'lxc-create -n ct1 -t debian failed' in proc.stderr


@pytest.mark.parametrize('args', [(), ('-r', 'trixie'), ('',)])
def test_usage(env, args):
    proc, calls = run(env, *args)
    assert proc.returncode == 1
    assert 'usage: tests/lxc-create-debian NAME' in proc.stderr
    assert calls == ''
