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

``<data>`` is ``SKEWLESS_DATA_DIR`` (default ``data/``).
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
        import redis

        return redis.Redis(host=self.redis_host, port=self.redis_port, db=self.redis_db,
                           socket_timeout=1, socket_connect_timeout=1)

    @staticmethod
    def from_env() -> Settings:
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
