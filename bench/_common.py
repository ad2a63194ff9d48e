# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every benchmark shares: preconditions that fail loudly, and one way to write a result.

Every file in bench/results/ carries the same header, so a figure can be traced to what produced it:
  benchmark, script, measured_at, started_at, duration_s, complete (false in a partial write),
  commit ({sha, dirty, dirty_paths}: the checkout's HEAD; bench/results/ itself is ignored, since the
  benches write there), topology (what was measured: a file relative to the checkout with its
  sha256, or a generated one with the generator and its sha256), machine (cpu, nproc, memory,
  kernel, OS, Python, ansible-core, load average at the start).
A result never holds a path of the machine it was measured on (the checkout's, a temporary
directory): write_result refuses it, as tests/unit/test_repository.py refuses it in a commit.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BIN = ROOT / ".venv" / "bin"
# Keys every result file holds (bench/summary.py and `make bench` check them).
HEADER_KEYS = ("benchmark", "script", "measured_at", "duration_s", "complete", "commit", "topology", "machine")


class BenchError(SystemExit):
    """A benchmark cannot run or its result is wrong: exit non-zero with the reason."""

    def __init__(self, message):
        super().__init__("%s: %s" % (pathlib.Path(sys.argv[0]).name or "bench", message))


def relative(path):
    """A path as the results record it: relative to the checkout (may start with ../)."""
    return os.path.relpath(os.path.abspath(path), ROOT)


def sha256_file(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def sha256_text(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def utc_now():
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- preconditions -------------------------------------------------------------------------------


def missing_preconditions(root=False, commands=(), files=(), venv=True, modules=()):
    """Every unmet precondition, as a list of reasons (empty: all met)."""
    missing = []
    if root and os.geteuid() != 0:
        missing.append("must run as root")
    for command in commands:
        if shutil.which(command) is None:
            missing.append("command %s not found on PATH" % command)
    for path, why in files:
        if not pathlib.Path(path).exists():
            missing.append("%s missing (%s)" % (relative(path), why))
    if venv:
        for tool in ("python", "ansible-playbook", "ansible-inventory"):
            if not (BIN / tool).exists():
                missing.append("%s missing: run `make setup`" % relative(BIN / tool))
        link = ROOT / "collections" / "ansible_collections" / "lxstack" / "openstack"
        if not link.exists():
            missing.append("%s missing: run `make setup` (the collection link)" % relative(link))
    for module in modules:
        try:
            import importlib.util

            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append("Python module %s not importable by %s" % (module, sys.executable))
    return missing


def require(**kwargs):
    """Stop with every unmet precondition listed (a bench never skips silently)."""
    missing = missing_preconditions(**kwargs)
    if missing:
        raise BenchError("cannot run:\n  - " + "\n  - ".join(missing))


# -- header --------------------------------------------------------------------------------------


def commit():
    """HEAD of the checkout and whether the tree differs from it (outside bench/results/)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        raise BenchError("needs git and a git checkout: every result records the commit it measured")

    def git(*args):
        run = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise BenchError("git %s failed: %s" % (" ".join(args), run.stderr.strip()))
        return run.stdout

    status = git("status", "--porcelain", "--", ".", ":(exclude)bench/results")
    paths = sorted(line[3:] for line in status.splitlines() if line)
    return {"sha": git("rev-parse", "HEAD").strip(), "dirty": bool(paths), "dirty_paths": paths[:50]}


def topology_file(path, **extra):
    """A topology read from a file of the checkout."""
    return {"path": relative(path), "sha256": sha256_file(path), **extra}


def topology_generated(generator, text, **extra):
    """A topology (or inventory) a bench generated: who made it and a digest of what it made."""
    return {"generated_by": generator, "sha256": sha256_text(text), **extra}


def machine():
    """Facts of the machine that bear on the figures (no host name, no path)."""
    mem_kb = 0
    with open("/proc/meminfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = platform.processor()
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    os_name = ""
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("PRETTY_NAME="):
                    os_name = line.split("=", 1)[1].strip().strip('"')
    try:
        import ansible

        ansible_core = ansible.__version__
    except ImportError:
        ansible_core = None
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": os_name,
        "python": platform.python_version(),
        "ansible_core": ansible_core,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


# -- writing -------------------------------------------------------------------------------------


def machine_paths():
    """Literal paths of this machine that must not appear in a result."""
    paths = {str(ROOT): "the checkout", tempfile.gettempdir().rstrip("/") + "/": "the temporary directory"}
    if ROOT.parent != pathlib.Path("/"):
        paths[str(ROOT.parent) + "/"] = "the directory holding the checkout"
    return paths


def find_machine_paths(value, where="$"):
    """(key path, reason) of every string in a result that names a path of this machine."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            found += find_machine_paths(key, "%s key" % where)
            found += find_machine_paths(item, "%s.%s" % (where, key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found += find_machine_paths(item, "%s[%d]" % (where, index))
    elif isinstance(value, str):
        for path, name in machine_paths().items():
            if path in value:
                found.append((where, "names %s (%s)" % (name, path)))
    return found


class Run:
    """One run of a bench: header facts taken at the start, result written atomically."""

    def __init__(self, script, benchmark):
        """script: the bench's __file__; its result is bench/results/<script name>.json."""
        self.path = RESULTS / ("%s.json" % pathlib.Path(script).stem)
        self.benchmark = benchmark
        self.script = relative(script)
        self.started = time.monotonic()
        self.started_at = utc_now()
        self.commit = commit()
        self.machine = machine()

    def header(self, topology, complete):
        return {
            "benchmark": self.benchmark,
            "script": self.script,
            "measured_at": utc_now(),
            "started_at": self.started_at,
            "duration_s": round(time.monotonic() - self.started, 1),
            "complete": complete,
            "commit": self.commit,
            "topology": topology,
            "machine": dict(self.machine, loadavg_end=[round(x, 2) for x in os.getloadavg()]),
        }

    def write(self, topology, results, complete=True, path=None):
        """Write header + results; refuse a result naming a path of this machine. Returns the path."""
        document = {**self.header(topology, complete), **results}
        leaks = find_machine_paths(document)
        if leaks:
            raise BenchError("result not written, it names paths of this machine:\n  "
                             + "\n  ".join("%s %s" % leak for leak in leaks))
        output = pathlib.Path(path) if path else self.path
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(output.name + ".tmp")
        tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, output)
        return output
