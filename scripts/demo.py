"""The main job, end to end on the embedded defaults.

Stages (each a library call; data under ``SKEWLESS_DATA_DIR``, default ``data/``):

1. facts: seeded streaming-service facts (``--preset``, default ``tiny``);
2. labels: impressions labelled "played within 7 days";
3. feature tables: daily member and title snapshots on Spark (time travel);
4. ``feast apply`` of ``feature_repo/`` (raw views);
5. fit on Spark over the first 28 days and publish the state (``feast apply`` again: the encoded
   on-demand view now carries the state, tagged with its hash);
6. training set: Feast's Spark point-in-time join + the same encoders in Spark, Parquet and a
   manifest;
7. train the ranking model (logistic regression, JSON, with the state hash);
8. ``feast materialize`` into Redis — the configured one, or an embedded real Redis started on
   loopback when none answers;
9. serve a few requests through the HTTP app (in-process): ``/features``, ``/rank``,
   ``/health``; print a sample vector, the ranking and timings.

Existing facts, labels and feature tables are reused unless ``--fresh`` is given.

    .venv/bin/python scripts/demo.py [--preset tiny] [--fresh]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.facts import PRESETS, generate_facts, preset, read_manifest  # noqa: E402
from demo.feature_tables import build_feature_tables, default_days  # noqa: E402
from demo.labels import generate_labels, labels_preset, read_labels  # noqa: E402
from demo.specs import DEMO_SPECS, request_times, synthetic_rows  # noqa: E402
from encoders import load  # noqa: E402
from feast_bridge.store import (  # noqa: E402
    PROJECT_ROOT,
    feast_cli,
    open_store,
    registry_state_hash,  # noqa: E402
    repo_path,
)
from scoring.train import train  # noqa: E402
from spark_jobs.fit_publish import fit_and_publish  # noqa: E402
from spark_jobs.spark_session import get_spark  # noqa: E402
from spark_jobs.training_set import build_training_set  # noqa: E402

TIMINGS: dict[str, float] = {}
warnings.filterwarnings("ignore", message=".*is an experimental feature", category=RuntimeWarning)
warnings.filterwarnings("ignore", message=".*httpx2")


class stage:  # noqa: N801 - reads as a statement
    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        print(f"[{self.name}] ...", flush=True)
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        TIMINGS[self.name] = time.perf_counter() - self.t0
        if exc[0] is None:
            print(f"[{self.name}] done in {TIMINGS[self.name]:.1f}s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description="run the skewless main job end to end")
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS),
                    help="size of the generated facts (tiny: seconds; large: 10M events)")
    ap.add_argument("--fresh", action="store_true", help="regenerate facts, labels and tables")
    args = ap.parse_args()

    data = Path(os.environ.get("SKEWLESS_DATA_DIR", PROJECT_ROOT / "data")).resolve()
    repo = repo_path()
    state_path = Path(os.environ.get("SKEWLESS_STATE_PATH", repo / "encoder_state.json"))
    facts_dir, labels_dir = data / "facts", data / "labels"
    features_dir, training_dir = data / "features", data / "training" / "v1"
    config = preset(args.preset)
    reuse = (not args.fresh and (facts_dir / "_facts_manifest.json").exists()
             and read_manifest(facts_dir) == config and (features_dir / "title_features").exists()
             and labels_dir.exists())

    spark = get_spark("skewless-main-job")
    if reuse:
        print(f"reusing facts, labels and feature tables in {data} (--fresh to rebuild)")
    else:
        with stage("facts"):
            generate_facts(config, facts_dir, overwrite=True)
        with stage("labels"):
            generate_labels(facts_dir, labels_dir, labels_preset(args.preset), overwrite=True)
        with stage("feature tables"):
            build_feature_tables(spark, facts_dir, features_dir)
    with stage("feast apply"):
        feast_cli("apply", repo=repo)
    start = datetime(config.start.year, config.start.month, config.start.day,
                     tzinfo=timezone.utc)
    with stage("fit + publish"):
        pub = fit_and_publish(spark, features_dir, start, start + timedelta(days=28),
                              DEMO_SPECS, state_path, repo=repo)
    store = open_store(repo)
    enc = load(state_path, expected_hash=registry_state_hash(store))
    with stage("training set"):
        manifest = build_training_set(store, read_labels(spark, labels_dir), enc, training_dir,
                                      overwrite=True, inputs={"labels": str(labels_dir)})

    model_path = data / "models" / "ranker.json"
    with stage("train model"):
        model = train(training_dir, model_path)
    from services import ensure_redis

    with stage("redis"):
        print("  " + ensure_redis())
    end = start + timedelta(days=config.days + 1)
    with stage("materialize"):
        store.materialize(start - timedelta(days=365 * 4), end)
    last = default_days(facts_dir)[-1]  # the newest snapshot: 00:00 UTC of that day
    served = serve_a_few(spark, labels_dir, datetime(last.year, last.month, last.day, 12,
                                                     tzinfo=timezone.utc), data)

    sample = spark.read.parquet(str(training_dir / "data")).limit(1).collect()[0].asDict()
    per_row = []
    rows, times = synthetic_rows(2000, seed=3), request_times(2000)
    for _ in range(5):
        t0 = time.perf_counter()
        for r, t in zip(rows, times):
            enc.encode_vector(r, t)
        per_row.append((time.perf_counter() - t0) / len(rows) * 1e6)

    print("\n=== skewless main job ===")
    print(f"data           {data}")
    print(f"feature repo   {repo}")
    print(f"encoder state  {pub.state_path}  {pub.content_hash}")
    print(f"               fitted on {pub.rows_per_table}")
    print(f"training set   {training_dir}  {manifest.row_count} rows, "
          f"{manifest.time_range[0]} .. {manifest.time_range[1]}")
    print(f"sample row     member {sample['member_id']} title {sample['title_id']} at "
          f"{sample['event_timestamp']} label {sample['label']}")
    vector = [sample[n] for n in enc.names]
    print("               " + ", ".join(f"{v:.4g}" for v in vector[:16]) + ", …"
          f" ({enc.width} values)")
    print(f"model          {model['model_id']}: {model['rows']} rows, hold-out AUC "
          f"{model['holdout_auc']:.3f} -> {model_path}")
    print(f"served         /features member {served['member']} at {served['when']}: "
          f"statuses {served['statuses']}")
    print("               " + ", ".join(f"{v:.4g}" for v in served["vector"][:16])
          + f", … ({len(served['vector'])} values)")
    print(f"               /rank top 5 of {served['candidates']}: "
          + ", ".join(f"{r['title_id']} ({r['score']:.3f})" for r in served["ranking"][:5]))
    print(f"               /health ok={served['health']['ok']}; vector log {served['log']}")
    print(f"encode speed   median {statistics.median(per_row):.2f} µs/row "
          f"({len(enc.encoders)} encoders, {enc.width} outputs)")
    print("timings        " + ", ".join(f"{k} {v:.1f}s" for k, v in TIMINGS.items()))


def serve_a_few(spark, labels_dir: Path, when: datetime, data: Path) -> dict:
    """Start the HTTP app in-process and send it a few requests."""
    from fastapi.testclient import TestClient

    from serving.api import create_app
    from serving.settings import Settings

    member = spark.read.parquet(str(labels_dir)).where("member_id < 2000000").orderBy(
        "impression_ts").first()["member_id"]
    settings = Settings.from_env()
    with stage("serve"), TestClient(create_app(settings)) as client:
        feats = client.post("/features", json={
            "entities": [{"member_id": member, "title_id": 500000}],
            "request_time": when.isoformat(), "device": "tv"}).json()
        cands = list(range(500000, 500100))
        rank = client.post("/rank", json={"member_id": member, "candidates": cands,
                                          "request_time": when.isoformat(),
                                          "device": "tv"}).json()
        health = client.get("/health").json()
    return {"member": member, "when": when.isoformat(), "vector": feats["vectors"][0],
            "statuses": feats["statuses"][0], "ranking": rank["ranking"],
            "candidates": len(cands), "health": health, "log": settings.log_dir}


if __name__ == "__main__":
    main()
