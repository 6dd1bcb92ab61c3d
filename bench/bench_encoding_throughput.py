"""Benchmark: encoding throughput, per-row Python vs the Spark runner, per core.

The same encoder set (the demo set: 20 encoders, 47 outputs, fitted on synthetic rows) encodes
the same clean rows three ways, side by side in one run:

* ``per-row python``: ``EncoderSet.encode_vector`` in a loop (what the server does per request);
* ``column-wise python``: ``encoders.columns.encode_columns`` over Arrow-sized column batches in
  this process (exactly what each Spark Python worker runs per batch);
* ``spark runner``: ``spark_jobs.spark_encode.encode_frame`` (``mapInArrow``) on a cached
  DataFrame, written to Spark's ``noop`` sink, with 1 partition (one task, i.e. one core) and
  with 2 partitions (both cores of ``local[2]``).

Repeats alternate the variants; we report the median rows/s and rows/s per core (the Spark
figure with 2 partitions is divided by 2). JVM start and DataFrame caching are outside the
timing; Arrow transfer to and from the Python worker is inside it (it is part of the runner).

    .venv/bin/python -m bench.bench_encoding_throughput [--rows 200000] [--repeats 5] [--json out]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from demo.specs import DEMO_SPECS, request_times, synthetic_rows
from encoders import collect_statistics, fit, stat_requests
from encoders.columns import encode_columns

BATCH = 10_000  # Spark's default spark.sql.execution.arrow.maxRecordsPerBatch


def _rows(n: int) -> tuple[list[dict], list]:
    """``n`` clean rows (tiled from 20k distinct ones, so setup stays cheap) and their times."""
    base = synthetic_rows(min(n, 20_000), seed=3, messy_rate=0.0)
    times = request_times(len(base))
    reps = -(-n // len(base))
    return (base * reps)[:n], (times * reps)[:n]


def _columns(rows: list[dict], times: list) -> dict[str, list]:
    cols = {k: [r[k] for r in rows] for k in rows[0]}
    cols["event_timestamp"] = list(times)
    return cols


def _time_per_row(enc, rows, times) -> float:
    t0 = time.perf_counter()
    encode = enc.encode_vector
    for r, t in zip(rows, times):
        encode(r, t)
    return time.perf_counter() - t0


def _time_columns(enc, cols: dict[str, list], n: int) -> float:
    t0 = time.perf_counter()
    for start in range(0, n, BATCH):
        encode_columns(enc, {k: v[start:start + BATCH] for k, v in cols.items()},
                       "event_timestamp")
    return time.perf_counter() - t0


def _spark_frame(spark, cols: dict[str, list]):
    import pyarrow as pa

    table = pa.table(cols)
    df = spark.createDataFrame(table.to_pandas())
    return df


def _time_spark(df, enc, partitions: int) -> float:
    from spark_jobs.spark_encode import encode_frame

    frame = df.repartition(partitions).cache()
    frame.count()
    t0 = time.perf_counter()
    encode_frame(frame, enc, keep=["event_timestamp"]).write.format("noop").mode(
        "overwrite").save()
    seconds = time.perf_counter() - t0
    frame.unpersist()
    return seconds


def run(quick: bool = False, rows: int | None = None, repeats: int | None = None) -> dict:
    """Measure and return the figures (see the module docstring)."""
    from spark_jobs.spark_session import get_spark

    n = rows or (20_000 if quick else 200_000)
    reps = repeats or (2 if quick else 5)
    if n < 1 or reps < 1:
        raise ValueError("rows and repeats must be >= 1")
    enc = fit(DEMO_SPECS, collect_statistics(synthetic_rows(5000, seed=1),
                                             stat_requests(DEMO_SPECS)))
    data, times = _rows(n)
    cols = _columns(data, times)
    spark = get_spark("skewless-bench-encoding", conf={"spark.sql.shuffle.partitions": "2"})
    try:
        df = _spark_frame(spark, cols)
        _time_spark(df, enc, 2)  # warm-up: Python workers, state parse
        seconds: dict[str, list[float]] = {
            "per-row python": [], "column-wise python": [],
            "spark runner, 1 partition": [], "spark runner, 2 partitions": []}
        for i in range(reps):
            order = list(seconds)
            if i % 2:
                order.reverse()
            for name in order:
                if name == "per-row python":
                    seconds[name].append(_time_per_row(enc, data, times))
                elif name == "column-wise python":
                    seconds[name].append(_time_columns(enc, cols, n))
                else:
                    seconds[name].append(_time_spark(df, enc, 1 if "1 part" in name else 2))
    finally:
        spark.stop()
    cores = {"per-row python": 1, "column-wise python": 1,
             "spark runner, 1 partition": 1, "spark runner, 2 partitions": 2}
    result: dict = {"rows": n, "repeats": reps, "encoders": len(enc.encoders),
                    "outputs": enc.width, "variants": {}}
    for name, s in seconds.items():
        med = statistics.median(s)
        result["variants"][name] = {
            "median_seconds": round(med, 3),
            "rows_per_second": round(n / med),
            "rows_per_second_per_core": round(n / med / cores[name]),
            "us_per_row_per_core": round(med * cores[name] / n * 1e6, 2),
        }
    base = result["variants"]["per-row python"]["rows_per_second_per_core"]
    for v in result["variants"].values():
        v["per_core_ratio_to_per_row_python"] = round(v["rows_per_second_per_core"] / base, 2)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=None, help="rows per timed run (200k; 20k quick)")
    ap.add_argument("--repeats", type=int, default=None, help="alternating repeats (5; 2 quick)")
    ap.add_argument("--quick", action="store_true", help="fewer rows and repeats")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args()
    if (args.rows is not None and args.rows < 1) or (args.repeats is not None
                                                     and args.repeats < 1):
        ap.error("--rows and --repeats must be >= 1")
    result = run(args.quick, args.rows, args.repeats)
    print(f"{result['rows']} rows x {result['repeats']} alternating repeats, "
          f"{result['encoders']} encoders / {result['outputs']} outputs")
    print(f"{'variant':30s} {'rows/s':>10s} {'rows/s/core':>12s} {'µs/row/core':>12s} "
          f"{'x per-row':>10s}")
    for name, v in result["variants"].items():
        print(f"{name:30s} {v['rows_per_second']:10d} {v['rows_per_second_per_core']:12d} "
              f"{v['us_per_row_per_core']:12.2f} {v['per_core_ratio_to_per_row_python']:10.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
