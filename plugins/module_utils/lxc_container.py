# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""LXC container management for lxstack.openstack.lxc_container.

Pure helpers (config normalisation, parsing, rendering, change classification)
come first and need no LXC; ``ContainerManager`` drives python3-lxc.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time

try:
    import lxc  # python3-lxc, only importable by Debian's /usr/bin/python3
    HAS_LXC = True
    LXC_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the host
    lxc = None
    HAS_LXC = False
    LXC_IMPORT_ERROR = str(exc)

LXC_PATH = '/var/lib/lxc'
HEADER = '# Managed by lxstack.openstack.lxc_container: manual edits are removed.\n'
# Keys LXC writes at clone time and that belong to the container itself.
IDENTITY_KEYS = ('lxc.rootfs.path', 'lxc.uts.name', 'lxc.arch')
# Left in the container directory while a config change waits for a restart.
PENDING_MARKER = 'lxstack_restart_required'
BACKING_STORES = ('overlayfs', 'btrfs', 'dir')
# Limits that python3-lxc's set_cgroup_item can change in a running container.
_CGROUP_KEY = re.compile(r'^lxc\.cgroup2?\.(?!devices\.)[a-z0-9_]+\.[a-z0-9_.]+$')
ATTACH_ENV = ('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
              'LANG=C.UTF-8', 'HOME=/root')


class ContainerError(Exception):
    """A failure with a message meant for the user."""


# ---------------------------------------------------------------- pure parts

def normalize_config(items):
    """Return ``[(key, value), ...]`` from ``{key, value}`` dicts or ``[key, value]`` pairs."""
    result = []
    for index, item in enumerate(items or []):
        if isinstance(item, dict):
            if set(item) != {'key', 'value'}:
                raise ContainerError('config item %d must have exactly the keys key and value, got %s'
                                     % (index, sorted(item)))
            key, value = item['key'], item['value']
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            key, value = item
        else:
            raise ContainerError('config item %d must be {key, value} or [key, value], got %r' % (index, item))
        key = str(key).strip()
        if isinstance(value, bool):
            value = int(value)
        value = str(value).strip()
        if not key.startswith('lxc.') or any(c in key for c in ' =\n#'):
            raise ContainerError('config item %d: invalid LXC key %r' % (index, key))
        if '\n' in value:
            raise ContainerError('config item %d: value of %s spans lines' % (index, key))
        if key in IDENTITY_KEYS:
            raise ContainerError('config item %d: %s is set by the clone and managed by the module' % (index, key))
        result.append((key, value))
    return result


def parse_config(text):
    """Parse LXC config text into ``[(key, value), ...]`` (comments and blank lines dropped)."""
    items = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith('#') or '=' not in line:
            continue
        key, value = line.split('=', 1)
        items.append((key.strip(), value.strip()))
    return items


def identity_items(items):
    """The identity lines of an existing config, in the order LXC wrote them."""
    return [(k, v) for k, v in items if k in IDENTITY_KEYS]


def render_config(identity, items):
    """The whole config file: header, identity lines, then the managed items."""
    lines = [f'{k} = {v}\n' for k, v in list(identity) + list(items)]
    return HEADER + ''.join(lines)


def is_cgroup_limit(key):
    return bool(_CGROUP_KEY.match(key))


def classify_change(old_items, new_items):
    """Compare managed items.

    Returns ``(changed, live)``: ``live`` is a list of ``(cgroup_key, value)`` that applied with
    set_cgroup_item make the running container match, or None when a restart is needed.
    A change can be applied live when only cgroup limits (not devices) were added or changed,
    and none removed; everything else (network, mounts, includes, removed limits) needs a restart.
    """
    old_items, new_items = list(old_items), list(new_items)
    if old_items == new_items:
        return False, []
    rest_old = [i for i in old_items if not is_cgroup_limit(i[0])]
    rest_new = [i for i in new_items if not is_cgroup_limit(i[0])]
    old_limits = dict(i for i in old_items if is_cgroup_limit(i[0]))
    new_limits = dict(i for i in new_items if is_cgroup_limit(i[0]))
    if rest_old != rest_new or set(old_limits) - set(new_limits):
        return True, None
    live = [(k.split('.', 2)[2], v) for k, v in new_limits.items() if old_limits.get(k) != v]
    return True, live


def backing_store_of(rootfs_path):
    """Backing store from an ``lxc.rootfs.path`` value."""
    prefix = (rootfs_path or '').split(':', 1)[0]
    if prefix in ('overlay', 'overlayfs'):
        return 'overlayfs'
    if prefix == 'btrfs':
        return 'btrfs'
    return 'dir'


def overlay_lower_dir(rootfs_path):
    """The lower (base) rootfs directory of an overlay ``lxc.rootfs.path``, else None."""
    parts = (rootfs_path or '').split(':')
    if backing_store_of(rootfs_path) == 'overlayfs' and len(parts) >= 3:
        return parts[1]
    return None


def items_as_dicts(items):
    return [{'key': k, 'value': v} for k, v in items]


# ------------------------------------------------------------- LXC driver

class ContainerManager:
    """Bring one container to the wanted state. ``check`` means report only."""

    def __init__(self, name, check=False, lxcpath=LXC_PATH):
        if not HAS_LXC:
            raise ContainerError(f'python3-lxc is required: cannot import lxc ({LXC_IMPORT_ERROR}). '
                                 'Install python3-lxc and run the module with '
                                 'ansible_python_interpreter=/usr/bin/python3.')
        self.name = name
        self.check = check
        self.lxcpath = lxcpath
        self.changed = False
        self.timings = {}
        self.diff_before = {'state': 'absent', 'config': ''}
        self.diff_after = {}
        self.identity = []

    # -- helpers
    def container(self, name=None):
        name = name or self.name
        try:
            return lxc.Container(name, self.lxcpath)
        except Exception as exc:  # liblxc refuses to even open a container with a broken config
            raise ContainerError(f'{self.lxcpath}/{name} exists but LXC cannot load it as a container ({exc}); '
                                 'repair or remove it by hand') from exc

    def config_file(self, name=None):
        return os.path.join(self.lxcpath, name or self.name, 'config')

    def read_config(self, name=None):
        try:
            with open(self.config_file(name)) as handle:
                return handle.read()
        except FileNotFoundError:
            return ''

    @staticmethod
    def run_state(ct):
        if not ct.defined:
            return 'absent'
        return 'started' if ct.running else 'stopped'

    def write_config(self, text):
        path = self.config_file()
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.config.')
        try:
            with os.fdopen(fd, 'w') as handle:
                handle.write(text)
            os.chmod(tmp, 0o640)
            os.rename(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def dependents(self):
        """Containers whose overlay rootfs uses this container's rootfs as lower dir."""
        own_rootfs = os.path.join(self.lxcpath, self.name, 'rootfs')
        found = []
        for other in lxc.list_containers(config_path=self.lxcpath):
            if other == self.name:
                continue
            for key, value in parse_config(self.read_config(other)):
                if key == 'lxc.rootfs.path' and overlay_lower_dir(value) == own_rootfs:
                    found.append(other)
        return sorted(found)

    # -- actions
    def check_base(self, base):
        src = self.container(base)
        if not src.defined:
            raise ContainerError(f'cannot create {self.name}: base container {base} does not exist in {self.lxcpath}')
        if src.running:
            raise ContainerError(f'cannot create {self.name}: base container {base} is running; a base must be '
                                 'stopped to be cloned')
        return src

    def clone(self, base, backing_store):
        """Clone ``base``; copy-on-write when possible, else full copy. Returns the store used."""
        src = self.check_base(base)
        attempts = [backing_store] + (['dir'] if backing_store != 'dir' else [])
        errors = []
        for store in attempts:
            flags = lxc.LXC_CLONE_SNAPSHOT if store in ('overlayfs', 'btrfs') else 0
            started = time.monotonic()
            new = src.clone(self.name, config_path=self.lxcpath, flags=flags, bdevtype=store)
            if new:
                self.timings['clone'] = round(time.monotonic() - started, 3)
                return store
            errors.append(store)
            self.cleanup()
        raise ContainerError(f'cloning {self.name} from {base} failed with backing store(s) '
                             f'{", ".join(errors)}; see the LXC log')

    def cleanup(self):
        """Remove a half-created container, through LXC so the base forgets its clone."""
        path = os.path.join(self.lxcpath, self.name)
        try:
            ct = self.container()
        except ContainerError:
            ct = None
        if (ct is None or not ct.defined) and self.identity and os.path.isdir(path):
            self.write_config(render_config(self.identity, []))  # a config LXC can load again
            ct = self.container()
        if ct is not None and ct.defined:
            if ct.running:
                ct.stop()
            ct.destroy()
        if os.path.isdir(path):
            shutil.rmtree(path)

    def validate(self, items):
        """Fail naming the item LXC does not accept, before anything is written."""
        with tempfile.TemporaryDirectory(prefix='lxstack-validate.') as tmp:
            path = os.path.join(tmp, 'config')
            with open(path, 'w') as handle:
                handle.write(render_config([], items))
            if lxc.Container('probe', tmp).load_config(path):
                return
            probe = lxc.Container('probe', tmp)
            for key, value in items:
                if key == 'lxc.include':  # not settable item by item
                    valid = os.path.exists(value)
                else:
                    try:
                        valid = probe.set_config_item(key, value)
                    except (KeyError, ValueError):
                        valid = False
                if not valid:
                    raise ContainerError(f'container {self.name}: LXC rejects config item {key} = {value}')
        raise ContainerError(f'container {self.name}: LXC rejects the config; see the LXC log')

    def pending_marker(self):
        return os.path.join(self.lxcpath, self.name, PENDING_MARKER)

    def stop(self, ct, timeout):
        if not ct.shutdown(timeout):
            ct.stop()
        if not ct.wait('STOPPED', 10):
            raise ContainerError(f'container {self.name} did not stop')
        if os.path.exists(self.pending_marker()):
            os.unlink(self.pending_marker())

    def start(self, ct, wait_for, timeout):
        started = time.monotonic()
        # lxc-start, not ct.start(): with python3-lxc on LXC 6.0 (Debian 13) the container's init
        # inherited a garbage personality, and systemd units with LockPersonality= then failed.
        proc = subprocess.run(['lxc-start', '-n', self.name, '-P', self.lxcpath],
                              capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            why = proc.stderr.strip() or proc.stdout.strip()
            raise ContainerError(f'container {self.name} failed to start: {why}; '
                                 f'see `lxc-start -n {self.name} -F -l DEBUG`')
        if not ct.wait('RUNNING', timeout):
            raise ContainerError(f'container {self.name} did not reach RUNNING within {timeout}s')
        self.timings['start'] = round(time.monotonic() - started, 3)
        if wait_for == 'systemd':
            self.wait_systemd(timeout)
            self.timings['systemd'] = round(time.monotonic() - started, 3)

    def attach(self, argv, timeout=30):
        cmd = ['lxc-attach', '-n', self.name, '-P', self.lxcpath, '--clear-env']
        for var in ATTACH_ENV:
            cmd += ['--set-var', var]
        proc = subprocess.run([*cmd, '--', *argv], capture_output=True, text=True, timeout=timeout, check=False)
        return proc.returncode, proc.stdout.strip(), proc.stderr.strip()

    def wait_systemd(self, timeout):
        deadline = time.monotonic() + timeout
        last = ''
        while True:
            try:
                _rc, out, err = self.attach(['systemctl', 'is-system-running'], timeout=15)
                last = out or err
                if out in ('running', 'degraded'):
                    return out
            except subprocess.TimeoutExpired:
                last = 'systemctl timed out'
            if time.monotonic() > deadline:
                raise ContainerError(f'container {self.name}: systemd did not reach running/degraded within '
                                     f'{timeout}s (last answer: {last or "none"})')
            time.sleep(0.5)

    # -- the state machine
    def ensure(self, state, base=None, backing_store='overlayfs', config=(), restart_on_change=True,
               wait_for='systemd', timeout=120, stop_timeout=30):
        items = normalize_config(config)
        if state != 'absent':
            self.validate(items)
        ct = self.container()
        before_state = self.run_state(ct)
        before_text = self.read_config() if ct.defined else ''
        self.diff_before = {'state': before_state, 'config': before_text}
        result = {'name': self.name, 'restart_required': False, 'restarted': False, 'applied_live': [],
                  'config': items_as_dicts(items), 'config_file': self.config_file()}

        if state == 'absent':
            if ct.defined:
                deps = self.dependents()
                if deps:
                    raise ContainerError(f'refusing to destroy {self.name}: overlayfs clones depend on its '
                                         f'rootfs: {", ".join(deps)}')
                self.changed = True
                if not self.check:
                    if ct.running:
                        self.stop(ct, stop_timeout)
                    if not ct.destroy():
                        raise ContainerError(f'destroying {self.name} failed; see the LXC log')
            self.diff_after = {'state': 'absent', 'config': ''}
            result.update(state='absent', backing_store=None, config=[])
            return result

        created = False
        if not ct.defined:
            if not base:
                raise ContainerError(f'container {self.name} does not exist and no base was given to clone it from')
            if os.path.exists(os.path.join(self.lxcpath, self.name)):
                raise ContainerError(f'{self.lxcpath}/{self.name} exists but LXC cannot load it as a container '
                                     '(broken config); repair or remove it by hand')
            self.check_base(base)
            self.changed = created = True
            if self.check:
                store = backing_store
                base_items = parse_config(self.read_config(base))
                identity = [('lxc.rootfs.path', f'(set by the {store} clone of {base})'),
                            ('lxc.uts.name', self.name)] + [i for i in base_items if i[0] == 'lxc.arch']
            else:
                store = self.clone(base, backing_store)
                ct = self.container()
                identity = self.identity = identity_items(parse_config(self.read_config()))
            old_items = []
        else:
            existing = parse_config(before_text)
            identity = identity_items(existing)
            old_items = [i for i in existing if i[0] not in IDENTITY_KEYS]
            store = backing_store_of(dict(identity).get('lxc.rootfs.path'))

        new_text = render_config(identity, items)
        config_changed = new_text != before_text
        try:
            if config_changed:
                self.changed = True
                if not self.check:
                    self.write_config(new_text)
                    ct = self.container()
            self._apply_state(ct, state, created, old_items, items, config_changed, result,
                              restart_on_change, wait_for, timeout, stop_timeout)
        except BaseException:
            if created and not self.check:
                self.cleanup()
            raise

        self.diff_after = {'state': result['state'], 'config': new_text}
        result['backing_store'] = store
        return result

    def _apply_state(self, ct, state, created, old_items, items, config_changed, result,
                     restart_on_change, wait_for, timeout, stop_timeout):
        running = ct.running if ct.defined else False
        if not running and not self.check and os.path.exists(self.pending_marker()):
            os.unlink(self.pending_marker())  # stopped meanwhile: the next start reads the config
        if state == 'present':
            state = 'started' if running else 'stopped'
        if state == 'stopped':
            if running:
                self.changed = True
                if not self.check:
                    self.stop(ct, stop_timeout)
            result['state'] = 'stopped'
            return
        # started
        result['state'] = 'started'
        if not running:
            self.changed = True
            if not self.check:
                self.start(ct, wait_for, timeout)
            return
        pending = os.path.exists(self.pending_marker())  # a restart deferred by an earlier run
        if not pending and (not config_changed or created):
            if not self.check and wait_for == 'systemd':
                self.wait_systemd(timeout)
            return
        if not pending:
            _changed, live = classify_change(old_items, items)
            if live is not None:
                # cgroup limits only: apply to the running container, no restart
                if not self.check:
                    for key, value in live:
                        if not ct.set_cgroup_item(key, value):
                            live = None
                            break
                if live is not None:
                    result['applied_live'] = [f'{k} = {v}' for k, v in live]
                    return
        if not restart_on_change:
            # remembered until the container restarts, so later runs still report it
            result['restart_required'] = True
            if not self.check and not pending:
                with open(self.pending_marker(), 'w') as handle:
                    handle.write('config changed while running; restart to apply\n')
            return
        self.changed = True
        result['restarted'] = True
        if not self.check:
            self.stop(ct, stop_timeout)
            self.start(self.container(), wait_for, timeout)
