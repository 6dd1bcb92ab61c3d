"""skewless' Feast batch engine: Spark pull of the rows as known at the end time, Feast's Redis
bytes, the created-timestamp overwrite rule, pipelined writes.

Plugged in through ``feature_store.yaml``, so plain ``feast materialize`` and
``feast materialize-incremental`` use it::

    batch_engine:
      type: materialization.redis_engine.RedisMaterializationEngine
      write_from: driver        # or executors (Spark Python workers write, mapInArrow)
      write_method: script      # or pipeline (per-key HMGET / HSET; always used on a cluster)
      chunk_rows: 500           # keys per round trip (read, then write)
      partitions: 0             # executors only: repartition to N write tasks (0: as is)

Feast 0.67 loads ``type`` as ``<module>.<Class>`` (the class name must end in ``Engine``, its
config class is ``<Class>Config`` in the same module) and passes the block's keys to the
constructor. ``batch_engine: local`` selects Feast's own engine again (the reference).

Per feature view and interval ``[start, end]`` (both inclusive, as Feast):

1. **Pull** with Feast's Spark offline store, the same ``pull_all_from_table_or_query`` Feast's
   local engine uses (source query, field mapping, ``start <= event_timestamp <= end``; with a
   created-timestamp column the pull also reaches back to ``start - ttl`` and keeps older rows
   only when they were created after ``start``: corrections of rows outside an incremental
   window, see :func:`correction_lookback`), then in Spark: keep rows with
   ``created_timestamp <= end`` (a NULL created time is not ``<= end``
   and is dropped, as in the offline point-in-time join with
   ``filter_by_created_timestamp=True``) and the latest per entity by
   ``(event_timestamp, created_timestamp)`` descending. Feast's own pull has no created filter,
   so it would serve a correction that was not known at ``end``.
2. **Write** those rows with :func:`materialization.redis_writer.write_batch`: Feast's exact bytes
   plus ``_created_ts:<view>``, written when ``(event, created) >=`` what Redis holds (two Lua
   script calls per chunk of keys; ``write_method: pipeline`` for per-key pipelined commands,
   e.g. where ACLs deny scripting). So a late
   restatement lands (Feast's strictly-newer event check drops it), re-running is idempotent,
   and an older interval after a newer one changes nothing.
3. **Watermark**: once every row is written, the view's watermark
   (:mod:`online_store.watermark`: the end time, the rows offered, a few probe keys) is
   advanced to ``end``, so a server can tell an online store that lost its data, or holds
   less than the registry's interval says, from one that is current. Views removed by
   ``feast apply`` (``update``) or ``feast teardown`` lose their watermark.

The Redis client is Feast's (``RedisOnlineStore._get_client``), so ``redis_type:
redis_cluster`` and ``redis_sentinel`` work unchanged. The registry's materialization intervals
are recorded by Feast's ``FeatureStore`` after each view succeeds, exactly as for Feast's engines
(this engine does not claim ``applies_materialization``). A failed view comes back as an ERROR
job, which Feast raises. Redis not answering raises ``RuntimeError`` naming the fix.

``write_from: driver`` collects the view's latest rows (one per entity) to the driver as Arrow
and writes from there; ``executors`` writes from Spark's Python workers, nothing is collected
(a retried task rewrites the same rows: harmless under the rule). Each run's figures are kept in
``engine.runs`` (:class:`ViewRun`).
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
from feast.infra.common.materialization_job import MaterializationJobStatus, MaterializationTask
from feast.infra.compute_engines.base import ComputeEngine
from feast.infra.compute_engines.local.job import LocalMaterializationJob
from feast.repo_config import FeastConfigBaseModel
from pydantic import StrictInt

from materialization.redis_writer import ViewWritePlan, WriteStats, write_batch
from online_store.connection import checked_client
from online_store.layout import redis_view_name
from online_store.watermark import advance, delete_watermarks
from spark_jobs.as_known import latest_as_known
from spark_jobs.spark_time import utc_literal

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

__all__ = ["RedisMaterializationEngine", "RedisMaterializationEngineConfig",
           "ViewRun", "redis_client", "start_spark_for", "window_rows"]

_STATS_SCHEMA = "rows long, written long, stale long, seconds double, probes array<binary>"
_STATS_ARROW = pa.schema([("rows", pa.int64()), ("written", pa.int64()), ("stale", pa.int64()),
                          ("seconds", pa.float64()), ("probes", pa.list_(pa.binary()))])


class RedisMaterializationEngineConfig(FeastConfigBaseModel):
    """The ``batch_engine`` block (unknown keys are rejected by pydantic, naming them)."""

    type: Literal["materialization.redis_engine.RedisMaterializationEngine"] = (
        "materialization.redis_engine.RedisMaterializationEngine")
    write_from: Literal["driver", "executors"] = "driver"
    write_method: Literal["script", "pipeline"] = "script"
    chunk_rows: StrictInt = 500
    partitions: StrictInt = 0


@dataclass(frozen=True)
class ViewRun:
    """One view's materialization: ``rows`` latest rows pulled (one per entity), ``written``
    / ``stale`` as in :class:`materialization.redis_writer.WriteStats`; ``read_seconds`` is the
    Spark pull including the collect to the driver (``None`` with ``write_from: executors``, where
    reading and writing share one Spark job); ``write_seconds`` serialization plus Redis;
    ``seconds`` the whole view."""

    view: str
    start: datetime
    end: datetime
    write_from: str
    rows: int
    written: int
    stale: int
    read_seconds: float | None
    write_seconds: float
    seconds: float


class RedisMaterializationEngine(ComputeEngine):
    """A Feast ``ComputeEngine`` that materializes into Redis (see the module docstring)."""

    def __init__(self, *, repo_config: Any, offline_store: Any, online_store: Any,
                 **engine_config: Any) -> None:
        super().__init__(repo_config=repo_config, offline_store=offline_store,
                         online_store=online_store)
        self.config = RedisMaterializationEngineConfig(**engine_config)
        if self.config.chunk_rows < 1 or self.config.partitions < 0:
            raise ValueError(
                f"batch_engine: chunk_rows must be >= 1 (got {self.config.chunk_rows}) and "
                f"partitions >= 0 (got {self.config.partitions}); fix feature_store.yaml"
            )
        self.runs: list[ViewRun] = []

    def update(self, project: str, views_to_delete: Sequence[Any], views_to_keep: Sequence[Any],
               entities_to_delete: Sequence[Any], entities_to_keep: Sequence[Any]) -> None:
        """Nothing to provision (Redis keys are created by the writes); the watermarks of
        deleted views go with them (Redis is contacted only when views are deleted, as by
        Feast's own online store)."""
        self._forget(project, views_to_delete)

    def teardown_infra(self, project: str, fvs: Sequence[Any], entities: Sequence[Any]) -> None:
        """The online store's own teardown deletes the rows; this deletes their watermarks."""
        self._forget(project, fvs)

    def _forget(self, project: str, views: Sequence[Any]) -> None:
        if views:
            client = redis_client(self.repo_config.online_store, self.online_store)
            delete_watermarks(client, project,
                              [redis_view_name(v, self.repo_config) for v in views])

    def _materialize_one(self, registry: Any, task: MaterializationTask,
                         **kwargs: Any) -> LocalMaterializationJob:
        job_id = f"{task.feature_view.name}-{task.start_time}-{task.end_time}"
        try:
            self.runs.append(self._run(registry, task))
        except Exception as exc:  # Feast raises the job's error (provider.materialize_...)
            return LocalMaterializationJob(job_id, MaterializationJobStatus.ERROR, exc)
        return LocalMaterializationJob(job_id, MaterializationJobStatus.SUCCEEDED)

    def _run(self, registry: Any, task: MaterializationTask) -> ViewRun:
        t0 = time.perf_counter()
        view, start, end = task.feature_view, task.start_time, task.end_time
        client = redis_client(self.repo_config.online_store, self.online_store)
        start_spark_for(self.repo_config.offline_store)
        plan, df = window_rows(self.offline_store, self.repo_config, registry, task.project,
                               view, start, end, self.config.chunk_rows,
                               self.config.write_method)
        df = latest_as_known(df, [c for c, _ in plan.join_keys], plan.event_column,
                             plan.created_column, known_at=end)

        if self.config.write_from == "driver":
            t1 = time.perf_counter()
            table = df.toArrow()
            read = time.perf_counter() - t1
            stats = WriteStats(0, 0, 0, 0.0)
            for batch in table.to_batches():
                stats = stats + write_batch(client, plan, batch)
        else:
            read = None
            if self.config.partitions:
                df = df.repartition(self.config.partitions)
            write = functools.partial(_write_partition, plan, self.repo_config.online_store)
            stats = WriteStats(0, 0, 0, 0.0)
            for row in df.mapInArrow(write, _STATS_SCHEMA).collect():
                stats = stats + WriteStats(row.rows, row.written, row.stale, row.seconds,
                                           tuple(bytes(p) for p in row.probes or ()))
        # after every row: the watermark never claims rows that are not in Redis
        advance(client, plan.project, plan.view, end, stats.rows, stats.probes,
                plan.key_ttl_seconds)
        return ViewRun(view=view.name, start=start, end=end, write_from=self.config.write_from,
                       rows=stats.rows, written=stats.written, stale=stats.stale,
                       read_seconds=read, write_seconds=stats.seconds,
                       seconds=time.perf_counter() - t0)


def window_rows(offline_store: Any, repo_config: Any, registry: Any, project: str,
                feature_view: Any, start: datetime | None, end: datetime, chunk_rows: int = 500,
                write_method: Literal["script", "pipeline"] = "script",
                table: str | None = None) -> tuple[ViewWritePlan, DataFrame]:
    """Step 1 of a run over ``[start, end]`` before its created-time filter and its pick: the
    view's write plan and the rows the run considers — Feast's Spark pull (source query, field
    mapping, ``start <= event_timestamp <= end``) plus, with a created-timestamp column, the
    corrections of older rows (event time back to :func:`correction_lookback`) created after
    ``start``. The run then keeps the latest row per entity known at ``end``. ``table``: a
    Spark table already holding the view's source (e.g. the temporary view Feast registered for
    a file source earlier in the same session), read instead of loading the files again.
    ``start=None``: no lower bound (every row up to ``end``, a superset of any run's rows).

    Raises ``ValueError`` naming the view when it has no batch source."""
    from feast.utils import _get_column_names
    from pyspark.sql import functions as F

    if feature_view.batch_source is None:
        raise ValueError(f"feature view {feature_view.name!r} has no batch source to "
                         "materialize")
    entities = [registry.get_entity(name, project) for name in feature_view.entities]
    keys, features, event_col, created_col = _get_column_names(feature_view, entities)
    mapping = feature_view.batch_source.field_mapping or {}
    event, created = mapping.get(event_col, event_col), (
        mapping.get(created_col, created_col) if created_col else None)
    plan = ViewWritePlan.for_view(feature_view, repo_config, event, created, chunk_rows,
                                  write_method)
    source = feature_view.batch_source
    if table is not None:
        source = copy.deepcopy(source)
        source.spark_options.table = table
    df = offline_store.pull_all_from_table_or_query(
        config=repo_config, data_source=source, join_key_columns=keys,
        feature_name_columns=features, timestamp_field=event_col,
        created_timestamp_column=created_col,
        start_date=correction_lookback(feature_view, start) if created and start else start,
        end_date=end,
    ).to_spark_df()
    if created and start is not None:
        # rows of the window, plus corrections of older rows that became known after start
        df = df.where((F.col(event) >= utc_literal(start)) | (F.col(created) > utc_literal(start)))
    return plan, df


def correction_lookback(view: Any, start: datetime) -> datetime:
    """How far back before ``start`` a correction can still matter online.

    A row restated after ``start`` (same event time, later created time) must land even when
    its event time is before ``start`` — an incremental run's window starts where the previous
    one ended, so the restated row is outside it. Rows older than ``start - ttl`` are expired
    at every request time after ``start``, so the view's ttl bounds the look-back; without a
    ttl the whole table is read (1970-01-01 on)."""
    ttl = getattr(view, "ttl", None)
    if ttl is not None and ttl.total_seconds() > 0:
        return start - ttl
    return datetime(1970, 1, 1, tzinfo=timezone.utc)


def redis_client(online_config: Any, online_store: Any = None) -> Any:
    """Feast's Redis client for ``online_config``, checked with ``PING``
    (:func:`online_store.connection.checked_client`); the engine's error names its fallback."""
    if getattr(online_config, "type", None) != "redis":
        raise ValueError(
            f"online store type is {getattr(online_config, 'type', None)!r}; this engine "
            "writes Redis: set online_store.type: redis, or batch_engine: local"
        )
    return checked_client(online_config, online_store=online_store)


def start_spark_for(offline_config: Any) -> Any:
    """Start (or reuse) the SparkSession for a Spark offline store config with skewless'
    settings (:func:`spark_jobs.spark_session.get_spark`: UTC session time zone, the Python
    workers run this interpreter) and its ``spark_conf``. Feast's own start-up would run the
    workers on ``python3`` from ``PATH``. Raises ``ValueError`` for another offline store."""
    if getattr(offline_config, "type", None) != "spark":
        raise ValueError(
            f"offline store type is {getattr(offline_config, 'type', None)!r}; this engine "
            "pulls through Spark: set offline_store.type: spark, or batch_engine: local"
        )
    from spark_jobs.spark_session import get_spark

    return get_spark("skewless-materialize", conf=dict(offline_config.spark_conf or {}))


def _write_partition(plan: ViewWritePlan, online_config: Any,
                     batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body: write a partition from a Spark Python worker, yield its stats."""
    client = redis_client(online_config)
    stats = WriteStats(0, 0, 0, 0.0)
    for batch in batches:
        stats = stats + write_batch(client, plan, batch)
    yield pa.RecordBatch.from_pylist([{"rows": stats.rows, "written": stats.written,
                                       "stale": stats.stale, "seconds": stats.seconds,
                                       "probes": list(stats.probes)}],
                                     schema=_STATS_ARROW)
