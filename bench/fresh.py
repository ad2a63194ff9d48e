# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What `make fresh` costs: the set-up and tests from a clean clone on a pristine Debian system.

Runs tests/fresh/check (see there) twice:
  - cold: its cached system template (lxfresh-template-<release>) removed first, so the run includes
    building it (lxc-create of the release from the debian template, then git and make by apt);
  - warm: the template kept, as every later run on the same machine finds it.
Per run: whether the template was built, seconds until the fresh system runs (template, copy, boot, SSH),
seconds of the steps inside it (`make setup lint unit lxc`: host packages from the mirror, the venv from
PyPI, ruff and ansible-lint, the unit tests, the real-LXC tests with their container debootstrap'ed
inside), the total, and the commit it cloned. LXC's own download cache of this machine
(/var/cache/lxc/debian, which lxc-create of the template copies from when present) is left alone, as
another user of it may be running: whether it held the release before the cold run is recorded.
Writes bench/results/fresh.json.
Prerequisites: root; `make setup`; the Debian mirror and PyPI.
Usage: .venv/bin/python bench/fresh.py [--release bookworm] [--runs cold,warm]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import time

from _common import ROOT, BenchError, Run, require, topology_file

CHECK = ROOT / "tests" / "fresh" / "check"


def lxc_cache_holds(release):
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout
    return pathlib.Path("/var/cache/lxc/debian", "rootfs-%s-%s" % (release, arch.strip())).is_dir()


def check(release, cold):
    """One run of tests/fresh/check; its phase timings (the JSON it writes) plus the wall time."""
    template = "lxfresh-template-%s" % release
    if cold:
        subprocess.run(["lxc-destroy", "-f", "-n", template], capture_output=True, check=False)
    cache = lxc_cache_holds(release)
    started = time.monotonic()
    run = subprocess.run([str(CHECK)], cwd=ROOT, env=dict(os.environ, FRESH_RELEASE=release), check=False)
    wall = round(time.monotonic() - started, 1)
    timings = json.loads((ROOT / ".cache" / "fresh" / ("%s.json" % release)).read_text(encoding="utf-8"))
    if run.returncode != 0:
        raise BenchError("tests/fresh/check failed (exit %d): see .cache/fresh/%s.log" % (run.returncode, release))
    if cold and not timings["template_built"]:
        raise BenchError("the cold run did not build the template %s" % template)
    return dict(timings, wall_s=wall, lxc_cache_held_release=cache, loadavg_end=[round(x, 2) for x in os.getloadavg()])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default="bookworm", help="Debian release of the fresh system")
    parser.add_argument("--runs", default="cold,warm", help="comma-separated: cold, warm")
    args = parser.parse_args()
    runs = args.runs.split(",")
    if not runs or set(runs) - {"cold", "warm"}:
        raise BenchError("--runs takes cold and/or warm, not %s" % args.runs)
    require(root=True, commands=("lxc-create", "lxc-destroy", "lxc-attach", "lxc-config", "git"),
            files=((CHECK, "the fresh-machine check"),))
    bench = Run(__file__, "make fresh: set-up and tests on a pristine Debian system")
    results = {name: check(args.release, name == "cold") for name in runs}
    path = bench.write(topology_file(CHECK, note="no topology: the check deploys none; this is what it runs"),
                       {"release": args.release, "runs": results})
    print("wrote %s" % path.relative_to(ROOT))


if __name__ == "__main__":
    main()
