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
since gets filled).

Two ways to talk to Redis (``ViewWritePlan.method``), same bytes, same rule (tested equal):

* ``script`` (default on a single server): per chunk of ``chunk_rows`` keys, one ``EVALSHA`` of
  a read-only Lua script that returns the two timestamp fields of every key, the comparison in
  Python, then one ``EVALSHA`` of a script that runs ``HSET`` (plus ``EXPIRE`` when the online
  store sets ``key_ttl_seconds``) for each row that passes. Two commands per chunk instead of
  two per key: redis-py's per-command cost (packing, reply parsing, pipeline bookkeeping),
  which dominates a pipelined write, is paid per chunk. Each script call holds the server for
  about 10 µs per key (500 keys ≈ 5 ms), so ``chunk_rows`` also bounds how long a concurrent
  online read can wait. Scripts need ``EVALSHA`` / ``SCRIPT LOAD`` (ACL category
  ``@scripting``).
* ``pipeline``: per chunk one pipelined ``HMGET`` per key, then one pipelined ``HSET`` per
  passing row, ``transaction=False``, as Feast writes. Used for a ``RedisCluster`` client
  whatever the plan says (a script's keys must share one hash slot).

Failure and concurrency: each ``HSET`` writes all fields of one view for one key at once, so a
run stopped midway leaves every key either as before or fully written; re-running then gives
the same Redis as a clean run (the rule rewrites equal pairs, skips nothing newer). Between the
``HMGET`` and the ``HSET`` of a chunk another writer may land a newer row, which this write then
overwrites (Feast's engines have the same window); run one materialization per view at a time.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import redis

from materialization.redis_values import timestamp_micros, value_bytes
from online_store.layout import (
    NULL_MICROS,
    EntityKeys,
    created_field,
    event_field,
    feature_fields,
    redis_view_name,
    timestamp_bytes,
    timestamp_nanos,
)
from online_store.watermark import smallest_keys

__all__ = ["READ_SCRIPT", "WRITE_SCRIPT", "SerializedRows", "ViewWritePlan", "WriteStats",
           "write_batch", "write_rows"]

_OLDEST = -(2**80)  # below every real instant in nanoseconds (the null created timestamp)

# KEYS: the chunk's keys; ARGV: the two timestamp field names. Returns both fields of every key,
# flattened (a missing field is Lua false, which redis-py returns as None).
READ_SCRIPT = """
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, ARGV[1], ARGV[2])
  out[2 * i - 1] = v[1] or false
  out[2 * i] = v[2] or false
end
return out
"""

# KEYS: the keys to write; ARGV: width, key ttl in seconds (0: none), the width field names,
# then width values per key in KEYS order. Returns the number of keys written.
WRITE_SCRIPT = """
local width = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local args = {}
for j = 1, width do args[2 * j - 1] = ARGV[2 + j] end
local base = 2 + width
for i, key in ipairs(KEYS) do
  for j = 1, width do args[2 * j] = ARGV[base + j] end
  redis.call('HSET', key, unpack(args))
  if ttl > 0 then redis.call('EXPIRE', key, ttl) end
  base = base + width
end
return #KEYS
"""


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
    method: Literal["script", "pipeline"] = "script"

    @property
    def ts_field(self) -> bytes:
        return event_field(self.view)

    @property
    def created_field(self) -> bytes:
        return created_field(self.view)

    @functools.cached_property
    def entity_keys(self) -> EntityKeys:
        """The key builder of this view's join keys (:mod:`online_store.layout`)."""
        return EntityKeys(self.view, [k for k, _ in self.join_keys],
                          [t for _, t in self.join_keys], self.project,
                          self.entity_key_version)

    @property
    def fields(self) -> tuple[bytes, ...]:
        """Every field one row writes, in value order: event, created, the features."""
        return (self.ts_field, self.created_field, *self.feature_fields)

    @classmethod
    def for_view(cls, feature_view: Any, repo_config: Any, event_column: str,
                 created_column: str | None, chunk_rows: int,
                 method: Literal["script", "pipeline"] = "script") -> ViewWritePlan:
        """The plan for ``feature_view`` under ``repo_config``; ``event_column`` /
        ``created_column`` name the timestamp columns of the batches that will be written.
        ``chunk_rows`` < 1 or an unknown ``method`` raises ``ValueError``."""
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        if method not in ("script", "pipeline"):
            raise ValueError(f"method must be 'script' or 'pipeline', got {method!r}")
        view = redis_view_name(feature_view, repo_config)
        features = tuple((f.name, f.dtype.to_value_type()) for f in feature_view.features)
        return cls(
            project=repo_config.project,
            view=view,
            join_keys=tuple((e.name, e.dtype.to_value_type())
                            for e in feature_view.entity_columns),
            features=features,
            feature_fields=feature_fields(view, [name for name, _ in features]),
            event_column=event_column,
            created_column=created_column,
            entity_key_version=repo_config.entity_key_serialization_version,
            key_ttl_seconds=getattr(repo_config.online_store, "key_ttl_seconds", None),
            chunk_rows=chunk_rows,
            method=method,
        )


@dataclass(frozen=True)
class WriteStats:
    """``rows``: rows offered; ``written``: rows whose fields were set (new, newer or equal to
    what was stored); ``stale``: rows skipped because Redis holds a newer (event, created) pair;
    ``seconds``: wall time of serialization plus Redis round trips; ``probes``: the smallest
    keys offered (:func:`online_store.watermark.smallest_keys`; each holds the view's fields
    afterwards, written now or newer already) for the view's watermark."""

    rows: int
    written: int
    stale: int
    seconds: float
    probes: tuple[bytes, ...] = ()

    def __add__(self, other: WriteStats) -> WriteStats:
        return WriteStats(self.rows + other.rows, self.written + other.written,
                          self.stale + other.stale, self.seconds + other.seconds,
                          smallest_keys(self.probes + other.probes))


def write_batch(client: Any, plan: ViewWritePlan, batch: pa.RecordBatch | pa.Table) -> WriteStats:
    """Write ``batch`` (one row per entity: the latest as known at the end time) into Redis.

    ``client``: a redis-py ``Redis`` or ``RedisCluster`` (Feast's ``_get_client``). The batch
    must hold the plan's join key, feature and timestamp columns; a missing one raises
    ``KeyError`` naming it. An entity appearing more than once in the batch: only its newest
    row (by event, then created time, null created oldest, then the later row) is compared
    with Redis and maybe written; the others count as stale. Empty batch: no-op.

    The batch is serialized in slices of ``SLICE_CHUNKS * chunk_rows`` rows in the calling
    thread while ``SENDERS`` helper threads send earlier slices to Redis (each slice's keys are
    distinct from every other's), so client CPU (serialization, packing) overlaps Redis' own
    work. A Redis error is raised here once the slices already sent are done; rows of later
    slices are not written (re-running is safe under the rule).
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
    batch = _newest_per_entity(plan, batch)

    step = SLICE_CHUNKS * plan.chunk_rows
    return write_rows(client, plan, (SerializedRows.of(plan, batch.slice(lo, step))
                                     for lo in range(0, batch.num_rows, step)), n, t0)


def write_rows(client: Any, plan: ViewWritePlan, slices: Iterable[SerializedRows],
               rows: int | None = None, started: float | None = None) -> WriteStats:
    """Send already serialized ``slices`` (each one row per entity, no entity in two slices)
    under the overwrite rule: :func:`write_batch`'s sending half, for callers that serialize
    rows once and write subsets of them many times (:meth:`SerializedRows.take`). ``rows``
    (default: the rows sent) and ``started`` (default: now) fill the stats for a caller that
    dropped rows before (duplicates count as stale)."""
    t0 = time.perf_counter() if started is None else started
    if plan.method == "pipeline" or _is_cluster(client):
        send = functools.partial(_send_pipelined, client, plan)
    else:
        send = functools.partial(_send_scripted, client, plan,
                                 client.register_script(READ_SCRIPT),
                                 client.register_script(WRITE_SCRIPT))
    written, sent, probes = 0, 0, ()
    with ThreadPoolExecutor(SENDERS, thread_name_prefix="skewless-redis-write") as senders:
        pending: list[Future[int]] = []
        try:
            for part in slices:
                sent += len(part.keys)
                probes = smallest_keys([*probes, *part.keys])
                pending.append(senders.submit(send, part))
                while len(pending) > SENDERS + 1:
                    written += pending.pop(0).result()
            for future in pending:
                written += future.result()
        finally:
            for future in pending:
                future.cancel()
    n = sent if rows is None else rows
    return WriteStats(n, written, n - written, time.perf_counter() - t0, probes)


SLICE_CHUNKS = 4  # chunks serialized at once (per-call costs of Arrow vs. overlap with Redis)
SENDERS = 2  # threads sending to Redis: one packs while another waits for the server


def _newest_per_entity(plan: ViewWritePlan, batch: pa.RecordBatch | pa.Table) -> pa.Table:
    """``batch`` as a table with one row per entity: the newest by (event, created) with null
    created oldest, ties to the later row. Returned unchanged (as a table) when no entity
    repeats, which a hash count over the join keys finds in a few milliseconds."""
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    keys = [name for name, _ in plan.join_keys]
    if table.group_by(keys).aggregate([]).num_rows == table.num_rows:
        return table
    row, event, created = "__skewless_row", "__skewless_event", "__skewless_created"
    ranked = table.select(keys).append_column(row, pa.array(np.arange(table.num_rows)))
    ranked = ranked.append_column(event, pa.array(timestamp_micros(
        table.column(plan.event_column))))
    if plan.created_column:  # nulls became -2**63: the oldest
        ranked = ranked.append_column(created, pa.array(timestamp_micros(
            table.column(plan.created_column))))
    order = [(event, "descending")] + ([(created, "descending")] if plan.created_column else [])
    ranked = ranked.sort_by([(k, "ascending") for k in keys] + order + [(row, "descending")])
    first = ranked.group_by(keys, use_threads=False).aggregate([(row, "first")])
    return table.take(np.sort(first.column(f"{row}_first").to_numpy()))


@dataclass(frozen=True)
class SerializedRows:
    """Rows ready to send: Redis keys, one tuple of value bytes per row (``plan.fields``
    order), and the (event, created) pair in nanoseconds (null created: oldest)."""

    keys: list[bytes]
    rows: list[tuple[bytes, ...]]
    event_ns: list[int]
    created_ns: list[int]

    @classmethod
    def of(cls, plan: ViewWritePlan, batch: pa.RecordBatch | pa.Table) -> SerializedRows:
        keys = plan.entity_keys.column_keys(batch)
        event_us = timestamp_micros(batch.column(plan.event_column))
        if plan.created_column:
            created_us = timestamp_micros(batch.column(plan.created_column))
        else:
            created_us = np.full(batch.num_rows, NULL_MICROS, dtype=np.int64)
        columns = [timestamp_bytes(event_us), timestamp_bytes(created_us)]
        columns += [value_bytes(batch.column(name), vtype) for name, vtype in plan.features]
        return cls(keys=keys, rows=list(zip(*columns)),
                   event_ns=[us * 1000 for us in event_us.tolist()],
                   created_ns=[_OLDEST if us == NULL_MICROS else us * 1000
                               for us in created_us.tolist()])

    def take(self, indices: Sequence[int]) -> SerializedRows:
        """The rows at ``indices``, in that order."""
        return SerializedRows([self.keys[i] for i in indices], [self.rows[i] for i in indices],
                              [self.event_ns[i] for i in indices],
                              [self.created_ns[i] for i in indices])

    def slices(self, plan: ViewWritePlan, indices: Sequence[int]) -> list[SerializedRows]:
        """The rows at ``indices`` in slices of :func:`write_batch`'s size, for
        :func:`write_rows` to send side by side."""
        step = SLICE_CHUNKS * plan.chunk_rows
        return [self.take(indices[lo:lo + step]) for lo in range(0, len(indices), step)]

    def passes(self, i: int, old_ts: bytes | None, old_created: bytes | None,
               parsed: dict[bytes, int]) -> bool:
        """Row ``i`` is written: nothing stored, or (event, created) >= the stored pair."""
        return old_ts is None or (self.event_ns[i], self.created_ns[i]) >= (
            _nanos(old_ts, parsed), _nanos(old_created, parsed))

    def chunks(self, size: int) -> list[tuple[int, int]]:
        n = len(self.keys)
        return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


def _send_pipelined(client: Any, plan: ViewWritePlan, rows: SerializedRows) -> int:
    """Per chunk: pipelined ``HMGET`` per key, then pipelined ``HSET`` per passing row."""
    fields, parsed = plan.fields, {}
    written = 0
    for lo, hi in rows.chunks(plan.chunk_rows):
        with client.pipeline(transaction=False) as pipe:
            for key in rows.keys[lo:hi]:
                pipe.execute_command("HMGET", key, plan.ts_field, plan.created_field)
            stored = pipe.execute()
            for i, (old_ts, old_created) in zip(range(lo, hi), stored):
                if not rows.passes(i, old_ts, old_created, parsed):
                    continue
                args: list[Any] = [None] * (2 * len(fields))
                args[0::2] = fields
                args[1::2] = rows.rows[i]
                pipe.execute_command("HSET", rows.keys[i], *args)
                if plan.key_ttl_seconds:
                    pipe.expire(rows.keys[i], plan.key_ttl_seconds)
                written += 1
            pipe.execute()
    return written


def _send_scripted(client: Any, plan: ViewWritePlan, read: Any, write: Any,
                   rows: SerializedRows) -> int:
    """Per chunk: one ``READ_SCRIPT`` call, then one ``WRITE_SCRIPT`` call for the passing rows
    (skipped when none passes). redis-py's ``Script`` loads a script again after a
    ``SCRIPT FLUSH`` or a server restart (``NOSCRIPT``)."""
    fields, parsed = plan.fields, {}
    head = [len(fields), plan.key_ttl_seconds or 0, *fields]
    written = 0
    for lo, hi in rows.chunks(plan.chunk_rows):
        try:
            stored = read(keys=rows.keys[lo:hi], args=[plan.ts_field, plan.created_field])
        except redis.exceptions.ResponseError as exc:  # NoPermissionError is one too
            if not _refuses_scripts(exc):
                raise
            raise RuntimeError(
                f"Redis refused skewless' Lua scripts ({exc}): set `write_method: pipeline` "
                "under batch_engine in feature_store.yaml, or grant the user @scripting "
                "(EVALSHA, SCRIPT LOAD)") from exc
        chosen, values = [], []
        for i in range(lo, hi):
            j = 2 * (i - lo)
            if rows.passes(i, stored[j], stored[j + 1], parsed):
                chosen.append(rows.keys[i])
                values.extend(rows.rows[i])
        if chosen:
            written += write(keys=chosen, args=head + values)
    return written


def _refuses_scripts(exc: Exception) -> bool:
    """An ACL denial of EVALSHA / SCRIPT, or a server without scripting."""
    text = str(exc).lower()
    return isinstance(exc, redis.exceptions.NoPermissionError) or (
        "unknown command" in text and ("evalsha" in text or "script" in text))


def _is_cluster(client: Any) -> bool:
    from redis.cluster import RedisCluster

    return isinstance(client, RedisCluster)


def _nanos(raw: bytes | None, cache: dict[bytes, int]) -> int:
    """Nanoseconds of stored ``Timestamp`` bytes; ``None`` or ``b""`` → older than anything."""
    found = timestamp_nanos(raw, cache)
    return _OLDEST if found is None else found
