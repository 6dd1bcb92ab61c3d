"""Versions: the (entity, snapshot day D, created_timestamp C) rows a time-travelling feature
table holds, and the Spark building blocks that aggregate facts for them.

A version (e, D, C) stands for "what was known about e at moment C, for day D": the facts of e
with ``event time < D`` and ``created_ts <= C``. Base versions have ``C = D``; a restatement
has ``C`` = the ``created_ts`` of a fact that was late for D (``event time < D < created_ts``).

Each fact gets ``event_date`` and ``avail_date`` (first day whose base version includes it).
A fact is *late* for the days in ``[event_date + 1, avail_date)``; those are the only days for
which it creates restatements, and the only versions where ``created_ts`` must be compared.

Columns every version frame has: the key, ``snapshot_date`` (date), ``created_timestamp`` and
``event_timestamp`` (= ``snapshot_date`` at 00:00 UTC).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

PARTITION_COLUMN = "snapshot_date"
VERSION_KEYS = (PARTITION_COLUMN, "created_timestamp")


def with_availability(df: DataFrame, event_col: str) -> DataFrame:
    """Add ``event_ts`` (a copy of ``event_col``), ``event_date`` (its UTC date) and
    ``avail_date``: the first snapshot day whose base row includes the fact,
    ``max(event_date + 1, ceil_to_day(created_ts))``. A ``created_ts`` of exactly 00:00 is
    available that same day (the created bound is inclusive)."""
    created = F.col("created_ts")
    created_day = F.to_date(created)
    ceil_created = F.when(F.date_trunc("day", created) == created, created_day).otherwise(
        F.date_add(created_day, 1)
    )
    return (
        df.withColumn("event_ts", F.col(event_col))
        .withColumn("event_date", F.to_date("event_ts"))
        .withColumn("avail_date", F.greatest(F.date_add(F.col("event_date"), 1), ceil_created))
    )


def versions_for_days(days_df: DataFrame, key: str, facts: Sequence[DataFrame]) -> DataFrame:
    """All versions (key, snapshot_date, created_timestamp, event_timestamp) of ``days_df``'s
    days: a base row from the first day the entity has a known fact, and one restatement per
    distinct created_ts of a fact late for that day. ``facts`` need ``key``, ``event_date``,
    ``avail_date`` and ``created_ts`` (see ``with_availability``)."""
    cols = [key, "event_date", "avail_date", "created_ts"]
    known = reduce(DataFrame.unionByName, [f.select(*cols) for f in facts])
    first = known.groupBy(key).agg(F.min("avail_date").alias("first_date"))
    day = F.col(PARTITION_COLUMN)
    base = first.join(F.broadcast(days_df), day >= F.col("first_date")).select(
        key, day, day.cast("timestamp").alias("created_timestamp")
    )
    late_days = F.sequence(F.date_add("event_date", 1), F.date_sub("avail_date", 1))
    late = (
        known.where(F.col("avail_date") > F.date_add("event_date", 1))
        .select(key, F.col("created_ts").alias("created_timestamp"),
                F.explode(late_days).alias(PARTITION_COLUMN))
        .join(F.broadcast(days_df), PARTITION_COLUMN)
        .select(key, PARTITION_COLUMN, "created_timestamp")
    )  # fmt: skip
    return base.unionByName(late).distinct().withColumn("event_timestamp", day.cast("timestamp"))


def explode_window(
    df: DataFrame, versions: DataFrame, key: str, created: str, long_days: int, short_days: int
) -> DataFrame:
    """Pair each fact with every version (key, D, C) it belongs to in the long window:
    ``event_date < D <= event_date + long_days`` and ``created <= C``. Adds the boolean
    ``short``: the fact is also inside the last ``short_days``."""
    reach = F.sequence(F.date_add("event_date", 1), F.date_add("event_date", long_days))
    return (
        df.withColumn(PARTITION_COLUMN, F.explode(reach))
        .join(versions.select(key, *VERSION_KEYS), [key, PARTITION_COLUMN])
        .where(F.col(created) <= F.col("created_timestamp"))
        .withColumn("short", F.datediff(PARTITION_COLUMN, "event_date") <= short_days)
    )


_AGGS = {"max": F.max, "sum": F.sum}


def all_time(
    key: str, versions: DataFrame, facts: DataFrame, aggs: Mapping[str, tuple[str, str]]
) -> DataFrame:
    """Per version, ``aggs`` (name -> ("max"|"sum", column)) over the facts with event time
    < D and created_ts <= C: running totals by availability day for base rows, plus the late
    facts (``D < created_ts <= C``) for restatement rows. Sums are 0 when empty, maxima null."""
    names = list(aggs)
    contrib = facts.groupBy(key, F.col("avail_date").alias("day")).agg(
        *[_AGGS[fn](col).alias(name) for name, (fn, col) in aggs.items()]
    )
    grid = versions.where(F.col("created_timestamp") == F.col("event_timestamp")).select(
        key, F.col(PARTITION_COLUMN).alias("day"), F.lit(1).alias("is_grid")
    )
    running_window = (
        Window.partitionBy(key)
        .orderBy("day", "is_grid")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    running = (
        contrib.withColumn("is_grid", F.lit(0))
        .unionByName(grid, allowMissingColumns=True)
        .select(key, "day", "is_grid",
                *[_AGGS[aggs[n][0]](n).over(running_window).alias(n) for n in names])
        .where(F.col("is_grid") == 1)
        .select(key, F.col("day").alias(PARTITION_COLUMN), *names)
    )  # fmt: skip
    late = facts.where(F.col("avail_date") > F.date_add("event_date", 1)).select(
        key,
        "event_ts",
        F.col("created_ts").alias("late_created"),
        *dict.fromkeys(c for _, c in aggs.values()),
    )
    delta = (
        versions.where(F.col("created_timestamp") > F.col("event_timestamp"))
        .join(late, key)
        .where(
            (F.col("event_ts") < F.col("event_timestamp"))
            & (F.col("late_created") > F.col("event_timestamp"))
            & (F.col("late_created") <= F.col("created_timestamp"))
        )
        .groupBy(key, *VERSION_KEYS)
        .agg(*[_AGGS[fn](col).alias(f"late_{name}") for name, (fn, col) in aggs.items()])
    )

    def combine(name: str) -> Column:
        base, extra = F.col(name), F.col(f"late_{name}")
        if aggs[name][0] == "max":
            return F.greatest(base, extra).alias(name)
        return (F.coalesce(base, F.lit(0)) + F.coalesce(extra, F.lit(0))).alias(name)

    return (
        versions.select(key, *VERSION_KEYS)
        .join(running, [key, PARTITION_COLUMN], "left")
        .join(delta, [key, *VERSION_KEYS], "left")
        .select(key, *VERSION_KEYS, *[combine(n) for n in names])
    )
