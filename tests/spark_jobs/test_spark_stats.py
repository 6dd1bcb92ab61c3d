"""The Spark statistics collector gives the pure-Python collector's answers, so both fit the
same state."""

from __future__ import annotations

import sys

import pyarrow as pa
import pytest

from demo.specs import DEMO_SPECS, synthetic_rows
from encoders import (
    MinMax,
    OneHot,
    QuantileBuckets,
    StatisticsError,
    ZScore,
    collect_statistics,
    fit,
    stat_requests,
)
from encoders.stats import Moments, Quantiles, ValueCounts
from spark_jobs.spark_stats import spark_statistics, statistics_and_rows

NUMERIC = ["watch_minutes_7d", "watch_minutes_28d", "titles_started_7d", "completion_rate_28d",
           "thumbs_up_ratio", "tenure_days", "title_plays_7d", "title_completion_rate_28d",
           "title_thumbs_up_rate", "release_year", "runtime_minutes"]
CATEGORY = ["top_genre_28d", "country", "plan", "maturity_rating", "title_genre", "device"]


def _column(values: list) -> pa.Array:
    """Numbers as doubles, or as text when the column holds numeric strings (as a CSV-born
    source would); both reach the coercion, as they would from Parquet."""
    if any(isinstance(v, str) for v in values):
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    return pa.array([None if v is None else float(v) for v in values], pa.float64())


def _frame(spark, rows):
    cols = {k: _column([r[k] for r in rows]) for k in NUMERIC}
    for k in CATEGORY:
        cols[k] = pa.array([None if r[k] is None or r[k] != r[k] else r[k] for r in rows],
                           pa.string())
    table = pa.table(cols)
    return spark.createDataFrame(table.to_pandas()), table.to_pylist()


def test_spark_and_python_collectors_agree(spark) -> None:
    rows = synthetic_rows(3000, seed=21)
    for r in rows:  # messy categories the coercion must clean on both paths
        if r["country"] == "US":
            r["country"] = " US "
    df, same_rows = _frame(spark, rows)
    reqs = stat_requests(DEMO_SPECS)
    py = collect_statistics(same_rows, reqs)
    sp = spark_statistics(df, reqs)
    for r in reqs:
        a, b = py.get(r), sp.get(r)
        if isinstance(a, Moments):  # exact sums rounded once: bit for bit on both paths
            assert a == b, r
        elif isinstance(a, Quantiles):
            assert a == b, r
        else:
            assert isinstance(a, ValueCounts) and a == b, r
    enc_py, enc_sp = fit(DEMO_SPECS, py), fit(DEMO_SPECS, sp)
    assert enc_py.schema == enc_sp.schema
    for e1, e2 in zip(enc_py.encoders, enc_sp.encoders):
        assert e1.state == e2.state, e1.spec.name
    assert enc_py.content_hash == enc_sp.content_hash


def test_fitted_state_does_not_depend_on_partitioning(spark) -> None:
    """Spark's float sums depend on the order partitions arrive in; the exact sums do not, so
    a refit of the same rows gives the same hash on 1, 3 or 7 partitions, in any row order."""
    rows = synthetic_rows(2000, seed=5)
    df, _ = _frame(spark, rows)
    reqs = stat_requests(DEMO_SPECS)
    hashes = {fit(DEMO_SPECS, spark_statistics(frame, reqs)).content_hash for frame in (
        df.coalesce(1), df.repartition(3), df.repartition(7).orderBy("tenure_days"),
        df.orderBy(df.watch_minutes_7d.desc()).repartition(5, "country"))}
    assert len(hashes) == 1


def test_missing_column_names_the_fix(spark) -> None:
    df = spark.createDataFrame([(1.0,)], "x double")
    with pytest.raises(ValueError, match="lacks"):
        spark_statistics(df, stat_requests(DEMO_SPECS[:1]))


def test_sums_near_the_largest_double_give_the_python_collectors_answers(spark) -> None:
    """Values whose sums overflow a double: Spark's exact sums answer as the Python collector
    does (no OverflowError on either), and every fit agrees — a state, or the same
    ``StatisticsError`` naming the fix (ZScore's variance, MinMax's range)."""
    big = sys.float_info.max
    columns = {"same": [1e308, 1e308, big, None], "wide": [-1e308, 1e308, 5e-324, 0.0],
               "spread": [1e154, -1e154, None, 3.0]}
    rows = [dict(zip(columns, vals)) for vals in zip(*columns.values())]
    df = spark.createDataFrame([tuple(r.values()) for r in rows],
                               ", ".join(f"{c} double" for c in columns))
    specs = [kind(f"{kind.__name__.lower()}_{c}", input=c)
             for c in columns for kind in (ZScore, MinMax)]
    specs += [QuantileBuckets(f"q_{c}", input=c, num_buckets=4) for c in columns]
    reqs = stat_requests(specs)
    py, sp = collect_statistics(rows, reqs), spark_statistics(df, reqs)
    for r in reqs:
        assert py.get(r) == sp.get(r), r
    outcomes = []
    for spec in specs:
        results = []
        for stats in (py, sp):
            try:
                results.append(fit([spec], stats).content_hash)
            except StatisticsError as exc:
                results.append(str(exc))
        assert results[0] == results[1], spec
        outcomes.append(results[0])
    refused = {s.name for s, o in zip(specs, outcomes) if "overflows a double" in o}
    assert refused == {"zscore_wide", "minmax_wide", "zscore_same", "zscore_spread"}


@pytest.mark.parametrize("kinds", [("moments",), ("quantiles",), ("value_counts",),
                                   ("moments", "quantiles", "value_counts")])
def test_row_count_comes_with_the_answers(spark, kinds) -> None:
    """The frame's row count (nulls included) is read off whichever kinds are requested,
    without a Spark job of its own; the statistics are spark_statistics' own."""
    df = spark.createDataFrame([(1.0, "a"), (None, None), (3.0, "b"), (None, "a"), (5.0, None)],
                               "x double, c string")
    specs = {"moments": ZScore("z", input="x"),
             "quantiles": QuantileBuckets("q", input="x", num_buckets=2),
             "value_counts": OneHot("o", input="c")}
    reqs = stat_requests([specs[k] for k in kinds])
    stats, rows = statistics_and_rows(df, reqs)
    assert rows == 5
    assert stats == spark_statistics(df, reqs)
    assert statistics_and_rows(df.where("x > 100"), reqs)[1] == 0
