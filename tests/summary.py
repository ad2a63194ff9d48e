# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How many tests of each tier ran: the table `make test` prints at the end.

Reads what the tiers leave in the results directory (`make test` empties it first):
  lint.log        ruff's and ansible-lint's output (files checked)
  sanity.log      ansible-test sanity's output (one "Running sanity test" line per test)
  <tier>.xml      pytest's JUnit XML: unit, installed, guest-image, lxc, molecule-<scenario> (testinfra)
  molecule-<scenario>.log   molecule's output; a failed scenario's failed tasks are printed again
                  after the table, so the end of a long CI log names the cause
Usage: summary.py RESULTS_DIR TIER...   (tiers as make names them: lint sanity unit installed guest-image lxc
molecule)
Exit status 1 when a tier left no result, or, in CI (CI=true), when a real-LXC or molecule test was
skipped: there every test must run.
"""

from __future__ import annotations

import os
import pathlib
import re
import sys
import xml.etree.ElementTree as ET

# tiers whose tests run against real containers: a skip there means a test did not run
NO_SKIP_TIERS = ('lxc', 'molecule')


def junit_counts(path):
    """(tests, failed, skipped, seconds) of a pytest JUnit XML file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == 'testsuite' else list(root.iter('testsuite'))
    total = {'tests': 0, 'failures': 0, 'errors': 0, 'skipped': 0, 'time': 0.0}
    for suite in suites:
        for key in total:
            total[key] += type(total[key])(suite.get(key, 0))
    return total['tests'], total['failures'] + total['errors'], total['skipped'], round(total['time'], 1)


def shown(value):
    return '-' if value is None else value


def rows(results, tiers):
    """One row per tier run: (name, ran, failed, skipped, seconds, unit); ran None when it left nothing."""
    for tier in tiers:
        if tier == 'lint':
            log = results / 'lint.log'
            text = log.read_text(errors='replace') if log.exists() else ''
            ruff = re.search(r'^ruff: (\d+) files', text, re.M)
            ruff_failed = re.search(r'^Found (\d+) error', text, re.M)
            lint = re.search(r'(\d+) failure\(s\), \d+ warning\(s\) in (\d+) files processed', text)
            yield ('lint: ruff', int(ruff.group(1)) if ruff else None,
                   int(ruff_failed.group(1)) if ruff_failed else 0, None, None, 'files')
            yield ('lint: ansible-lint', int(lint.group(2)) if lint else None,
                   int(lint.group(1)) if lint else 0, None, None, 'files')
        elif tier == 'sanity':
            log = results / 'sanity.log'
            ran = len(re.findall(r'^Running sanity test ', log.read_text(errors='replace'), re.M)) \
                if log.exists() else None
            yield 'sanity', ran or None, None, None, None, 'tests'
        elif tier == 'molecule':
            files = sorted(results.glob('molecule-*.xml'))
            if not files:
                yield 'molecule', None, 0, 0, None, 'tests'
            for path in files:
                yield ('molecule %s (testinfra)' % path.stem.removeprefix('molecule-'),
                       *junit_counts(path), 'tests')
        else:
            path = results / ('%s.xml' % tier)
            yield (tier, *junit_counts(path), 'tests') if path.exists() else (tier, None, 0, 0, None, 'tests')


ANSI = re.compile(r'\x1b\[[0-9;]*m')
FAILED_TASK = re.compile(r'^(fatal|failed): \[|^ERROR! |^FAILED ')
LONGEST = 800


def failed_tasks(text, keep=12):
    """The last `keep` failed tasks of an Ansible/molecule output: (TASK line, failure line) pairs.

    A failure followed by "...ignoring" (ignore_errors) is not one; a rescued one still is, and the
    last entries come first in importance: the run stops at the failure that counted.
    """
    found, task, more = [], '', False
    for raw in text.splitlines():
        line = ANSI.sub('', raw).lstrip(' \u2502').rstrip()
        if line.startswith('TASK ['):
            task, more = line, False
        elif line.startswith('...ignoring') and found:
            found.pop()
            more = False
        elif FAILED_TASK.search(line):
            found.append((task, line))
            more = True
        elif more and line and not line.startswith(('PLAY ', 'ok: [', 'changed: [', 'skipping: [')):
            # the YAML callback puts the result (msg, stderr, ...) on the lines after "FAILED! =>"
            found[-1] = (found[-1][0], found[-1][1] + ' ' + line.strip())
        else:
            more = more and not line
    return [(t, f if len(f) <= LONGEST else f[:LONGEST] + ' [...]') for t, f in found[-keep:]]


def failure_digest(results):
    """Per failed molecule scenario its failed tasks, then every failed test of the tiers."""
    out = []
    for log in sorted(results.glob('molecule-*.log')):
        if not log.with_suffix('.failed').exists():
            continue
        out.append('\n== what failed in %s (whole output in %s)' % (log.stem, log))
        for task, line in failed_tasks(log.read_text(errors='replace')):
            out.extend([task, line] if task else [line])
    for xml in sorted(results.glob('*.xml')):
        failed = [case.get('classname', '') + '::' + case.get('name', '')
                  for case in ET.parse(xml).getroot().iter('testcase')
                  if case.find('failure') is not None or case.find('error') is not None]
        if failed:
            out.append('\n== failed tests in %s' % xml.name)
            out.extend(failed[:20] + (['... and %d more' % (len(failed) - 20)] if len(failed) > 20 else []))
    return out


def main(argv):
    results, tiers = pathlib.Path(argv[1]), argv[2:]
    in_ci = os.environ.get('CI', '').lower() in ('1', 'true', 'yes')
    problems = []
    lines = ['%-34s %7s %7s %7s %9s' % ('tier', 'ran', 'failed', 'skipped', 'seconds')]
    for name, ran, failed, skipped, seconds, unit in rows(results, tiers):
        if ran is None:
            problems.append('%s: left no result (did it run?)' % name)
            lines.append('%-34s %7s' % (name, 'none'))
            continue
        checked = '' if unit == 'tests' else '  (%s checked)' % unit
        lines.append('%-34s %7d %7s %7s %9s%s' % (name, ran, shown(failed), shown(skipped), shown(seconds), checked))
        if in_ci and skipped and name.split()[0] in NO_SKIP_TIERS:
            problems.append('%s: %d skipped in CI, where every real-container test must run' % (name, skipped))
    print('\n== tests run per tier (results in %s)' % results)
    print('\n'.join(lines))
    for line in failure_digest(results):
        print(line)
    for problem in problems:
        print('ERROR: %s' % problem)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
