# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The smoke-test guest image (roles/guest_image): built through the role by a playbook
(tests/guest_image/build.yml), run a second time (changed=0, the same file), then booted the way nova
boots it with libvirt - QEMU under TCG (no KVM), SeaBIOS, a virtio disk and a virtio NIC - on QEMU's
user network, whose DHCP gives the guest its address and which passes its connections to
169.254.169.254:80 to a fake metadata service (fake_metadata.py, one process per connection) serving
a random uuid and hostname. The console must show the marker line with them within BOOT_TIMEOUT, and
port 80 of the guest must answer that line. Without any metadata service (restrict=on), a copy of the
image whose kernel command line shortens the guest's wait (lxstack.timeout) must show the failure
marker instead.

The image is kept in the role's default cache (~/.cache/lxstack/images) so that later runs, and the
deployment's healthcheck, reuse it; LXSTACK_GUEST_IMAGE_CACHE_DIR points the test elsewhere.

Run: .venv/bin/python -m pytest tests/guest_image   (make guest-image; part of make test)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
BIN = pathlib.Path(sys.executable).parent
DEFAULTS = yaml.safe_load((REPO / 'roles' / 'guest_image' / 'defaults' / 'main.yml').read_text())
BOOT_TIMEOUT = 90
MEMORY_MB = 128
SIZE_MAX = 30 * 1024 * 1024
MARKER = re.compile(r'^lxstack-guest: (ok|failed)\b(.*)$', re.M)


def _play(out, *extra):
    """Run build.yml; (what the role returned, changed count of the recap, output)."""
    cmd = [str(BIN / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
           '-e', 'ansible_python_interpreter=%s' % sys.executable, '-e', 'guest_image_test_out=%s' % out, *extra]
    if os.environ.get('LXSTACK_GUEST_IMAGE_CACHE_DIR'):
        cmd += ['-e', 'guest_image_cache_dir=%s' % os.environ['LXSTACK_GUEST_IMAGE_CACHE_DIR']]
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_FORCE_COLOR='0')
    result = subprocess.run([*cmd, str(HERE / 'build.yml')], cwd=REPO, env=env, capture_output=True, text=True,
                            check=False, timeout=900)
    recap = re.search(r'^localhost\s*:\s*ok=\d+\s+changed=(\d+)', result.stdout, re.M)
    returned = json.loads(out.read_text()) if result.returncode == 0 else None
    return returned, int(recap.group(1)) if recap else None, result


@pytest.fixture(scope='module')
def image(tmp_path_factory):
    if not shutil.which('qemu-system-x86_64'):
        pytest.fail('qemu-system-x86_64 is missing: make host-packages installs qemu-system-x86')
    work = tmp_path_factory.mktemp('guest-image')
    started = time.monotonic()
    first, _changed, result = _play(work / 'first.json')
    assert first, 'the first run failed:\n%s\n%s' % (result.stdout[-4000:], result.stderr[-2000:])
    first_seconds = time.monotonic() - started
    path = pathlib.Path(first['path'])
    mtime = path.stat().st_mtime_ns
    started = time.monotonic()
    second, changed, result = _play(work / 'second.json')
    assert second, 'the second run failed:\n%s\n%s' % (result.stdout[-4000:], result.stderr[-2000:])
    print('guest image %s: first run %.1f s (built: %s), second %.1f s'
          % (path, first_seconds, first['changed'], time.monotonic() - started))
    return {'first': first, 'second': second, 'changed': changed, 'mtime': mtime, 'path': path}


def test_second_run_changes_nothing_and_keeps_the_image(image):
    first, second = image['first'], image['second']
    assert image['changed'] == 0
    assert second['changed'] is False
    assert second == dict(first, changed=False)
    assert image['path'].stat().st_mtime_ns == image['mtime']


def test_image_is_what_the_role_returned(image):
    returned, path = image['second'], image['path']
    assert returned['format'] == DEFAULTS['guest_image_format']
    assert path.name == returned['name']
    assert re.fullmatch(r'lxstack-guest-[0-9a-f]{16}\.%s' % returned['format'], returned['name'])
    assert int(returned['size']) == path.stat().st_size
    assert 0 < path.stat().st_size < SIZE_MAX
    assert returned['sha256'] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert any(name.startswith('linux-image-') for name in returned['packages'])
    assert DEFAULTS['guest_image_busybox_package'] in returned['packages']
    # no temporary build directory left beside it
    assert not list(path.parent.glob('.lxstack-guest-*.building'))
    info = json.loads(subprocess.run(['qemu-img', 'info', '--output=json', str(path)], capture_output=True,
                                     text=True, check=True).stdout)
    assert info['format'] == returned['format']


def test_missing_tool_is_named_with_its_package(tmp_path):
    result = _play(tmp_path / 'out.json', '-e', json.dumps(
        {'_guest_image_tools': {'lxstack-no-such-tool': 'lxstack-no-such-package'}}))[2]
    assert result.returncode != 0
    output = ' '.join(result.stdout.split())  # the YAML callback may wrap the message
    assert 'lxstack-no-such-tool (Debian package lxstack-no-such-package)' in output, result.stdout[-3000:]
    assert 'apt-get install --no-install-recommends lxstack-no-such-package' in output


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _qemu(disk, fmt, netdev, console):
    """QEMU as nova's libvirt driver would run the image: TCG, SeaBIOS, virtio disk and NIC, serial console."""
    cmd = ['qemu-system-x86_64', '-accel', 'tcg', '-m', str(MEMORY_MB), '-display', 'none', '-no-reboot',
           '-monitor', 'none', '-serial', 'file:%s' % console,
           '-drive', 'file=%s,if=virtio,format=%s,snapshot=on' % (disk, fmt),
           '-netdev', netdev, '-device', 'virtio-net-pci,netdev=n0']
    with open(console.with_suffix('.qemu.log'), 'w') as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _marker(proc, console):
    """The marker line of the console and the seconds it took, failing after BOOT_TIMEOUT."""
    started = time.monotonic()
    text = ''
    while time.monotonic() - started < BOOT_TIMEOUT:
        text = console.read_text(errors='replace') if console.exists() else ''
        found = MARKER.search(text)
        if found:
            return found, time.monotonic() - started
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    log = console.with_suffix('.qemu.log')
    pytest.fail('no marker line within %d s (qemu %s); console:\n%s\nqemu: %s' % (
        BOOT_TIMEOUT, 'exited %s' % proc.returncode if proc.poll() is not None else 'running',
        text[-3000:], log.read_text()[-1000:] if log.exists() else ''))


def test_boot_reports_address_and_metadata(image, tmp_path):
    instance, hostname = str(uuid.uuid4()), 'lxut-%s' % uuid.uuid4().hex[:8]
    meta_data = tmp_path / 'meta_data.json'
    meta_data.write_text(json.dumps({'uuid': instance, 'hostname': hostname, 'name': hostname,
                                     'availability_zone': 'nova', 'project_id': uuid.uuid4().hex}))
    requests, console, port = tmp_path / 'requests.log', tmp_path / 'console.log', _free_port()
    handler = '%s %s %s %s' % (sys.executable, HERE / 'fake_metadata.py', meta_data, requests)
    netdev = ('user,id=n0,net=169.254.169.0/24,guestfwd=tcp:169.254.169.254:80-cmd:%s,'
              'hostfwd=tcp:127.0.0.1:%d-:80' % (handler, port))
    with _qemu(image['path'], image['second']['format'], netdev, console) as proc:
        found, seconds = _marker(proc, console)
        print('marker after %.1f s: %s' % (seconds, found.group(0)))
        assert found.group(1) == 'ok', found.group(0)
        assert re.fullmatch(r' address=169\.254\.169\.\d+/24 uuid=%s hostname=%s' % (instance, hostname),
                            found.group(2)), found.group(0)
        assert len(MARKER.findall(console.read_text(errors='replace'))) == 1
        # port 80 answers the marker line (a floating IP test reads it there)
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen('http://127.0.0.1:%d/' % port, timeout=5) as response:
                    assert response.read().decode().strip() == found.group(0).strip()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    assert 'GET /openstack/latest/meta_data.json ' in requests.read_text()


def test_boot_without_metadata_reports_failure(image, tmp_path):
    """A raw copy whose syslinux.cfg adds lxstack.timeout=5 (mtools: no mount), on a network without metadata."""
    disk = tmp_path / 'disk.raw'
    subprocess.run(['qemu-img', 'convert', '-O', 'raw', str(image['path']), str(disk)], check=True)
    config = subprocess.run(['mtype', '-i', str(disk), '::syslinux.cfg'], capture_output=True, text=True,
                            check=True).stdout
    assert re.search(r'^\s*APPEND .*console=ttyS0', config, re.M), config
    (tmp_path / 'syslinux.cfg').write_text(re.sub(r'^(\s*APPEND .*)$', r'\1 lxstack.timeout=5', config,
                                                  flags=re.M))
    subprocess.run(['mcopy', '-o', '-i', str(disk), str(tmp_path / 'syslinux.cfg'), '::syslinux.cfg'], check=True)
    console = tmp_path / 'console.log'
    # restrict=on: the guest reaches nothing beyond QEMU's own DHCP, so no metadata service answers
    with _qemu(disk, 'raw', 'user,id=n0,net=169.254.169.0/24,restrict=on', console) as proc:
        found, seconds = _marker(proc, console)
        print('marker after %.1f s: %s' % (seconds, found.group(0)))
    assert found.group(1) == 'failed', found.group(0)
    assert 'no metadata' in found.group(2) and 'within 5s' in found.group(2), found.group(0)
    assert 'address=169.254.169.' in found.group(2), found.group(0)


PROBE = REPO / 'roles' / 'compute_host' / 'files' / 'lxstack-kvm-probe.sh'


def _probe(*args, accel=None):
    env = dict(os.environ)
    env.pop('LXSTACK_KVM_PROBE_ACCEL', None)
    if accel:
        env['LXSTACK_KVM_PROBE_ACCEL'] = accel
    result = subprocess.run(['sh', str(PROBE), *map(str, args)], env=env, capture_output=True, text=True,
                            check=False, timeout=180)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].split(' ', 1)[0] in ('kvm', 'qemu'), result.stdout
    return lines[0]


def test_kvm_probe_sees_the_image_reach_its_userland(image):
    # the compute_host role's probe (roles/compute_host/files/lxstack-kvm-probe.sh) with the same boot
    # under emulation: its detection of a guest that reached its userland, which decides "kvm"
    line = _probe(image['path'], 60, accel='tcg')
    assert line.startswith('kvm the test image reached its userland under tcg in '), line


def test_kvm_probe_answers_qemu_when_kvm_runs_no_guest(image, tmp_path):
    assert _probe(tmp_path / 'missing.img', 5) in (
        'qemu /dev/kvm is absent', 'qemu /dev/kvm cannot be opened',
        'qemu no test image to probe KVM with (%s)' % (tmp_path / 'missing.img'))
    # a disk that boots nothing: under emulation the guest never reaches a userland
    blank = tmp_path / 'blank.img'
    blank.write_bytes(b'\0' * 1024 * 1024)
    assert _probe(blank, 5, accel='tcg') == 'qemu a guest under tcg did not reach its userland in 5s'
    # and this machine's own answer, whatever it is, in the probe's format (here: kvm_pvm runs no guest)
    print('KVM probe on this machine:', _probe(image['path'], 15))
