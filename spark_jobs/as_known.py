"""The one rule "the latest row as known at T", in Spark and its Python twin.

Feature rows carry an event time (what instant the values describe) and, optionally, a created
time (when the row became known; a restatement repeats the event time with a later created
time). Within each group of rows (``by``: an entity's join keys, or join keys + event time for
"the corrected version of each snapshot", or a label row):

1. with ``known_at`` (a time, or a Spark column per row), only rows created at or before it
   count — a row with a null created time is never known (Feast's
   ``filter_by_created_timestamp`` compares ``created <= T`` in SQL, where null is not true);
2. the latest by ``(event, created)`` wins, a null created time ranking below any real one;
   rows equal on both keep the one Spark / the input order puts first (they are restatements
   of identical instants: any one is "the" row).

Without a created column the event time alone decides and ``known_at`` filters nothing. The
event-time window (``T - ttl <= event <= T``) is not part of this rule: callers filter it.

The rule's two parts as Spark columns, for callers that cannot group rows first (the
point-in-time join, :mod:`spark_jobs.point_in_time`, carries "the best row so far" along a
sorted timeline): :func:`recency` is the order of step 2 as one comparable value, and
:func:`usable_from` the first time ``T`` at which step 1 (plus ``event <= T``) lets a row count.

Used by the fit step (latest correction of each snapshot), the materialization engine (latest
row per entity as known at the end time) and the parity check's source lookup (the row the
point-in-time join picks for a label); :func:`latest_as_known_rows` is the twin the tests hold
the Spark function to, and the engine's Arrow pass (``materialization/redis_writer.py``,
newest per entity) is held to it too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from spark_jobs.spark_time import utc_literal

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame

_RANK = "__skewless_as_known_rank"


def _rank_columns(event: str, created: str | None) -> list[Column]:
    """Step 2's sort keys, most significant first (all ascending = older first)."""
    from pyspark.sql import functions as F

    if not created:
        return [F.col(event)]
    return [F.col(event), F.col(created).isNotNull(), F.col(created)]


def recency(event: str, created: str | None = None) -> Column:
    """Step 2's order as one value: a struct that compares greater for the row that wins
    (later event, then a real created time over a null one, then the later created time);
    use it with ``max_by``. Equal values are restatements of identical instants."""
    from pyspark.sql import functions as F

    return F.struct(*_rank_columns(event, created))


def usable_from(event: str, created: str | None, as_known: bool) -> Column:
    """The earliest lookup time ``T`` at which a row may count for a point-in-time lookup at
    ``T`` (``event <= T`` and, when ``as_known`` and there is a created column, step 1's
    ``created <= T``): its event time, or the later of event and created time; null — never —
    for a null created time under ``as_known``. A null event time gives null too."""
    from pyspark.sql import functions as F

    if not (as_known and created):
        return F.col(event)
    return F.when(F.col(created).isNotNull() & F.col(event).isNotNull(),
                  F.greatest(F.col(event), F.col(created)))


def latest_as_known(df: DataFrame, by: Sequence[str], event: str, created: str | None = None,
                    known_at: datetime | Column | None = None) -> DataFrame:
    """One row per ``by`` group of ``df``: the latest by (event, created) among the rows known
    at ``known_at`` (see module docstring). Columns are kept as they are."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if created and known_at is not None:
        limit = known_at if not isinstance(known_at, datetime) else utc_literal(known_at)
        df = df.where(F.col(created) <= limit)
    order = [c.desc() for c in _rank_columns(event, created)]
    w = Window.partitionBy(*[F.col(c) for c in by]).orderBy(*order)
    return df.withColumn(_RANK, F.row_number().over(w)).where(F.col(_RANK) == 1).drop(_RANK)


def latest_as_known_rows(rows: Iterable[Mapping[str, Any]], by: Sequence[str], event: str,
                         created: str | None = None, known_at: Any = None
                         ) -> list[Mapping[str, Any]]:
    """:func:`latest_as_known` on plain rows (dicts with comparable event/created values;
    ``known_at``: one value for every row, or ``None``). Groups come out in first-seen order."""
    best: dict[tuple, Mapping[str, Any]] = {}

    def rank(r: Mapping[str, Any]) -> tuple:
        c = r[created] if created else None
        return (r[event], c is not None, c) if c is not None else (r[event], False)

    for r in rows:
        if created and known_at is not None and (r[created] is None or r[created] > known_at):
            continue
        key = tuple(r[c] for c in by)
        held = best.get(key)
        if held is None or rank(r) > rank(held):
            best[key] = r
    return list(best.values())
