"""Server configuration, from environment variables with working defaults.

| variable | default |
|---|---|
| ``SKEWLESS_FEATURE_REPO`` | ``feature_repo/`` of the project |
| ``SKEWLESS_STATE_PATH`` | ``<repo>/encoder_state.json`` |
| ``SKEWLESS_MODEL_PATH`` | ``<data>/models/ranker.json`` |
| ``SKEWLESS_VECTOR_LOG_DIR`` | ``<data>/vector_log`` |
| ``SKEWLESS_MAX_BATCH`` | 1000 entity rows per ``/features`` request |
| ``SKEWLESS_MAX_CANDIDATES`` | 500 titles per ``/rank`` request |
| ``SKEWLESS_HASH_CHECK_SECONDS`` | 5 (how often the registry's state hash is re-read) |
| ``SKEWLESS_REDIS_HOST`` / ``_PORT`` / ``_DB`` | ``127.0.0.1`` / ``6379`` / ``0`` |
| ``SKEWLESS_REDIS_PASSWORD`` (or ``_PASSWORD_FILE``), ``_USERNAME`` | none |
| ``SKEWLESS_REDIS_SSL`` (+ ``_SSL_CA_CERTS``, ``_SSL_CERTFILE``, ``_SSL_KEYFILE``, ...) | false |
| ``SKEWLESS_REDIS_SOCKET_TIMEOUT`` / ``_CONNECT_TIMEOUT`` (seconds) | 2 / 2 |
| ``SKEWLESS_REDIS_RETRY`` (``off``: fail fast with a 503; ``on``: redis-py's back-off) | off |

``<data>`` is ``SKEWLESS_DATA_DIR`` (default ``data/``). The server's Feast store connects
with every Redis option above (``feast_bridge.store.open_store`` merges them into Feast's
``connection_string``, see :mod:`online_store.connection`); :meth:`Settings.from_env`
checks them at start-up, so a malformed value stops the server with the variable's name.
Secrets are never part of a ``Settings`` value: they are read from the environment when a
connection is made.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _int_env(name: str, default: int, minimum: int = 1) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not an integer; set e.g. {name}={default}") from None
    if value < minimum:
        raise ValueError(f"{name}={value} must be >= {minimum}")
    return value


@dataclass(frozen=True)
class Settings:
    repo: Path
    state_path: Path
    model_path: Path
    log_dir: Path
    max_batch: int = 1000
    max_candidates: int = 500
    hash_check_seconds: float = 5.0
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    redis_db: int = 0

    @property
    def redis_address(self) -> str:
        return f"{self.redis_host}:{self.redis_port}"

    def redis_client(self):
        """A redis-py client on ``redis_host:redis_port`` / ``redis_db`` with the password,
        TLS and timeout options of the environment (the same ones the Feast store uses)."""
        import redis

        from online_store.connection import client_kwargs, secure_connection_string

        conn = secure_connection_string(f"{self.redis_host}:{self.redis_port},db={self.redis_db}")
        return redis.Redis(**client_kwargs(conn))

    @staticmethod
    def from_env() -> Settings:
        from online_store.connection import RedisClientOptions

        RedisClientOptions.from_env()  # fail at start-up, naming the variable, on a bad value
        data = Path(os.environ.get("SKEWLESS_DATA_DIR", PROJECT_ROOT / "data")).resolve()
        repo = Path(os.environ.get("SKEWLESS_FEATURE_REPO", PROJECT_ROOT / "feature_repo"))
        return Settings(
            repo=repo.resolve(),
            state_path=Path(os.environ.get("SKEWLESS_STATE_PATH",
                                           repo / "encoder_state.json")).resolve(),
            model_path=Path(os.environ.get("SKEWLESS_MODEL_PATH",
                                           data / "models" / "ranker.json")).resolve(),
            log_dir=Path(os.environ.get("SKEWLESS_VECTOR_LOG_DIR",
                                        data / "vector_log")).resolve(),
            max_batch=_int_env("SKEWLESS_MAX_BATCH", 1000),
            max_candidates=_int_env("SKEWLESS_MAX_CANDIDATES", 500),
            hash_check_seconds=float(_int_env("SKEWLESS_HASH_CHECK_SECONDS", 5, minimum=0)),
            redis_host=os.environ.get("SKEWLESS_REDIS_HOST", "127.0.0.1"),
            redis_port=_int_env("SKEWLESS_REDIS_PORT", 6379),
            redis_db=_int_env("SKEWLESS_REDIS_DB", 0, minimum=0),
        )
