"""Feast adapter, standard library only at import: how skewless meets Feast.

* :func:`open_store` opens the repo (``SKEWLESS_FEATURE_REPO``, default ``feature_repo/``) with
  environment overrides on top of ``feature_store.yaml``: ``SKEWLESS_REDIS_HOST`` /
  ``SKEWLESS_REDIS_PORT`` for the online store and ``SKEWLESS_SPARK_MASTER`` for the offline
  store (plain ``feast`` commands use the YAML as is); :func:`feast_cli` runs the ``feast`` CLI
  of this interpreter in the repo, as a user would;
* :func:`feast_udf_source` writes the source of the encoded on-demand view's function with the
  state inside it (Feast rebuilds view functions from their source text);
* :data:`STATE_HASH_TAG` is the tag that carries the state's content hash on that view;
* :func:`registry_state_hash` reads it back from a ``FeatureStore`` (duck-typed: no import of
  feast here), for the training-set builder and the server to check the state they load.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

STATE_HASH_TAG = "skewless.state_hash"
ENCODED_VIEW = "ranker_encoded"


def feast_udf_source(function_name: str, state_json: str) -> str:
    """Self-contained Python source of a Feast python-mode on-demand view function that
    encodes with exactly ``state_json``.

    Feast 0.67 rebuilds on-demand view functions from their *source text* stored in the
    registry (``exec`` in a bare namespace), so the function can rely on no global of the file
    that defined it: the state travels inside the source as a string literal, and the
    registry therefore holds the very state the view computes with.
    """
    if not function_name.isidentifier():
        raise ValueError(f"{function_name!r} is not a Python identifier; pick a view name "
                         "made of letters, digits and underscores")
    return (
        f"def {function_name}(inputs):\n"
        f"    from encoders.columns import encode_columns_with_state\n"
        f"    return encode_columns_with_state({state_json!r}, inputs)\n"
    )


def registry_state_hash(store: Any, view: str = ENCODED_VIEW) -> str:
    """The state hash tagged on the encoded on-demand view; raises naming the fix if absent."""
    try:
        odfv = store.get_on_demand_feature_view(view)
    except Exception as exc:  # feast raises its own not-found types
        raise LookupError(f"the registry has no encoded view {view!r} ({exc.__class__.__name__})"
                          "; publish a state first: scripts/fit_publish.py") from None
    value = odfv.tags.get(STATE_HASH_TAG)
    if not value:
        raise LookupError(f"view {view!r} has no {STATE_HASH_TAG!r} tag; re-run "
                          "scripts/fit_publish.py to publish the state")
    return value


PROJECT_ROOT = Path(__file__).resolve().parents[1]


def repo_path() -> Path:
    return Path(os.environ.get("SKEWLESS_FEATURE_REPO", PROJECT_ROOT / "feature_repo")).resolve()


def redis_connection_string() -> str | None:
    """``host:port[,db=N]`` from ``SKEWLESS_REDIS_HOST``/``_PORT``/``_DB``, or ``None`` to
    keep the YAML's."""
    host, port = os.environ.get("SKEWLESS_REDIS_HOST"), os.environ.get("SKEWLESS_REDIS_PORT")
    db = os.environ.get("SKEWLESS_REDIS_DB")
    if not host and not port and not db:
        return None
    conn = f"{host or 'localhost'}:{port or '6379'}"
    if db:
        if not db.isdigit():
            raise ValueError(f"SKEWLESS_REDIS_DB={db!r} is not a database number; set e.g. 1")
        conn += f",db={db}"
    return conn


def open_store(repo: Path | None = None) -> Any:
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
