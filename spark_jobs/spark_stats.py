"""Spark statistics collector: the encoders' sufficient statistics with Spark built-ins.

The same answers as :func:`encoders.collect.collect_statistics`, at scale. Coercion is *not*
re-implemented in Spark SQL: one ``mapInArrow`` pass runs the library's own
:func:`~encoders.values.as_number` / :func:`~encoders.values.as_category_cased` on every needed
column (invariant 1), then built-in aggregations do the counting:

* moments: per partition, one ``mapInArrow`` pass adds each numeric column into the library's
  :class:`~encoders.stats.ExactSums` (exact integer sums of values and squares); the driver
  merges the partials (one row per partition and column) and rounds once — so the fitted
  state, and its hash, are the same whatever the partitioning or row order, and equal the
  pure-Python collector's bit for bit (Spark's ``avg``/``var_pop`` add floats in the order
  partitions arrive, which changed the last digits from run to run);
* quantiles: ``percentile_approx(col, probabilities, accuracy)`` — same definition as
  :class:`~encoders.stats.Quantiles` (exact when ``accuracy`` exceeds the row count);
* value counts: ``groupBy(col).count()``; only the (small) table of distinct values and their
  counts reaches the driver, never rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from encoders.stats import ExactSums, Quantiles, Statistics, StatRequest, ValueCounts
from encoders.values import as_category_cased, as_number
from spark_jobs.arrow_values import column_values

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from pyspark.sql import DataFrame

DEFAULT_ACCURACY = 1_000_000


def _coerced_columns(requests: tuple[StatRequest, ...]) -> dict[tuple, str]:
    """One coerced column per distinct (input, coerce, lowercase), named ``__c<i>``."""
    keys: dict[tuple, str] = {}
    for r in requests:
        key = (r.input, r.coerce, r.lowercase if r.coerce == "category" else False)
        keys.setdefault(key, f"__c{len(keys)}")
    return keys


def coerce_frame(df: DataFrame, requests: Iterable[StatRequest]) -> DataFrame:
    """A DataFrame of the requests' inputs coerced by the encoders' own Python code."""
    import pyarrow as pa
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    reqs = tuple(requests)
    cols = _coerced_columns(reqs)
    missing = sorted({k[0] for k in cols} - set(df.columns))
    if missing:
        raise ValueError(
            f"statistics need columns {missing} that the DataFrame lacks "
            f"(it has {sorted(df.columns)}); add them or drop those encoders"
        )
    schema = StructType(
        [
            StructField(name, StringType() if key[1] == "category" else DoubleType(), True)
            for key, name in cols.items()
        ]
    )
    arrow_types = {
        name: (pa.string() if key[1] == "category" else pa.float64()) for key, name in cols.items()
    }
    plan = [(key[0], key[1], key[2], name) for key, name in cols.items()]
    inputs = sorted({k[0] for k in cols})

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            data = {}
            for src, coerce, lower, name in plan:
                values = column_values(batch.column(batch.schema.get_field_index(src)))
                if coerce == "category":
                    data[name] = pa.array(
                        [as_category_cased(v, lower) for v in values], arrow_types[name]
                    )
                else:
                    data[name] = pa.array([as_number(v) for v in values], arrow_types[name])
            yield pa.RecordBatch.from_pydict(data)

    return df.select(*inputs).mapInArrow(run, schema)


def spark_statistics(
    df: DataFrame, requests: Iterable[StatRequest], accuracy: int = DEFAULT_ACCURACY
) -> Statistics:
    """Answer every request over ``df`` (see module docstring). Only aggregates are collected."""
    return statistics_and_rows(df, requests, accuracy)[0]


def statistics_and_rows(
    df: DataFrame, requests: Iterable[StatRequest], accuracy: int = DEFAULT_ACCURACY
) -> tuple[Statistics, int]:
    """:func:`spark_statistics` and the number of rows of ``df``, read off the answers (a
    column's present + missing values; with quantiles only, one more count in the quantile
    aggregation), so no Spark job runs just to count. No requests: empty statistics and 0
    rows, without touching ``df``."""
    from pyspark.sql import functions as F

    reqs = tuple(requests)
    if not reqs:
        return Statistics({}), 0
    cols = _coerced_columns(reqs)
    coerced = coerce_frame(df, reqs).cache()
    try:
        out: dict[StatRequest, object] = {}
        aggs, slots = [], []
        moment_cols: dict[str, list[StatRequest]] = {}
        for r in reqs:
            col = cols[(r.input, r.coerce, r.lowercase if r.coerce == "category" else False)]
            c = F.col(col)
            if r.kind == "moments":
                moment_cols.setdefault(col, []).append(r)
            elif r.kind == "quantiles":
                aggs += [F.percentile_approx(c, list(r.probabilities), accuracy), F.count(c)]
                slots.append((r, 2))
        rows = 0  # set below by whichever kind of request is present (every kind sets it)
        if aggs:
            row = coerced.agg(*aggs, F.count(F.lit(1))).collect()[0]
            rows = int(row[-1])
            i = 0
            for r, width in slots:
                qs, n = row[i : i + width]
                i += width
                out[r] = Quantiles(
                    r.probabilities,
                    tuple(float(v) for v in qs) if n else tuple(0.0 for _ in r.probabilities),
                    int(n),
                )
        if moment_cols:
            sums = exact_sums(coerced, list(moment_cols))
            for col, rs in moment_cols.items():
                rows = sums[col].count + sums[col].missing
                for r in rs:
                    out[r] = sums[col].to_moments()
        for r in reqs:
            if r.kind != "value_counts":
                continue
            col = cols[(r.input, r.coerce, r.lowercase)]
            counts: dict[str, int] = {}
            missing = 0
            for value, n in coerced.groupBy(col).count().collect():
                if value is None:
                    missing = int(n)
                else:
                    counts[value] = int(n)
            out[r] = ValueCounts(counts, missing)
            rows = sum(counts.values()) + missing
        return Statistics(out), rows
    finally:
        coerced.unpersist()


def exact_sums(df: DataFrame, columns: list[str]) -> dict[str, ExactSums]:
    """:class:`~encoders.stats.ExactSums` of each double column of ``df``: one partial per
    partition and column (computed in the Python workers), merged on the driver."""
    import pyarrow as pa

    schema = pa.schema([("i", pa.int32()), ("n", pa.int64()), ("missing", pa.int64()),
                        ("total", pa.string()), ("squares", pa.string()),
                        ("lo", pa.float64()), ("hi", pa.float64())])

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        acc = [ExactSums() for _ in columns]
        for batch in batches:
            for j in range(len(columns)):
                acc[j] = acc[j].merge(ExactSums.of(batch.column(j).to_pylist()))
        yield pa.RecordBatch.from_pylist(
            [{"i": j, "n": a.count, "missing": a.missing, "total": str(a.total),
              "squares": str(a.squares), "lo": a.min, "hi": a.max} for j, a in enumerate(acc)],
            schema=schema)

    ddl = "i int, n long, missing long, total string, squares string, lo double, hi double"
    merged = [ExactSums() for _ in columns]
    for row in df.select(*columns).mapInArrow(run, ddl).collect():
        merged[row["i"]] = merged[row["i"]].merge(ExactSums(
            row["n"], row["missing"], int(row["total"]), int(row["squares"]), row["lo"],
            row["hi"]))
    return dict(zip(columns, merged))
