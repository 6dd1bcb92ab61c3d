"""The scripts left in ``scripts/`` run from the installed project (no ``sys.path`` edits:
``tests/test_no_path_edits.py`` scans every file): none may share a name with a project package
(``scripts/`` is ``sys.path[0]`` of every script there, so a ``scripts/demo.py`` would shadow
the ``demo`` package)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {p.parent.name for p in ROOT.glob("*/__init__.py")}
SCRIPTS = sorted(p.stem for p in (ROOT / "scripts").glob("*.py"))


def test_no_script_shadows_a_package() -> None:
    assert "demo" in PACKAGES and "skewless" in PACKAGES and "cluster" in SCRIPTS
    clash = sorted(p.stem for p in (ROOT / "scripts").glob("*.py") if p.stem in PACKAGES)
    assert not clash, f"scripts/ shadows the packages {clash}: rename the scripts"


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_runs_without_path_edits(script: str) -> None:
    path = ROOT / "scripts" / f"{script}.py"
    proc = subprocess.run([sys.executable, str(path), "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr

