"""The parity check's scratch online store as of each as-of time.

A pair (entity keys, ``T``) is served from an online store materialized up to ``T``. The pairs'
distinct as-of times are visited in order and grouped into **steps** (:func:`steps_for`: times
with no source change — no event or created timestamp — between them share one); the store is
materialized incrementally, window ``[s0, e1]``, then ``[e1, e2]``, ... where ``e_k`` is the
first as-of time of step ``k`` and ``s0`` the earliest source instant (or the first as-of time,
if earlier). Two ways to get there, the same Redis bytes for every key the pairs read (tested
against each other in ``tests/skew/test_as_of_store.py``):

* :class:`MaterializedSteps` — Feast's ``materialize`` over each window, for any batch engine
  (Feast's ``local`` engine, ``spark.engine``, a custom one). One Feast materialization per step:
  a Spark pull per view, registry writes, a whole-table write.
* :class:`WrittenSteps` — skewless' engine (:mod:`materialization.redis_engine`): one Spark job
  per view computes, for every step and every entity the step's pairs read, the row that engine
  would hold after the windows up to that step; each step then deletes those keys and writes
  their rows with the engine's writer (:func:`materialization.redis_writer.write_batch`:
  Feast's bytes, the ``_created_ts`` field, the overwrite rule). The serving library then reads
  that real Redis, as after a real materialization.

Why :class:`WrittenSteps` holds what the engine would. A run over ``[s, e]`` offers a row when
``s <= event <= e``, or — with a created column — when ``created > s`` and ``event`` is not before
the engine's correction look-back of ``s`` (:func:`~materialization.redis_engine.window_rows`);
it keeps rows with ``created <= e`` (a null created time is never known) and writes the latest
per entity when ``(event, created) >=`` what Redis holds. So after steps ``1..k`` a key holds the
greatest ``(event, created)`` row offered by any of their windows. Let ``m`` be the row's
``max(event, created)`` (its event time without a created column) and ``i`` the first window with
``e_i >= m``. No earlier window knows the row, and a later window ``j`` starts at
``e_{j-1} >= m``, so it offers the row only when ``event == e_{j-1}``, which window ``i`` offered
already. Hence the row is first (and only) offered at step ``i``, exactly when
``event >= s_i`` or, with a created column, ``created > s_i`` and ``event >= lookback(s_i)``;
and at step ``k`` the key holds the greatest such row with ``i <= k``. Rows equal on
``(event, created)`` are restatements of identical instants: any one is "the" row, as in the
engine (:mod:`spark_jobs.as_known`).

Edge cases: a pair whose entity has no row yet at its step finds no fields of that view (its key
is deleted first, whatever an earlier step wrote); keys are written only for the pairs'
entities, so a key no pair reads may be absent where a real materialization would hold it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from skew.pairs import instant, micros, values_frame
from skew.sources import ViewSource, change_points

if TYPE_CHECKING:  # pragma: no cover
    from materialization.redis_writer import ViewWritePlan

STEP = "__skewless_step"
_DELETE_CHUNK = 1000


def steps_for(times_us: Sequence[int], points_us: Sequence[int]) -> list[list[int]]:
    """Group sorted distinct as-of times so that no change point lies strictly between the
    first and the last of a group (one materialization serves the group)."""
    from bisect import bisect_right

    groups: list[list[int]] = []
    last_key = None
    for t in times_us:
        key = bisect_right(points_us, t)
        if groups and key == last_key:
            groups[-1].append(t)
        else:
            groups.append([t])
        last_key = key
    return groups


@dataclass(frozen=True)
class Steps:
    """The materialization windows: ``start_us``, then one step per group of as-of times
    (``groups[k]``, sorted; its first time is the step's window end). POSIX microseconds."""

    start_us: int
    groups: tuple[tuple[int, ...], ...]

    @property
    def ends_us(self) -> tuple[int, ...]:
        return tuple(g[0] for g in self.groups)

    @property
    def starts_us(self) -> tuple[int, ...]:
        """Each window's start: ``start_us``, then the previous window's end."""
        return (self.start_us, *self.ends_us[:-1])

    @staticmethod
    def plan(spark: Any, views: Sequence[ViewSource], times_us: Sequence[int]) -> Steps:
        """The steps for as-of times ``times_us`` (any order, repeats allowed; not empty) over
        the change points of ``views``' sources up to the last time."""
        times = sorted(set(times_us))
        points = change_points(spark, views, instant(0), instant(times[-1]))
        groups = steps_for(times, points)
        start = min(points[0], times[0]) if points else times[0]
        return Steps(start, tuple(tuple(g) for g in groups))


class AsOfStore(Protocol):
    """Brings the scratch store to step ``k`` (called with ``k = 0, 1, ...`` in order)."""

    def advance(self, k: int) -> None: ...


@dataclass(frozen=True)
class MaterializedSteps:
    """Feast's ``materialize`` over each step's window (any batch engine)."""

    store: Any
    steps: Steps

    def advance(self, k: int) -> None:
        from materialization.materialize import materialize

        materialize(self.store, instant(self.steps.starts_us[k]),
                    instant(self.steps.ends_us[k]), count_rows=False)


@dataclass(frozen=True)
class _ViewRows:
    """One view's plan, the rows to write (with their step) and, per step, the entities the
    pairs read."""

    plan: ViewWritePlan
    rows: pa.Table
    entities: tuple[tuple[tuple[Any, ...], ...], ...]


@dataclass(frozen=True)
class WrittenSteps:
    """skewless' engine's state at each step, written for the pairs' entities only (see the
    module docstring). Build it with :meth:`prepare`."""

    client: Any
    views: tuple[_ViewRows, ...]
    seconds: dict[str, float] = field(default_factory=dict, compare=False)

    @staticmethod
    def prepare(spark: Any, store: Any, steps: Steps, view_names: Sequence[str],
                step_rows: Sequence[Sequence[Mapping[str, Any]]],
                entity_keys: Sequence[str]) -> WrittenSteps:
        """One Spark job per view of ``view_names`` that Feast materializes: the rows of every
        step for the entities of ``step_rows[k]`` (the pairs of step ``k``, as dicts holding
        ``entity_keys``)."""
        from materialization.redis_engine import RedisMaterializationEngineConfig, redis_client

        config = RedisMaterializationEngineConfig(**dict(store.config.batch_engine_config))
        entities = values_frame(spark, [{STEP: k, **{c: r[c] for c in entity_keys}}
                                        for k, rows in enumerate(step_rows) for r in rows],
                                [STEP, *entity_keys])
        wanted = set(view_names)
        fvs = [fv for fv in store._get_feature_views_to_materialize(None) if fv.name in wanted]
        found = [_rows_by_step(spark, store, fv, steps, entities, config) for fv in fvs]
        tables = _collect([frame for _, frame in found])
        views = []
        for (plan, _), table in zip(found, tables):
            keys = [k for k, _ in plan.join_keys]
            per_step = tuple(tuple(dict.fromkeys(tuple(r[c] for c in keys) for r in rows))
                             for rows in step_rows)
            views.append(_ViewRows(plan, table, per_step))
        return WrittenSteps(redis_client(store.config.online_store), tuple(views))

    def advance(self, k: int) -> None:
        from materialization.redis_writer import write_batch

        keys = dict.fromkeys(key for v in self.views
                             for key in v.plan.entity_keys.keys(v.entities[k]))
        names = list(keys)
        for lo in range(0, len(names), _DELETE_CHUNK):
            with self.client.pipeline(transaction=False) as pipe:
                for name in names[lo:lo + _DELETE_CHUNK]:
                    pipe.delete(name)
                pipe.execute()
        for v in self.views:
            part = v.rows.filter(pc.equal(v.rows.column(STEP), k))
            if part.num_rows:
                write_batch(self.client, v.plan, part)


def _collect(frames: Sequence[Any]) -> list[pa.Table]:
    """Several Spark frames collected in one job (a union, each frame's columns prefixed with
    its index; Spark runs the branches' stages side by side), split again."""
    from pyspark.sql import functions as F

    if not frames:
        return []
    tagged = [f.select(F.lit(i).alias("__skewless_frame"),
                       *[f[c].alias(f"__{i}__{c}") for c in f.columns])
              for i, f in enumerate(frames)]
    union = tagged[0]
    for f in tagged[1:]:
        union = union.unionByName(f, allowMissingColumns=True)
    table = union.toArrow()
    out = []
    for i, f in enumerate(frames):
        part = table.filter(pc.equal(table.column("__skewless_frame"), i))
        out.append(part.select([f"__{i}__{c}" for c in f.columns]).rename_columns(f.columns))
    return out


def _rows_by_step(spark: Any, store: Any, fv: Any, steps: Steps, entities: Any,
                  config: Any) -> tuple[ViewWritePlan, Any]:
    """``fv``'s rows held at each step for the entities of that step: columns ``STEP``, the
    join keys, the features and the timestamp columns (see the module docstring)."""
    from pyspark.sql import functions as F

    from materialization.redis_engine import correction_lookback, window_rows
    from spark_jobs.as_known import recency, usable_from

    starts, ends = steps.starts_us, steps.ends_us
    plan, df = window_rows(store._get_provider().offline_store, store.config, store.registry,
                           store.project, fv, instant(starts[0]), instant(ends[-1]),
                           config.chunk_rows, config.write_method)
    event, created = plan.event_column, plan.created_column
    known = F.unix_micros(usable_from(event, created, as_known=True))
    first = F.size(F.filter(F.array(*[F.lit(e) for e in ends]), lambda e: e < known))
    start = F.try_element_at(F.array(*[F.lit(s) for s in starts]), first + 1)
    offered = F.unix_micros(F.col(event)) >= start
    if created:
        back = F.try_element_at(F.array(*[F.lit(micros(correction_lookback(fv, instant(s))))
                                          for s in starts]), first + 1)
        offered = offered | ((F.unix_micros(F.col(created)) > start)
                             & (F.unix_micros(F.col(event)) >= back))
    rows = df.where(known.isNotNull()).withColumn("__skewless_first", first) \
        .where((F.col("__skewless_first") < len(ends)) & offered)
    keys = [k for k, _ in plan.join_keys]
    wanted = F.broadcast(entities.select(STEP, *keys).distinct())
    joined = wanted.join(rows, keys).where(F.col("__skewless_first") <= F.col(STEP))
    values = [f for f, _ in plan.features] + [event, *([created] if created else [])]
    best = joined.groupBy(STEP, *keys).agg(
        F.max_by(F.struct(*values), recency(event, created)).alias("__skewless_row"))
    return plan, best.select(STEP, *keys, *[F.col(f"__skewless_row.{c}").alias(c)
                                            for c in values])
