"""Open the skewless Feast repo with configuration from the environment on top of the YAML.

``feature_repo/feature_store.yaml`` holds working defaults so plain ``feast`` commands need no
edits. Code that opens the store through :func:`open_store` also honours:

* ``SKEWLESS_FEATURE_REPO`` — the repo folder (default: ``feature_repo/`` of this project);
* ``SKEWLESS_REDIS_HOST`` / ``SKEWLESS_REDIS_PORT`` — the online store's Redis;
* ``SKEWLESS_SPARK_MASTER`` — Spark master for the offline store (default from the YAML).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from feast import FeatureStore

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def repo_path() -> Path:
    return Path(os.environ.get("SKEWLESS_FEATURE_REPO", PROJECT_ROOT / "feature_repo")).resolve()


def redis_connection_string() -> str | None:
    """``host:port`` from the environment, or ``None`` to keep the YAML's."""
    host, port = os.environ.get("SKEWLESS_REDIS_HOST"), os.environ.get("SKEWLESS_REDIS_PORT")
    if not host and not port:
        return None
    return f"{host or 'localhost'}:{port or '6379'}"


def open_store(repo: Path | None = None) -> FeatureStore:
    """A ``FeatureStore`` for ``repo`` with the environment overrides applied."""
    from feast import FeatureStore
    from feast.repo_config import load_repo_config

    repo = (repo or repo_path()).resolve()
    yaml_path = repo / "feature_store.yaml"
    if not yaml_path.exists():
        raise FileNotFoundError(
            f"no feature_store.yaml in {repo}; set SKEWLESS_FEATURE_REPO to "
            "the skewless feature_repo folder"
        )
    config = load_repo_config(repo, yaml_path)
    conn = redis_connection_string()
    if conn:
        config.online_store.connection_string = conn
    master = os.environ.get("SKEWLESS_SPARK_MASTER")
    if master:
        conf = dict(config.offline_store.spark_conf or {})
        conf["spark.master"] = master
        config.offline_store.spark_conf = conf
    return FeatureStore(repo_path=str(repo), config=config)


def feast_cli(*args: str, repo: Path | None = None) -> str:
    """Run the ``feast`` CLI of this interpreter in the repo, as a user would; return stdout."""
    repo = (repo or repo_path()).resolve()
    feast_bin = Path(sys.executable).with_name("feast")
    proc = subprocess.run([str(feast_bin), *args], cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"`feast {' '.join(args)}` failed in {repo}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc.stdout
