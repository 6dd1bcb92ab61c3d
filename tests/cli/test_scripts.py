"""The scripts left in ``scripts/`` run from the installed project, without ``sys.path``
edits: none may share a name with a project package (``scripts/`` is ``sys.path[0]`` of every
script there, so a ``scripts/demo.py`` would shadow the ``demo`` package)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {p.parent.name for p in ROOT.glob("*/__init__.py")}
THIN = ("build_feature_tables", "build_training_set", "generate_facts", "generate_labels",
        "skew_report", "train_model")


def test_no_script_shadows_a_package() -> None:
    assert "demo" in PACKAGES and "skewless" in PACKAGES
    clash = sorted(p.stem for p in (ROOT / "scripts").glob("*.py") if p.stem in PACKAGES)
    assert not clash, f"scripts/ shadows the packages {clash}: rename the scripts"


@pytest.mark.parametrize("script", THIN)
def test_script_runs_without_path_edits(script: str) -> None:
    path = ROOT / "scripts" / f"{script}.py"
    assert "sys.path" not in path.read_text(encoding="utf-8")
    proc = subprocess.run([sys.executable, str(path), "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_the_cli_package_edits_no_path() -> None:
    offenders = [p.name for p in (ROOT / "skewless").glob("*.py")
                 if "sys.path" in p.read_text(encoding="utf-8")]
    assert not offenders
