"""Benchmark: the parity check's cost per compared row, as a ratio to training-set generation
per row, measured side by side in one run on the same rows.

Setup (cached under ``--workdir``): tiny facts, feature tables, labels, a private Feast repo
with the state fitted and published (as ``tests/conftest.py`` builds it). One untimed run of
each (the process's first Spark jobs pay the JVM's warm-up), then, alternating (T P P T ...),
``--repeats`` times each on the same ``--rows`` label rows, their as-of times placed on
``--times`` distinct instants (as the parity suite does):

* ``training``: ``build_training_set`` (Feast Spark PIT join + encoders in Spark + Parquet +
  manifest) of those rows;
* ``parity``: ``parity_check`` of those rows: the same join + encoding collected, source rows,
  materialization into a scratch Redis database (``SKEWLESS_PARITY_REDIS_DB``, default 14) up
  to each as-of time, the serving library, comparison.

Reported: medians and p99 (= max for few repeats) of seconds per row for each, their ratio (and
each repeat's parity / training ratio), and the parity breakdown (offline / materialize /
online / compare). The machine is shared: run it
when it is quiet, and read the ratio, not the absolute figures.

    .venv/bin/python -m bench.bench_parity --quick          # 1000 rows, 1 run each
    .venv/bin/python -m bench.bench_parity --rows 4000 --repeats 3
    .venv/bin/python -m bench.bench_parity --rows 2000 --days 32 --repeats 3   # issue 15

``--days N`` spreads the as-of times over ``N`` distinct days instead (:func:`day_times`: one
instant per day from 2024-01-03, its time of day moving 7 h 13 min 17.25 s a day: the
first exactly on a snapshot's midnight, the others between), as many as the data's window allows.

From Python: ``run(quick=True)`` returns the results dict (and writes the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GAP_FREE_TIMES = (datetime(2024, 1, 10, tzinfo=timezone.utc),
                  datetime(2024, 1, 12, 13, 37, tzinfo=timezone.utc),
                  datetime(2024, 1, 16, tzinfo=timezone.utc),
                  datetime(2024, 1, 20, 6, tzinfo=timezone.utc),
                  datetime(2024, 1, 25, 18, tzinfo=timezone.utc),
                  datetime(2024, 2, 1, 9, tzinfo=timezone.utc))


FIRST_DAY = datetime(2024, 1, 3, tzinfo=timezone.utc)
MAX_DAYS = 32  # the tiny facts cover 2024-01-01 .. 2024-02-04


def day_times(days: int) -> tuple[datetime, ...]:
    """``days`` as-of instants, one per day from :data:`FIRST_DAY` (see module docstring);
    ``days`` outside ``1..MAX_DAYS`` raises ``ValueError``."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"--days {days}: choose 1..{MAX_DAYS} (the tiny data's window)")
    shift = timedelta(hours=7, minutes=13, seconds=17, microseconds=250_000)
    return tuple(FIRST_DAY + timedelta(days=d) + (shift * d) % timedelta(days=1)
                 for d in range(days))


def setup(work: Path, spark) -> dict:
    """Tiny pipeline under ``work`` (reused when present); returns repo, state, labels path."""
    from demo.facts import generate_facts, preset
    from demo.feature_tables import build_feature_tables
    from demo.labels import generate_labels, labels_preset
    from feast_bridge.store import feast_cli, open_store
    from spark_jobs.fit_publish import fit_service

    repo, data = work / "feature_repo", work / "data"
    os.environ["SKEWLESS_DATA_DIR"] = str(data)
    os.environ["SKEWLESS_FEATURE_REPO"] = str(repo)
    os.environ["SKEWLESS_STATE_PATH"] = str(repo / "encoder_state.json")
    if not (repo / "encoder_state.json").exists():
        shutil.rmtree(work, ignore_errors=True)
        facts = generate_facts(preset("tiny"), work / "facts")
        build_feature_tables(spark, facts.out_dir, data / "features")
        generate_labels(facts.out_dir, work / "labels", labels_preset("tiny"))
        repo.mkdir(parents=True)
        for name in ("feature_store.yaml", "definitions.py"):
            shutil.copy(ROOT / "feature_repo" / name, repo / name)
        feast_cli("apply", repo=repo)
        fit_service(spark, open_store(repo), "ranker", datetime(2024, 1, 1, tzinfo=timezone.utc),
                    datetime(2024, 1, 29, tzinfo=timezone.utc))
    return {"repo": repo, "labels": work / "labels"}


def run(quick: bool = False, rows: int | None = None, repeats: int | None = None,
        times: int = 6, workdir: str | None = None, out: str | None = None,
        days: int | None = None) -> dict:
    """Run the benchmark (see module docstring); returns and writes the results dict."""
    import pandas as pd

    from demo.labels import read_labels
    from encoders import load
    from feast_bridge.store import open_store
    from skew.pairs import sample_pairs
    from skew.parity import parity_check
    from skew.scratch import RedisTarget
    from spark_jobs.spark_session import get_spark
    from spark_jobs.training_set import build_training_set

    rows = rows or (1000 if quick else 4000)
    repeats = repeats or (1 if quick else 3)
    work = Path(workdir or os.environ.get("SKEWLESS_BENCH_DIR", "/tmp/skewless-bench-parity"))
    spark = get_spark("bench-parity", conf={"spark.sql.shuffle.partitions": "4"})
    paths = setup(work, spark)
    enc = load(paths["repo"] / "encoder_state.json")
    labels = read_labels(spark, paths["labels"])
    pairs = sample_pairs(labels, rows, seed=3)
    chosen = day_times(days) if days else GAP_FREE_TIMES[:times]
    for i, p in enumerate(pairs):
        p["event_timestamp"] = chosen[i % len(chosen)]
    frame = spark.createDataFrame(pd.DataFrame(pairs)).select(
        "member_id", "title_id", "event_timestamp", "label", "device")
    frame = frame.cache()
    frame.count()
    target = RedisTarget.from_env()
    load_start = os.getloadavg()
    results: dict[str, list] = {"training": [], "parity": []}
    breakdown = []
    order = []
    for r in range(repeats):
        order += ["training", "parity"] if r % 2 == 0 else ["parity", "training"]
    warm_up = {}
    for role in ("training", "parity"):  # the process's first jobs pay the JVM's JIT: not timed
        t0 = time.perf_counter()
        if role == "training":
            build_training_set(open_store(paths["repo"]), frame, enc,
                               work / "training" / "set", overwrite=True)
        else:
            parity_check(paths["repo"], enc, pairs, redis=target, spark=spark)
        warm_up[role] = time.perf_counter() - t0
    for role in order:
        t0 = time.perf_counter()
        if role == "training":
            build_training_set(open_store(paths["repo"]), frame, enc,
                               work / "training" / "set", overwrite=True)
        else:
            report = parity_check(paths["repo"], enc, pairs, redis=target, spark=spark)
            breakdown.append({k: round(v, 3) for k, v in report.seconds} |
                             {"steps": report.steps, "ok": report.ok,
                              "differences": len(report.differences)})
        results[role].append(time.perf_counter() - t0)
    per_row = {k: [s / rows for s in v] for k, v in results.items()}
    med = {k: statistics.median(v) for k, v in per_row.items()}
    ratio = med["parity"] / med["training"]
    pairwise = [p / t for t, p in zip(results["training"], results["parity"])]
    stages = sorted({k for b in breakdown for k in b if isinstance(b[k], float)})
    n_days = len({t.date() for t in chosen})
    res = {
        "rows": rows, "repeats": repeats, "as_of_times": len(chosen),
        "as_of_days": n_days, "order": order,
        "seconds": results,
        "per_row_median_s": med,
        "per_row_p99_s": {k: max(v) for k, v in per_row.items()},
        "ratio_parity_to_training_median": ratio,
        "ratio_per_repeat": pairwise,
        "ratio_per_repeat_median": statistics.median(pairwise),
        "warm_up_s": warm_up,
        "parity_breakdown": breakdown,
        "parity_breakdown_median_s": {k: statistics.median(b[k] for b in breakdown)
                                      for k in stages},
        "targets": {} if n_days < 30 or rows < 2000 else {
            f"parity / training set, {rows:,} labels over {n_days} as-of days, median ≤":
                {"value": ratio, "limit": 2.0, "met": ratio <= 2.0}},
        "loadavg_start": load_start,
        "loadavg": os.getloadavg(),
        "command": ".venv/bin/python -m bench.bench_parity"
                   + (" --quick" if quick else f" --rows {rows} --repeats {repeats}")
                   + (f" --days {days}" if days else ""),
    }
    dest = Path(out or ROOT / "bench" / "parity_results.json")
    dest.write_text(json.dumps(res, indent=2, default=str), encoding="utf-8")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--times", type=int, default=6, choices=range(1, 7))
    ap.add_argument("--days", type=int, default=None,
                    help=f"as-of times on this many distinct days (1..{MAX_DAYS}), not --times")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    res = run(a.quick, a.rows, a.repeats, a.times, a.workdir, a.out, a.days)
    print(json.dumps({k: res[k] for k in ("rows", "as_of_days", "per_row_median_s", "per_row_p99_s",
                                          "ratio_parity_to_training_median",
                                          "ratio_per_repeat_median",
                                          "parity_breakdown_median_s", "loadavg")},
                     indent=2))


if __name__ == "__main__":
    main()
