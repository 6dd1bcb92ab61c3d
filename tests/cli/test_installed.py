"""The command works from an installed copy (``pip install --no-deps --target``), run from a
folder outside the checkout: ``python -m skewless``, the ``skewless`` entry point and
``python -m clusters.services`` (what ``skewless demo`` uses to start Redis) all resolve to the
installed packages, not the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns(".venv", ".git", "data", "build", "dist", "*.egg-info",
                              "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis",
                              "notebooks", "bench", "tests", "spark-warehouse", "metastore_db")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project installed into a target folder from a copy of the checkout (building in
    the copy leaves the checkout untouched)."""
    base = tmp_path_factory.mktemp("installed")
    source, target = base / "source", base / "target"
    shutil.copytree(ROOT, source, ignore=SKIP)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--disable-pip-version-check", "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return target


def _env(target: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKEWLESS_")}
    return {**env, "PYTHONPATH": str(target)}


def test_python_m_skewless_runs_the_installed_copy(installed: Path, tmp_path: Path) -> None:
    env = _env(installed)
    where = subprocess.run([sys.executable, "-c", "import skewless; print(skewless.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(installed), where.stdout
    helped = subprocess.run([sys.executable, "-m", "skewless", "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert helped.returncode == 0, helped.stderr
    assert "training-set" in helped.stdout and "skew-report" in helped.stdout


def test_entry_point_runs_the_installed_copy(installed: Path, tmp_path: Path) -> None:
    script = installed / "bin" / "skewless"
    assert script.exists(), sorted(p.name for p in (installed / "bin").iterdir())
    env = _env(installed)
    helped = subprocess.run([sys.executable, str(script), "fit", "--help"], cwd=tmp_path,
                            env=env, capture_output=True, text=True)
    assert helped.returncode == 0, helped.stderr
    assert "--start" in helped.stdout and "--no-apply" in helped.stdout
    bad = subprocess.run([sys.executable, str(script), "--repo", str(tmp_path), "services"],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: no feature_store.yaml")


def test_the_services_module_runs_from_the_installed_copy(installed: Path, tmp_path: Path) -> None:
    env = _env(installed)
    where = subprocess.run([sys.executable, "-c",
                            "import clusters.services as s; print(s.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(installed), where.stdout
    java = subprocess.run([sys.executable, "-m", "clusters.services", "check-java"], cwd=tmp_path,
                          env=env, capture_output=True, text=True)
    assert java.returncode == 0 and java.stdout.startswith("services: Java "), java.stderr
