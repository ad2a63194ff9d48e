# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nothing of one machine in the repository: no committed text file names the checkout's absolute
path, the directory the checkout lives in, or a temporary directory of the machine it was written on.
A user's checkout lives elsewhere; such a path in a doc, a result or a test is wrong for them."""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

# Paths inside a container or a test fixture that merely look like this machine's /tmp: each entry
# names the file and why its /tmp is not a path of the machine that wrote it.
TMP_ALLOWED = {
    "tests/unit/plugins/connection/test_lxc_attach.py": "a shell command run inside a container",
    "tests/unit/plugins/modules/test_lxc_container.yaml": "a fixture value of lxc.rootfs.path, never opened",
}
# The root tmp directory at the start of a path (not var/tmp, not part of a longer name); written
# with a lookahead so that this file does not hold the pattern it looks for.
TMP_PATH = re.compile(r"(?<![\w./~-])/tmp(?=/)")


# Directories that hold a checkout on many machines (a root user's clone in /root/lxstack, say) and
# that files name legitimately as paths inside containers (/root/.my.cnf): the checkout's own path
# is still checked there, its parent is not.
STANDARD_DIRS = frozenset(pathlib.Path(p) for p in (
    "/", "/root", "/home", "/opt", "/srv", "/usr", "/usr/local", "/usr/src", "/var", "/var/lib", "/mnt"))


def machine_paths():
    """The literal paths of this machine that a committed file must not hold."""
    paths = [str(REPO) + "/", str(REPO) + '"', str(REPO) + "'", str(REPO) + "\n"]
    if REPO.parent not in STANDARD_DIRS and REPO.parent != pathlib.Path.home():
        # e.g. a shared directory beside the checkout: ../shared/..., never its absolute path
        paths.append(str(REPO.parent) + "/")
    return paths


def tracked_text_files():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.fail("needs git and the checkout's .git to list the committed files (git ls-files)")
    names = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in names.decode().split("\0"):
        path = REPO / name
        if not name or path.is_symlink() or not path.is_file():
            continue  # a symlink's target is a path by design; a deleted file is not committed content
        data = path.read_bytes()
        if b"\0" in data:
            continue  # binary
        yield name, data.decode("utf-8", errors="replace")


def leaks(text, allow_tmp=False):
    """(line number, line) of every line naming a machine path."""
    found = []
    paths = machine_paths()
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        if any(p in line for p in paths) or (not allow_tmp and TMP_PATH.search(line)):
            found.append((number, line.rstrip("\n")))
    return found


def test_no_machine_paths_in_committed_files():
    problems = []
    for name, text in tracked_text_files():
        for number, line in leaks(text, allow_tmp=name in TMP_ALLOWED):
            problems.append("%s:%d: %s" % (name, number, line.strip()[:160]))
    assert not problems, (
        "committed files name paths of the machine they were written on (use paths relative to the "
        "checkout, or <checkout>):\n" + "\n".join(problems)
    )


def test_allowed_tmp_entries_still_needed():
    """An allow-list entry whose file no longer holds /tmp is removed, so the list stays exact."""
    files = dict(tracked_text_files())
    stale = [name for name in TMP_ALLOWED if name not in files or not TMP_PATH.search(files[name])]
    assert not stale, "remove these from TMP_ALLOWED: %s" % stale


@pytest.mark.parametrize(
    "line",
    [
        "results in %s/bench/results/x.json\n" % REPO,
        pytest.param('"constraints": "%s/shared/uc.txt"\n' % REPO.parent,
                     marks=pytest.mark.skipif(REPO.parent in STANDARD_DIRS or REPO.parent == pathlib.Path.home(),
                                              reason="the checkout's parent is a standard directory")),
        "log in %s/lxstack-bench-venvs-1234/\n" % "/tmp",  # split, or this file would hold the pattern
        "cd %s\n" % REPO,
    ],
)
def test_leak_detected(line):
    assert leaks(line) == [(1, line.rstrip("\n"))]


@pytest.mark.parametrize(
    "line",
    [
        "results in bench/results/x.json\n",
        '"constraints": "../shared/uc.txt"\n',
        "apt keeps /var/tmp/ and ~/tmp/\n",
        "python_link: /usr/bin/python3.13\n",
    ],
)
def test_no_false_alarm(line):
    assert leaks(line) == []


PLAYBOOK_REF = re.compile(r"\bplaybooks/([\w-]+\.ya?ml)\b")


def doc_blocks(text):
    """Paragraphs and code blocks (split at blank lines and fences), with their first line number."""
    block, start = [], 1
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("```"):
            if block:
                yield start, block
            block, start = [], number + 1
        else:
            block.append(line)
    if block:
        yield start, block


def test_docs_list_only_playbooks_that_exist():
    """README and docs name a playbook that does not exist only in a block that says it is planned."""
    problems = []
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for start, block in doc_blocks(doc.read_text(encoding="utf-8")):
            if any("planned" in line.lower() for line in block):
                continue
            for offset, line in enumerate(block):
                for name in PLAYBOOK_REF.findall(line):
                    if not (REPO / "playbooks" / name).is_file():
                        problems.append("%s:%d: playbooks/%s" % (doc.relative_to(REPO), start + offset, name))
    assert not problems, "docs name playbooks that do not exist (mark them planned):\n" + "\n".join(problems)


# A measured figure: a number with a unit of time or size (not a setting's value such as `=60s`).
FIGURE = re.compile(r"(?<![=\w.,])\d+(?:[.,]\d+)?\s?(?:ms|s|sec|seconds?|min|minutes?|h|hours?|[KMG]i?B)\b")


def figure_units(text):
    """doc_blocks, with every table row a unit of its own (a row citing a result covers only itself)."""
    for start, block in doc_blocks(text):
        rows = [(start + offset, [line]) for offset, line in enumerate(block) if line.lstrip().startswith("|")]
        rest = [line for line in block if not line.lstrip().startswith("|")]
        yield from rows
        if rest:
            yield start, rest


def test_docs_figures_name_their_result():
    """A figure in the README or the docs comes from a committed bench result, which its paragraph
    names (bench/results/...); otherwise it is a claim nothing holds and that goes stale unseen."""
    problems = []
    docs = [REPO / "README.md", REPO / "tests" / "simhosts" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    for doc in docs:
        for start, block in figure_units(doc.read_text(encoding="utf-8")):
            if any("bench/results/" in line for line in block):
                continue
            for line in block:
                for figure in FIGURE.findall(line):
                    problems.append("%s:%d: %s in %r" % (doc.relative_to(REPO), start, figure, line.strip()[:80]))
    assert not problems, (
        "figures in the docs without the bench result they come from (name bench/results/<file> in the "
        "paragraph, or drop the figure):\n" + "\n".join(problems)
    )


@pytest.mark.parametrize("text", ["took 35 s", "about 1.5 min", "archive 39 MB", "in 0,5 seconds"])
def test_figure_detected(text):
    assert FIGURE.search(text)


@pytest.mark.parametrize(
    "text", ["Debian 12 or 13", "ansible-core 2.19", "clusters of 3", "mode 0600", "v3.14", "ControlPersist=60s"]
)
def test_no_figure(text):
    assert not FIGURE.search(text)
