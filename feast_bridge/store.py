"""Open a Feast repo the way skewless does (standard library only at import).

* :func:`open_store` opens the repo (``SKEWLESS_FEATURE_REPO``, default ``feature_repo/``) with
  environment overrides on top of ``feature_store.yaml``: ``SKEWLESS_REDIS_HOST`` /
  ``SKEWLESS_REDIS_PORT`` for the online store (``SKEWLESS_REDIS_TYPE=redis_cluster`` and
  optionally ``SKEWLESS_REDIS_NODES`` for a Redis Cluster) and ``SKEWLESS_SPARK_MASTER`` for
  the offline store (plain ``feast`` commands use the YAML as is); :func:`feast_cli` runs the
  ``feast`` CLI of this interpreter in the repo, as a user would;
* :func:`repo_path` is the repo every command defaults to: ``SKEWLESS_FEATURE_REPO``, else the
  current folder when it holds a ``feature_store.yaml``, else the project's demo repo.

Declaring services is :mod:`feast_bridge.declare`; reading them back, :mod:`feast_bridge.services`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from online_store.connection import RedisAddress

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """``SKEWLESS_DATA_DIR``, default ``data/`` of the checkout: where the demo's data, the
    served-vector log and the models live unless configured otherwise."""
    return Path(os.environ.get("SKEWLESS_DATA_DIR", PROJECT_ROOT / "data")).resolve()


def repo_path() -> Path:
    """``SKEWLESS_FEATURE_REPO``, else the current folder when it is a Feast repo, else the
    demo repo of a checkout (``feature_repo/`` beside this package)."""
    env = os.environ.get("SKEWLESS_FEATURE_REPO")
    if env:
        return Path(env).resolve()
    if (Path.cwd() / "feature_store.yaml").exists():
        return Path.cwd().resolve()
    return (PROJECT_ROOT / "feature_repo").resolve()


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
    from online_store.connection import port_number

    nodes = []
    for item in (part.strip() for part in text.split(",")):
        host, sep, port = item.rpartition(":")
        try:
            if not sep or not host:
                raise ValueError(item)
            nodes.append(f"{host}:{port_number(port, 'port')}")
        except ValueError:
            raise ValueError(f"SKEWLESS_REDIS_NODES entry {item!r} is not host:port (a port from "
                             "1 to 65535); write e.g. "
                             "SKEWLESS_REDIS_NODES=10.0.0.1:7000,10.0.0.2:7000") from None
    return ",".join(nodes)


def redis_connection_string(cluster: bool = False, address: RedisAddress | None = None
                            ) -> str | None:
    """Feast's ``connection_string`` from the environment, or ``None`` to keep the YAML's.

    One server: ``host:port[,db=N]`` from ``SKEWLESS_REDIS_HOST``/``_PORT``/``_DB``. A Redis
    Cluster (``cluster=True``): the seed nodes of ``SKEWLESS_REDIS_NODES``, else
    ``SKEWLESS_REDIS_HOST:PORT`` as the one seed; a cluster has database 0 only, so
    ``SKEWLESS_REDIS_DB`` other than 0 raises (and 0 is left out: redis-py's cluster client
    refuses any ``db`` argument). ``SKEWLESS_REDIS_NODES`` without ``cluster`` raises, and so
    does setting it together with ``SKEWLESS_REDIS_HOST``/``_PORT`` (two answers to one
    question). The address is checked by :class:`online_store.connection.RedisAddress` (a
    port outside 1-65535 raises naming the variable); ``address`` given (a server's
    :class:`serving.settings.Settings`) is used instead of the three variables."""
    from online_store.connection import RedisAddress

    address = address if address is not None else RedisAddress.from_env()
    host, port, db = address.host, address.port, address.db
    nodes = redis_cluster_nodes()
    if nodes and not cluster:
        raise ValueError("SKEWLESS_REDIS_NODES lists Redis Cluster nodes but the online store "
                         "is one server; set SKEWLESS_REDIS_TYPE=redis_cluster, or use "
                         "SKEWLESS_REDIS_HOST/SKEWLESS_REDIS_PORT for one server")
    if nodes and (host or port):
        raise ValueError("set either SKEWLESS_REDIS_NODES or SKEWLESS_REDIS_HOST/"
                         "SKEWLESS_REDIS_PORT, not both")
    if cluster and db:
        raise ValueError(f"SKEWLESS_REDIS_DB={db!r}: a Redis Cluster has database 0 only; "
                         "unset SKEWLESS_REDIS_DB (use a key prefix or another cluster)")
    if cluster:
        db = None
    if not nodes and not host and not port and db is None:
        return None
    conn = nodes or f"{host or 'localhost'}:{port or 6379}"
    if db is not None:
        conn += f",db={db}"
    return conn


def open_store(repo: Path | None = None, address: RedisAddress | None = None) -> Any:
    """A ``FeatureStore`` for ``repo`` with the environment overrides applied; ``address``:
    the Redis host, port and database to use instead of ``SKEWLESS_REDIS_HOST``/``_PORT``/
    ``_DB`` (its ``None`` fields: the YAML's value)."""
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
    conn = redis_connection_string(cluster=getattr(current, "value", current) == "redis_cluster",
                                   address=address)
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
