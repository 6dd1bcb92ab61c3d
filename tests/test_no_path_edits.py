"""Nothing edits ``sys.path``: every ``.py`` file of the checkout imports the project's packages
as installed (``pip install -e .`` in a checkout, ``pip install .`` anywhere), the scripts run as
``.venv/bin/python scripts/<x>.py`` and the benchmarks as ``.venv/bin/python -m bench.<module>``
from the root. The one exception is ``feast_bridge/apply.py``, which puts the user's Feast repo
first on the path while it imports it, as ``feast apply`` does.

The scan reads the source text (code, strings and comments alike, so code handed to a child
interpreter as a string is covered too) of the tracked and untracked, not ignored, files:
``.venv``, build folders and data are ignored by ``.gitignore``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {"feast_bridge/apply.py"}
#: ``sys.path`` changed in place (insert, append, extend, remove, pop, clear, a slice or item
#: assigned, ``+=``) or rebound; reading it (``list(sys.path)``, ``x in sys.path``) is fine.
EDIT = re.compile(r"\bsys\.path\s*(?:\.\s*(?:insert|append|extend|remove|pop|clear)\s*\("
                  r"|\[[^\]]*\]\s*=(?!=)|\+=|=(?!=))")


def python_files() -> list[str]:
    """The checkout's ``.py`` files, relative to the root, as git sees them (tracked, or
    untracked and not ignored)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard",
                          "--", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    return sorted({p for p in out.stdout.splitlines() if (ROOT / p).is_file()})


def test_no_file_edits_sys_path() -> None:
    files = python_files()
    assert len(files) > 100 and "skewless/cli.py" in files, files[:10]
    offenders = [f"{name}:{n}: {line.strip()}"
                 for name in files if name not in ALLOWED
                 for n, line in enumerate((ROOT / name).read_text(encoding="utf-8")
                                          .splitlines(), 1)
                 if EDIT.search(line)]
    assert not offenders, (
        "these lines edit sys.path; import the installed packages instead (scripts/setup.sh "
        "installs the project editable), run benchmarks as `python -m bench.<module>` from the "
        "root, and give a child interpreter cwd/PYTHONPATH:\n" + "\n".join(offenders))


SYS_PATH = "sys.path"  # the samples below are built from it, so this file passes its own scan


@pytest.mark.parametrize("line, edits", [
    (f"{SYS_PATH}.insert(0, str(ROOT))", True),
    (f"{SYS_PATH}.append(here)", True),
    (f"    {SYS_PATH} [:0] = paths", True),
    (f"{SYS_PATH} += [root]", True),
    (f"{SYS_PATH} = saved", True),
    (f"cwd, path = os.getcwd(), list({SYS_PATH})", False),
    (f"assert (os.getcwd(), {SYS_PATH}) == (cwd, path)", False),
    (f"if {SYS_PATH}[0] == here:", False),
])
def test_the_scan_tells_edits_from_reads(line: str, edits: bool) -> None:
    assert bool(EDIT.search(line)) is edits
