"""Server configuration, from environment variables with working defaults.

| variable | default |
|---|---|
| ``SKEWLESS_FEATURE_REPO`` | ``feature_repo/`` of the project |
| ``SKEWLESS_SERVICES`` | every fitted encoded service of the repo (comma list to pick some) |
| ``SKEWLESS_SERVICE`` | the default service of ``/features`` and ``/rank``: the only served one |
| ``SKEWLESS_STATE_PATH`` | the default service's declared state path (registry tag) |
| ``SKEWLESS_MODELS`` | ``svc=path.json,svc2=path2.json``: the model attached to each service |
| ``SKEWLESS_MODEL_PATH`` | one model, attached to the service whose published state it was
  trained on; a missing file means no model |
| ``SKEWLESS_RANK_CANDIDATE_KEY`` | each service's last join key (the key ``/rank`` ranks) |
| ``SKEWLESS_VECTOR_LOG_DIR`` | ``<data>/vector_log`` |
| ``SKEWLESS_LOG_FORMAT`` | ``parquet``: served facts (raw inputs, statuses, vectors;
  :mod:`serving.facts_log`); ``jsonl``: encoded vectors only (:mod:`serving.vector_log`);
  ``off``: no log (nothing to replay or train on; for measuring the log's cost) |
| ``SKEWLESS_LOG_SAMPLE`` | 1: the share of requests logged, chosen by request id
  (:mod:`serving.log_queue`) |
| ``SKEWLESS_LOG_QUEUE_MAX`` | 10000 rows accepted by the served log but not yet written;
  past it requests are dropped from the log, counted (:mod:`serving.log_queue`) |
| ``SKEWLESS_LOG_FILE_ROWS`` / ``_FILE_SECONDS`` | 100000 / 60: a Parquet log file is closed (and
  readable) at that many rows or that age; a SIGKILL loses the open files |
| ``SKEWLESS_MAX_BATCH`` | 1000 entity rows per ``/features`` request |
| ``SKEWLESS_MAX_CANDIDATES`` | 500 candidates per ``/rank`` request |
| ``SKEWLESS_MAX_BODY_BYTES`` | 1 KiB per row of the larger of the two limits above + 64 KiB
  (1,089,536 bytes by default): a larger request body gets a 413, unread |
| ``SKEWLESS_MAX_HEADER_BYTES`` | 16384: a larger request head (request line and headers) gets
  a 431 (enforced by ``skewless serve``'s HTTP protocol, :mod:`serving.limits`) |
| ``SKEWLESS_MAX_IN_FLIGHT`` | 16 ``POST`` requests in flight per worker; more are shed with a 503
  and ``Retry-After`` (:mod:`serving.admission`) |
| ``SKEWLESS_WORKERS`` | 1 server process; more: one served-vector log per worker in
  ``<log dir>/worker-<k>`` (:mod:`serving.workers`); ``skewless serve --workers`` sets it |
| ``SKEWLESS_HASH_CHECK_SECONDS`` | 5 (how often the registry's state hash is re-read) |
| ``SKEWLESS_READY_CHECK_SECONDS`` | 1 (how long a check of the online store against the
  registry is reused by ``/health``, ``/health/ready`` and the feature routes) |
| ``SKEWLESS_REDIS_HOST`` / ``_PORT`` / ``_DB`` | ``127.0.0.1`` / ``6379`` / ``0`` |
| ``SKEWLESS_REDIS_PASSWORD`` (or ``_PASSWORD_FILE``), ``_USERNAME`` | none |
| ``SKEWLESS_REDIS_SSL`` (+ ``_SSL_CA_CERTS``, ``_SSL_CERTFILE``, ``_SSL_KEYFILE``, ...) | false |
| ``SKEWLESS_REDIS_SOCKET_TIMEOUT`` / ``_CONNECT_TIMEOUT`` (seconds) | 2 / 2 |
| ``SKEWLESS_REDIS_RETRY`` (``off``: fail fast with a 503; ``on``: redis-py's back-off) | off |

``<data>`` is ``SKEWLESS_DATA_DIR`` (default ``data/``). Models: a service named in
``SKEWLESS_MODELS`` gets that file; else the ``SKEWLESS_MODEL_PATH`` model when it was trained
on the service's published state; else ``<data>/models/<service>.json`` when that file exists;
else none (``/features`` works, ``/rank`` answers 409). The server's Feast store connects
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
from typing import Any

from serving.facts_log import DEFAULT_FILE_ROWS, DEFAULT_FILE_SECONDS
from serving.log_queue import DEFAULT_MAX_QUEUED_ROWS


def _number_env(name: str, default: float, parse: type, minimum: float) -> Any:
    """``parse(os.environ[name])`` (``default`` when unset), at least ``minimum`` (NaN is
    refused too); a malformed or smaller value raises naming the variable and an example."""
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = parse(text)
    except ValueError:
        kind = "an integer" if parse is int else "a number"
        raise ValueError(f"{name}={text!r} is not {kind}; set e.g. {name}={default}") from None
    if not value >= minimum or value == float("inf"):  # NaN and inf too
        raise ValueError(f"{name}={text} must be a finite number >= {minimum}")
    return value


def _int_env(name: str, default: int, minimum: int = 1) -> int:
    return _number_env(name, default, int, minimum)


def _float_env(name: str, default: float) -> float:
    """A finite number of seconds >= 0 from ``name`` (``default`` when unset)."""
    return _number_env(name, default, float, 0.0)


LOG_FORMATS = ("parquet", "jsonl", "off")


def log_format_from_env() -> str:
    """``SKEWLESS_LOG_FORMAT`` (default ``parquet``); another value raises naming both."""
    value = (os.environ.get("SKEWLESS_LOG_FORMAT") or "parquet").strip().lower()
    if value not in LOG_FORMATS:
        raise ValueError(f"SKEWLESS_LOG_FORMAT={value!r} is not one of {LOG_FORMATS}: "
                         "'parquet' logs served facts (raw inputs and vectors), 'jsonl' "
                         "encoded vectors only, 'off' nothing")
    return value


def _sample_env() -> float:
    """``SKEWLESS_LOG_SAMPLE`` in (0, 1] (default 1: every request)."""
    rate = _number_env("SKEWLESS_LOG_SAMPLE", 1.0, float, 0.0)
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"SKEWLESS_LOG_SAMPLE={rate} must be in (0, 1], e.g. 0.1 logs one "
                         "request in ten; 1 logs every request")
    return rate


def workers_from_env() -> int:
    """``SKEWLESS_WORKERS`` (default 1); a bad value raises naming the variable."""
    return _int_env("SKEWLESS_WORKERS", 1)


BODY_BYTES_PER_ROW = 1024
BODY_BYTES_BASE = 64 * 1024
HEADER_BYTES_DEFAULT = 16 * 1024


def max_header_bytes() -> int:
    """``SKEWLESS_MAX_HEADER_BYTES`` (default :data:`HEADER_BYTES_DEFAULT`, at least 1024): the
    largest request head the server reads. Read by the HTTP protocol of each connection
    (headers are read before any app sees the request) and checked by :meth:`Settings.from_env`
    at start-up, so a malformed value stops the server naming the variable."""
    return _int_env("SKEWLESS_MAX_HEADER_BYTES", HEADER_BYTES_DEFAULT, minimum=1024)


def parse_names(text: str | None) -> tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")`` (order kept, duplicates dropped); ``None`` or
    blank -> ``()``."""
    names = [part.strip() for part in (text or "").split(",")]
    return tuple(dict.fromkeys(n for n in names if n))


def parse_models(text: str | None, var: str = "SKEWLESS_MODELS"
                 ) -> tuple[tuple[str, Path], ...]:
    """``"svc=a.json,svc2=b.json"`` -> ``(("svc", Path("a.json")), ...)``; an item without
    ``=``, with an empty side or naming a service twice raises ``ValueError`` naming ``var``."""
    out: dict[str, Path] = {}
    for item in parse_names(text):
        service, sep, path = (s.strip() for s in item.partition("="))
        if not sep or not service or not path:
            raise ValueError(f"{var} item {item!r} is not service=path.json; set e.g. "
                             f"{var}=recommender=data/models/recommender.json")
        if service in out:
            raise ValueError(f"{var} names service {service!r} twice; keep one model each")
        out[service] = Path(path).resolve()
    return tuple(out.items())


@dataclass(frozen=True)
class Settings:
    """Everything the server is configured with (see module docstring).

    ``state_path``: the default service's state file when it is not the declared one
    (``None``: every service loads its declared state). ``services``: the services to serve
    (empty: every fitted one). ``models``: ``(service, model file)`` pairs; ``model_path``: the
    legacy single model; ``models_dir``: where ``<service>.json`` models are looked up.
    ``rank_candidate_key``: the join key ``/rank`` ranks (``None``: each service's last).
    ``max_body_bytes``: the largest request body (``None``: :attr:`body_limit`'s default).
    The largest request head is not a field: the server's protocol reads it
    (:func:`max_header_bytes`) before any app exists.
    ``log_queue_max``: the served log's bound in rows (``SKEWLESS_LOG_QUEUE_MAX``);
    ``log_format``, ``log_sample``, ``log_file_rows``, ``log_file_seconds``: its format,
    sampling rate and Parquet file size and age (module docstring).
    ``redis_host``, ``redis_port``, ``redis_db``: the online store's Redis server and database
    (``SKEWLESS_REDIS_HOST``/``_PORT``/``_DB``); ``None``: the environment's value, else the
    repo's ``feature_store.yaml`` decides (its ``connection_string``, else ``localhost:6379``
    db 0). The server opens its store with these, so settings built in code
    (``replace(settings, redis_db=5)``) win over the environment.
    """

    repo: Path
    log_dir: Path
    state_path: Path | None = None
    model_path: Path | None = None
    models: tuple[tuple[str, Path], ...] = ()
    models_dir: Path | None = None
    services: tuple[str, ...] = ()
    default_service: str | None = None
    rank_candidate_key: str | None = None
    max_batch: int = 1000
    max_candidates: int = 500
    max_in_flight: int = 16
    workers: int = 1
    max_body_bytes: int | None = None
    log_queue_max: int = DEFAULT_MAX_QUEUED_ROWS
    log_format: str = "parquet"
    log_sample: float = 1.0
    log_file_rows: int = DEFAULT_FILE_ROWS
    log_file_seconds: float = DEFAULT_FILE_SECONDS
    hash_check_seconds: float = 5.0
    ready_check_seconds: float = 1.0
    redis_host: str | None = None
    redis_port: int | None = None
    redis_db: int | None = None

    @property
    def body_limit(self) -> int:
        """The largest request body in bytes: ``max_body_bytes``, else
        :data:`BODY_BYTES_PER_ROW` per row of the larger of ``max_batch`` and
        ``max_candidates`` plus :data:`BODY_BYTES_BASE` (room for ids, request inputs and
        whitespace; a batch at the row limit fits)."""
        if self.max_body_bytes is not None:
            return self.max_body_bytes
        return BODY_BYTES_PER_ROW * max(self.max_batch, self.max_candidates) + BODY_BYTES_BASE

    @staticmethod
    def from_env() -> Settings:
        from online_store.connection import RedisAddress, RedisClientOptions

        RedisClientOptions.from_env()  # fail at start-up, naming the variable, on a bad value
        address = RedisAddress.from_env()  # host / port (1-65535) / db, checked in one place
        max_header_bytes()  # the same for the head limit (read by the protocol)
        env = os.environ.get
        from feast_bridge.store import data_dir, repo_path

        data, repo = data_dir(), repo_path()
        state, model = env("SKEWLESS_STATE_PATH"), env("SKEWLESS_MODEL_PATH")
        return Settings(
            repo=repo.resolve(),
            log_dir=Path(env("SKEWLESS_VECTOR_LOG_DIR", data / "vector_log")).resolve(),
            state_path=Path(state).resolve() if state else None,
            model_path=Path(model).resolve() if model else None,
            models=parse_models(env("SKEWLESS_MODELS")),
            models_dir=data / "models",
            services=parse_names(env("SKEWLESS_SERVICES")),
            default_service=(env("SKEWLESS_SERVICE") or "").strip() or None,
            rank_candidate_key=(env("SKEWLESS_RANK_CANDIDATE_KEY") or "").strip() or None,
            max_batch=_int_env("SKEWLESS_MAX_BATCH", 1000),
            max_candidates=_int_env("SKEWLESS_MAX_CANDIDATES", 500),
            max_in_flight=_int_env("SKEWLESS_MAX_IN_FLIGHT", 16),
            workers=workers_from_env(),
            max_body_bytes=(_int_env("SKEWLESS_MAX_BODY_BYTES", 1024 * 1024)
                            if env("SKEWLESS_MAX_BODY_BYTES") else None),
            log_queue_max=_int_env("SKEWLESS_LOG_QUEUE_MAX", DEFAULT_MAX_QUEUED_ROWS),
            log_format=log_format_from_env(),
            log_sample=_sample_env(),
            log_file_rows=_int_env("SKEWLESS_LOG_FILE_ROWS", DEFAULT_FILE_ROWS),
            log_file_seconds=_number_env("SKEWLESS_LOG_FILE_SECONDS", DEFAULT_FILE_SECONDS,
                                         float, 0.001),
            hash_check_seconds=_float_env("SKEWLESS_HASH_CHECK_SECONDS", 5.0),
            ready_check_seconds=_float_env("SKEWLESS_READY_CHECK_SECONDS", 1.0),
            redis_host=address.host, redis_port=address.port, redis_db=address.db,
        )
