"""Write one feature view's latest rows into Redis in Feast's layout, with the created-timestamp
rule, in pipelined chunks.

Layout (Feast's, ``feast/infra/online_stores/redis.py``): one hash per entity key,
``serialize_entity_key(...) + project``; fields ``_ts:<view>`` (event time, protobuf
``Timestamp``) and ``murmur3("<view>:<feature>")`` → ``ValueProto`` bytes. skewless adds
``_created_ts:<view>``: the row's created timestamp (``Timestamp`` bytes, ``b""`` when the view
has no created column or the cell is null). Feast's reader asks for named fields only, so it
never sees it.

Overwrite rule: a row is written when ``(event_ts, created_ts) >= (stored _ts, stored
_created_ts)``, compared as a pair (event first). A missing ``_created_ts`` (a key Feast's own
engine wrote) or an empty one counts as older than any created time, so a late restatement (same
event time, later created time) lands, while a row older than what is stored is skipped.
Equal pairs are rewritten (same bytes, so re-runs change nothing, and a feature added to the view
since gets filled). Per chunk of ``chunk_rows`` keys: one pipelined ``HMGET`` of the two
timestamp fields, then one pipelined ``HSET`` of the rows that pass (plus ``EXPIRE`` when the
online store sets ``key_ttl_seconds``), ``transaction=False``, as Feast does.

Failure and concurrency: each ``HSET`` writes all fields of one view for one key at once, so a
run stopped midway leaves every key either as before or fully written; re-running then gives
the same Redis as a clean run (the rule rewrites equal pairs, skips nothing newer). Between the
``HMGET`` and the ``HSET`` of a chunk another writer may land a newer row, which this write then
overwrites (Feast's engines have the same window); run one materialization per view at a time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from offline.redis_values import entity_key_bytes, timestamp_bytes, timestamp_micros, value_bytes

__all__ = ["CREATED_FIELD_PREFIX", "ViewWritePlan", "WriteStats", "write_batch"]

CREATED_FIELD_PREFIX = "_created_ts:"
_OLDEST = -(2**80)  # below every real instant in nanoseconds (the null created timestamp)
_NULL_MICROS = int(np.iinfo(np.int64).min)


@dataclass(frozen=True)
class ViewWritePlan:
    """Everything a writer needs for one feature view (plain, picklable values, so Spark
    workers can receive it). Build it with :meth:`for_view`.

    ``view`` is the name used in the Redis fields (versioned when the registry enables online
    feature view versioning); ``join_keys`` and ``features`` pair column names with Feast
    ``ValueType``; ``feature_fields`` are the murmur3 field names, in ``features`` order.
    """

    project: str
    view: str
    join_keys: tuple[tuple[str, Any], ...]
    features: tuple[tuple[str, Any], ...]
    feature_fields: tuple[bytes, ...]
    event_column: str
    created_column: str | None
    entity_key_version: int
    key_ttl_seconds: int | None
    chunk_rows: int

    @property
    def ts_field(self) -> bytes:
        return f"_ts:{self.view}".encode()

    @property
    def created_field(self) -> bytes:
        return f"{CREATED_FIELD_PREFIX}{self.view}".encode()

    @classmethod
    def for_view(cls, feature_view: Any, repo_config: Any, event_column: str,
                 created_column: str | None, chunk_rows: int) -> ViewWritePlan:
        """The plan for ``feature_view`` under ``repo_config``; ``event_column`` /
        ``created_column`` name the timestamp columns of the batches that will be written.
        ``chunk_rows`` < 1 raises ``ValueError``."""
        from feast.infra.online_stores.helpers import _mmh3
        from feast.infra.online_stores.redis import _versioned_fv_name

        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        view = _versioned_fv_name(feature_view, repo_config)
        features = tuple((f.name, f.dtype.to_value_type()) for f in feature_view.features)
        return cls(
            project=repo_config.project,
            view=view,
            join_keys=tuple((e.name, e.dtype.to_value_type())
                            for e in feature_view.entity_columns),
            features=features,
            feature_fields=tuple(_mmh3(f"{view}:{name}") for name, _ in features),
            event_column=event_column,
            created_column=created_column,
            entity_key_version=repo_config.entity_key_serialization_version,
            key_ttl_seconds=getattr(repo_config.online_store, "key_ttl_seconds", None),
            chunk_rows=chunk_rows,
        )


@dataclass(frozen=True)
class WriteStats:
    """``rows``: rows offered; ``written``: rows whose fields were set (new, newer or equal to
    what was stored); ``stale``: rows skipped because Redis holds a newer (event, created) pair;
    ``seconds``: wall time of serialization plus Redis round trips."""

    rows: int
    written: int
    stale: int
    seconds: float

    def __add__(self, other: WriteStats) -> WriteStats:
        return WriteStats(self.rows + other.rows, self.written + other.written,
                          self.stale + other.stale, self.seconds + other.seconds)


def write_batch(client: Any, plan: ViewWritePlan, batch: pa.RecordBatch | pa.Table) -> WriteStats:
    """Write ``batch`` (one row per entity: the latest as known at the end time) into Redis.

    ``client``: a redis-py ``Redis`` or ``RedisCluster`` (Feast's ``_get_client``). The batch
    must hold the plan's join key, feature and timestamp columns; a missing one raises
    ``KeyError`` naming it. An entity appearing twice in one batch is written in row order
    with the rule applied against Redis only, so pass deduplicated rows. Empty batch: no-op.
    """
    t0 = time.perf_counter()
    n = batch.num_rows
    if n == 0:
        return WriteStats(0, 0, 0, 0.0)
    names = [c for c, _ in plan.join_keys + plan.features] + [plan.event_column]
    if plan.created_column:
        names.append(plan.created_column)
    missing = [c for c in names if c not in batch.schema.names]
    if missing:
        raise KeyError(f"columns {missing} missing from the batch for view {plan.view!r}")

    keys = entity_key_bytes(batch, dict(plan.join_keys), plan.project, plan.entity_key_version)
    event_us = timestamp_micros(batch.column(plan.event_column))
    if plan.created_column:
        created_us = timestamp_micros(batch.column(plan.created_column))
    else:
        created_us = np.full(n, _NULL_MICROS, dtype=np.int64)
    columns = [timestamp_bytes(event_us), timestamp_bytes(created_us)]
    columns += [value_bytes(batch.column(name), vtype) for name, vtype in plan.features]
    rows = list(zip(*columns))
    fields = (plan.ts_field, plan.created_field, *plan.feature_fields)
    event_ns = [us * 1000 for us in event_us.tolist()]
    created_ns = [_OLDEST if us == _NULL_MICROS else us * 1000 for us in created_us.tolist()]

    written = stale = 0
    parsed: dict[bytes, int] = {}
    width = 2 * len(fields)
    for lo in range(0, n, plan.chunk_rows):
        hi = min(lo + plan.chunk_rows, n)
        with client.pipeline(transaction=False) as pipe:
            for key in keys[lo:hi]:
                pipe.execute_command("HMGET", key, plan.ts_field, plan.created_field)
            stored = pipe.execute()
            for i, (old_ts, old_created) in zip(range(lo, hi), stored):
                if old_ts is not None and (event_ns[i], created_ns[i]) < (
                        _nanos(old_ts, parsed), _nanos(old_created, parsed)):
                    stale += 1
                    continue
                args: list[Any] = [None] * width
                args[0::2] = fields
                args[1::2] = rows[i]
                pipe.execute_command("HSET", keys[i], *args)
                if plan.key_ttl_seconds:
                    pipe.expire(keys[i], plan.key_ttl_seconds)
                written += 1
            pipe.execute()
    return WriteStats(n, written, stale, time.perf_counter() - t0)


def _nanos(raw: bytes | None, cache: dict[bytes, int]) -> int:
    """Nanoseconds of stored ``Timestamp`` bytes; ``None`` or ``b""`` → older than anything."""
    if not raw:
        return _OLDEST
    found = cache.get(raw)
    if found is None:
        from google.protobuf.timestamp_pb2 import Timestamp

        ts = Timestamp.FromString(raw)
        found = cache[raw] = ts.seconds * 1_000_000_000 + ts.nanos
    return found
