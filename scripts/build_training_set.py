"""The demo's training set from the demo's generated labels (``impression_ts`` is the label
time, ``played_within_7d`` the label, renamed ``event_timestamp`` / ``label`` by
``demo.labels.read_labels``). For any other labels use ``skewless training-set``.

    .venv/bin/python scripts/build_training_set.py --labels data/labels --out data/training/v1 \
        [--service ranker] [--overwrite]

Uses the service's published state (``SKEWLESS_FEATURE_REPO``, default the demo repo).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=Path, required=True, help="demo labels folder (Parquet)")
    ap.add_argument("--out", type=Path, required=True, help="training set folder to create")
    ap.add_argument("--service", default="ranker", help="encoded service (default ranker)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing set")
    args = ap.parse_args()

    from demo.labels import read_labels
    from feast_bridge.services import get_service
    from feast_bridge.store import open_store
    from spark_jobs.spark_session import short_job_for, start_spark
    from spark_jobs.training_set import build_training_set

    starting = start_spark("skewless-training-set", short_job=short_job_for(args.labels))
    store = open_store()
    info = get_service(store, args.service)
    enc = info.load_state()
    spark = starting.result()
    manifest = build_training_set(
        store, read_labels(spark, args.labels), enc, args.out, service=info.name,
        overwrite=args.overwrite,
        inputs={"labels": str(args.labels.resolve()), "state": str(info.state_path)})
    print(f"training set {args.out}: {manifest.row_count} rows, {manifest.time_range[0]} .. "
          f"{manifest.time_range[1]}, state {manifest.state_hash}")


if __name__ == "__main__":
    main()
