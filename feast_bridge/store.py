"""Feast adapter, standard library only at import: how skewless meets Feast.

* :func:`open_store` opens the repo (``SKEWLESS_FEATURE_REPO``, default ``feature_repo/``) with
  environment overrides on top of ``feature_store.yaml``: ``SKEWLESS_REDIS_HOST`` /
  ``SKEWLESS_REDIS_PORT`` for the online store (``SKEWLESS_REDIS_TYPE=redis_cluster`` and
  optionally ``SKEWLESS_REDIS_NODES`` for a Redis Cluster) and ``SKEWLESS_SPARK_MASTER`` for
  the offline store (plain ``feast`` commands use the YAML as is); :func:`feast_cli` runs the
  ``feast`` CLI of this interpreter in the repo, as a user would;
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


REDIS_TYPES = ("redis", "redis_cluster")


def redis_type() -> str | None:
    """``SKEWLESS_REDIS_TYPE``: ``redis`` (one server) or ``redis_cluster``; ``None`` (unset or
    empty) keeps the YAML's ``online_store.redis_type``. Anything else raises naming the fix."""
    value = os.environ.get("SKEWLESS_REDIS_TYPE", "").strip()
    if value and value not in REDIS_TYPES:
        raise ValueError(f"SKEWLESS_REDIS_TYPE={value!r} is not a Redis type; set it to "
                         "'redis' (one server) or 'redis_cluster'")
    return value or None


def redis_cluster_nodes() -> str | None:
    """``SKEWLESS_REDIS_NODES`` (``host:port,host:port,...``, the seed nodes of a Redis
    Cluster) checked and normalised, or ``None`` when unset. Any one live node is enough for
    the client to discover the cluster; listing several survives one being down."""
    text = os.environ.get("SKEWLESS_REDIS_NODES", "").strip()
    if not text:
        return None
    nodes = []
    for item in (part.strip() for part in text.split(",")):
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"SKEWLESS_REDIS_NODES entry {item!r} is not host:port; write "
                             "e.g. SKEWLESS_REDIS_NODES=10.0.0.1:7000,10.0.0.2:7000")
        nodes.append(f"{host}:{int(port)}")
    return ",".join(nodes)


def redis_connection_string(cluster: bool = False) -> str | None:
    """Feast's ``connection_string`` from the environment, or ``None`` to keep the YAML's.

    One server: ``host:port[,db=N]`` from ``SKEWLESS_REDIS_HOST``/``_PORT``/``_DB``. A Redis
    Cluster (``cluster=True``): the seed nodes of ``SKEWLESS_REDIS_NODES``, else
    ``SKEWLESS_REDIS_HOST:PORT`` as the one seed; a cluster has database 0 only, so
    ``SKEWLESS_REDIS_DB`` other than 0 raises (and 0 is left out: redis-py's cluster client
    refuses any ``db`` argument). ``SKEWLESS_REDIS_NODES`` without ``cluster`` raises, and so
    does setting it together with ``SKEWLESS_REDIS_HOST``/``_PORT`` (two answers to one
    question)."""
    host, port = os.environ.get("SKEWLESS_REDIS_HOST"), os.environ.get("SKEWLESS_REDIS_PORT")
    db = os.environ.get("SKEWLESS_REDIS_DB")
    nodes = redis_cluster_nodes()
    if nodes and not cluster:
        raise ValueError("SKEWLESS_REDIS_NODES lists Redis Cluster nodes but the online store "
                         "is one server; set SKEWLESS_REDIS_TYPE=redis_cluster, or use "
                         "SKEWLESS_REDIS_HOST/SKEWLESS_REDIS_PORT for one server")
    if nodes and (host or port):
        raise ValueError("set either SKEWLESS_REDIS_NODES or SKEWLESS_REDIS_HOST/"
                         "SKEWLESS_REDIS_PORT, not both")
    if cluster and db and db.strip() != "0":
        raise ValueError(f"SKEWLESS_REDIS_DB={db!r}: a Redis Cluster has database 0 only; "
                         "unset SKEWLESS_REDIS_DB (use a key prefix or another cluster)")
    if cluster:
        db = None
    if not nodes and not host and not port and not db:
        return None
    conn = nodes or f"{host or 'localhost'}:{port or '6379'}"
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
    kind = redis_type()
    if kind:
        if getattr(config.online_store, "type", None) != "redis":
            raise ValueError(f"SKEWLESS_REDIS_TYPE={kind} needs online_store.type: redis in "
                             f"{yaml_path}; unset SKEWLESS_REDIS_TYPE or switch the store")
        from feast.infra.online_stores.redis import RedisType

        config.online_store.redis_type = RedisType(kind)
    current = getattr(config.online_store, "redis_type", None)
    conn = redis_connection_string(cluster=getattr(current, "value", current) == "redis_cluster")
    if conn:
        config.online_store.connection_string = conn
    if getattr(config.online_store, "type", None) == "redis":  # password, TLS, timeouts
        from online_store.connection import secure_connection_string

        config.online_store.connection_string = secure_connection_string(
            config.online_store.connection_string,
            cluster=getattr(current, "value", current) == "redis_cluster")
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
