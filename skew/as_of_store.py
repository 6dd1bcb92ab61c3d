"""The parity check's scratch online store as of each as-of time.

A pair (entity keys, ``T``) is served from an online store materialized up to ``T``. The pairs'
distinct as-of times are visited in order and grouped into **steps** (:func:`steps_for`: times
with no change of the pairs' entities' source rows — no event or created timestamp — between
them share one); the store is materialized incrementally, window ``[s0, e1]``, then
``[e1, e2]``, ... where ``e_k`` is the first as-of time of step ``k`` and ``s0`` the earliest
instant of the pairs' entities' source rows (or the first as-of time, if earlier). Two ways to
get there, the same Redis bytes for every key the pairs read (tested against each other in
``tests/skew/test_as_of_store.py``):

* :class:`MaterializedSteps` — Feast's ``materialize`` over each window, for any batch engine
  (Feast's ``local`` engine, ``spark.engine``, a custom one). One Feast materialization per step:
  a Spark pull per view, registry writes, a whole-table write.
* :class:`WrittenSteps` — skewless' engine (:mod:`materialization.redis_engine`): the engine's
  own pull (:class:`skew.sources.ViewPull`: source query, field mapping) of every row up to the
  last as-of time — a superset of every window's — restricted to the pairs' entities, is
  collected once (with the parity check's offline job); for every step and every entity the
  step's pairs read, the row that engine would hold after the windows up to that step is picked
  (:func:`_held_rows`, the rule below); those rows are serialized once by the engine's writer
  (:class:`materialization.redis_writer.SerializedRows`: Feast's bytes, the ``_created_ts``
  field) and each step deletes its keys and writes their rows with it (its ``write_rows``:
  the overwrite rule). The serving library then reads that real
  Redis, as after a real materialization.

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
engine (:mod:`spark_jobs.as_known`). The view's table ttl never enters this rule except through
the look-back; the serving library applies it at the request time, as after a real run.

Edge cases: a pair whose entity has no row yet at its step finds no fields of that view (its key
is deleted first, whatever an earlier step wrote); keys are written only for the pairs'
entities, so a key no pair reads may be absent where a real materialization would hold it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from skew.pairs import instant
from skew.sources import ViewPull, pulled_times

if TYPE_CHECKING:  # pragma: no cover
    from materialization.redis_writer import SerializedRows, ViewWritePlan

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
    def of(times_us: Sequence[int], points_us: Sequence[int]) -> Steps:
        """The steps for as-of times ``times_us`` (any order, repeats allowed; not empty) given
        the pulled rows' change points up to the last time (:func:`skew.sources.change_points`,
        any order)."""
        times, points = sorted(set(times_us)), sorted(points_us)
        start = min(points[0], times[0]) if points else times[0]
        return Steps(start, tuple(tuple(g) for g in steps_for(times, points)))


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
    """One view's plan, the pulled rows some step holds, serialized once, and per step the
    entities the pairs read with the row (index into ``rows``) the engine holds for each then,
    if any."""

    plan: ViewWritePlan
    rows: SerializedRows
    entities: tuple[tuple[tuple[Any, ...], ...], ...]
    held: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class WrittenSteps:
    """skewless' engine's state at each step, written for the pairs' entities only (see the
    module docstring). Build it with :meth:`of_pulls`."""

    client: Any
    views: tuple[_ViewRows, ...]

    @staticmethod
    def of_pulls(store: Any, steps: Steps, pulls: Sequence[ViewPull],
                 tables: Sequence[pa.Table],
                 step_rows: Sequence[Sequence[Mapping[str, Any]]]) -> WrittenSteps:
        """``pulls`` collected (``tables``, same order), reduced to the row each entity of
        ``step_rows[k]`` (the pairs of step ``k``) holds at step ``k``; views Feast does not
        materialize are left out."""
        from materialization.redis_engine import redis_client
        from materialization.redis_writer import SerializedRows

        views = []
        for pull, table in zip(pulls, tables):
            if not pull.online:
                continue
            keys = [k for k, _ in pull.plan.join_keys]
            entities = tuple(tuple(dict.fromkeys(tuple(r[c] for c in keys) for r in rows))
                             for rows in step_rows)
            held = _held_rows(pull, table, steps, entities)
            used = sorted(set().union(*held))  # serialized once, written at every step
            at = {j: i for i, j in enumerate(used)}
            views.append(_ViewRows(pull.plan, SerializedRows.of(pull.plan, table.take(used)),
                                   entities, tuple(tuple(at[j] for j in h) for h in held)))
        return WrittenSteps(redis_client(store.config.online_store), tuple(views))

    def advance(self, k: int) -> None:
        from materialization.redis_writer import write_rows

        keys = dict.fromkeys(key for v in self.views
                             for key in v.plan.entity_keys.keys(v.entities[k]))
        names = list(keys)
        for lo in range(0, len(names), _DELETE_CHUNK):
            with self.client.pipeline(transaction=False) as pipe:
                for name in names[lo:lo + _DELETE_CHUNK]:
                    pipe.delete(name)
                pipe.execute()
        for v in self.views:
            if v.held[k]:
                write_rows(self.client, v.plan, v.rows.slices(v.plan, v.held[k]))


def _lookback(fv: Any, start_us: int) -> int:
    from materialization.redis_engine import correction_lookback
    from skew.pairs import micros

    return micros(correction_lookback(fv, instant(start_us)))


def _held_rows(pull: ViewPull, table: pa.Table, steps: Steps,
               entities: Sequence[Sequence[tuple[Any, ...]]]) -> tuple[tuple[int, ...], ...]:
    """Per step, the index in ``table`` of the row each entity holds then (entities without
    one are left out): the greatest ``(event, created)`` row first offered at a step up to it
    (module docstring)."""
    from online_store.layout import NULL_MICROS

    plan, ends, starts = pull.plan, steps.ends_us, steps.starts_us
    backs = [_lookback(pull.view, s) for s in starts]
    event_us, created_us = pulled_times(plan, table)
    events = event_us.tolist()
    created = None if created_us is None else created_us.tolist()
    keys = [table.column(k).to_pylist() for k, _ in plan.join_keys]
    offered: dict[tuple, list[tuple[int, tuple, int]]] = {}
    for j, ent in enumerate(zip(*keys)):
        ev = events[j]
        cr = created[j] if created is not None else None
        if ev == NULL_MICROS or cr == NULL_MICROS:
            continue  # never known (a null created time), or no time at all
        first = bisect_left(ends, ev if cr is None else max(ev, cr))
        if first == len(ends):
            continue  # known only after the last step
        start = starts[first]
        if ev >= start or (cr is not None and cr > start and ev >= backs[first]):
            offered.setdefault(ent, []).append((first, (ev,) if cr is None else (ev, cr), j))
    held: list[list[int]] = [[] for _ in ends]
    sets = [set(ents) for ents in entities]
    for ent, rows in offered.items():
        rows.sort()
        wanted = [k for k, ents in enumerate(sets) if ent in ents]
        best, pos = None, 0
        for k in wanted:
            while pos < len(rows) and rows[pos][0] <= k:
                if best is None or rows[pos][1] >= best[1]:
                    best = rows[pos]
                pos += 1
            if best is not None:
                held[k].append(best[2])
    return tuple(tuple(sorted(h)) for h in held)
