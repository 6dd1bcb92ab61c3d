"""The parity check's scratch online store: a private Redis database and a private copy of the
registry, so the check never writes the real online store or the real materialization
intervals.

Edge cases: the scratch database must be empty or a previous parity run's (it carries the
marker hash ``__skewless_parity__``) — anything else raises rather than flush someone's data; a
repo whose online store is not Redis raises naming the fix; a Redis Cluster has database 0 only,
so the run needs a cluster of its own (its keys are flushed).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from online_store.connection import checked_client, is_cluster

MARKER = "__skewless_parity__"
DEFAULT_DB = 14


@dataclass(frozen=True)
class RedisTarget:
    """The scratch Redis database the parity check materializes into.

    ``host``/``port`` ``None`` keep the repo's (``SKEWLESS_REDIS_HOST``/``_PORT`` overrides
    apply); ``db`` is the database index (default 14). :meth:`from_env` reads
    ``SKEWLESS_PARITY_REDIS_DB``.
    """

    host: str | None = None
    port: int | None = None
    db: int = DEFAULT_DB

    def __post_init__(self) -> None:
        if isinstance(self.db, bool) or not isinstance(self.db, int) or self.db < 0:
            raise ValueError(f"RedisTarget.db={self.db!r} must be a database index >= 0")

    @staticmethod
    def from_env() -> RedisTarget:
        text = os.environ.get("SKEWLESS_PARITY_REDIS_DB", str(DEFAULT_DB))
        if not text.isdigit():
            raise ValueError(f"SKEWLESS_PARITY_REDIS_DB={text!r} is not a database index; "
                             f"set e.g. {DEFAULT_DB}")
        return RedisTarget(db=int(text))



def private_store(repo: str | os.PathLike[str], target: RedisTarget, workdir: Path) -> Any:
    """The repo's ``FeatureStore`` on the scratch Redis database, with a private copy of a file
    registry (so materialization intervals are not written to the real one)."""

    from feast_bridge.store import open_store

    store = open_store(Path(repo))
    config = store.config
    if getattr(config.online_store, "type", None) != "redis":
        raise ValueError("the parity check materializes into Redis: set online_store.type: "
                         "redis in feature_store.yaml")
    if is_cluster(config.online_store):
        # a Redis Cluster has database 0 only: the parity run needs a cluster of its own (its
        # keys are flushed), given by SKEWLESS_REDIS_TYPE / SKEWLESS_REDIS_NODES as configured
        return _with_private_registry(store, config, repo, workdir)
    conn = re.sub(r",\s*db=[^,]*", "", config.online_store.connection_string)
    if target.host or target.port:
        first, _, rest = conn.partition(",")
        host, _, port = first.rpartition(":")
        first = f"{target.host or host}:{target.port or port}"
        conn = first + ("," + rest if rest else "")
    config.online_store.connection_string = f"{conn},db={target.db}"
    return _with_private_registry(store, config, repo, workdir)


def _with_private_registry(store: Any, config: Any, repo: str | os.PathLike[str],
                           workdir: Path) -> Any:
    from feast import FeatureStore

    reg = config.registry
    if getattr(reg, "registry_type", "file") == "file" and "://" not in str(reg.path):
        src = Path(reg.path) if Path(reg.path).is_absolute() else Path(repo) / reg.path
        if src.exists():
            dst = workdir / "registry.db"
            shutil.copy(src, dst)
            config.registry_config = {"registry_type": "file", "path": str(dst),
                                      "cache_ttl_seconds": reg.cache_ttl_seconds}
            config._registry = None
    return FeatureStore(repo_path=str(Path(repo).resolve()), config=config)


def scratch_client(store: Any) -> Any:
    """A redis-py client on the store's scratch database, emptied; refuses a database that
    holds data not written by a parity run."""
    from feast.infra.online_stores.redis import RedisOnlineStore

    online = store.config.online_store
    _, params = RedisOnlineStore._parse_connection_string(online.connection_string)
    # one server's database; a cluster gets Feast's client (DBSIZE/FLUSHDB go to every master)
    client = checked_client(online, single_node=True)
    db = params.get("db", 0)
    if client.dbsize() and not client.exists(MARKER):
        raise ValueError(f"Redis database {db} holds {client.dbsize()} keys that a parity run "
                         "did not write; choose an empty database (SKEWLESS_PARITY_REDIS_DB / "
                         "--redis-db) or empty it yourself")
    client.flushdb()
    client.hset(MARKER, "owner", "skewless parity check")
    return client
