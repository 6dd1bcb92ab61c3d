"""Build an encoded, point-in-time-correct training set on Spark (Parquet + manifest.json).

    .venv/bin/python scripts/build_training_set.py --labels data/labels --out data/training/v1 \
        [--state feature_repo/encoder_state.json] [--feature-service ranker_raw] [--overwrite]

The encoder state must be the one published to the Feast repo (its hash is checked against the
registry's encoded view), so the training set is encoded exactly as the server will encode.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=Path, required=True, help="labels folder (Parquet)")
    ap.add_argument("--out", type=Path, required=True, help="training set folder to create")
    ap.add_argument("--state", type=Path, default=None, help="published encoder state JSON")
    ap.add_argument("--feature-service", default="ranker_raw")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing set")
    args = ap.parse_args()

    from demo.labels import read_labels
    from encoders import load
    from feast_bridge.services import registry_state_hash
    from feast_bridge.store import open_store, repo_path
    from spark_jobs.spark_session import get_spark
    from spark_jobs.training_set import build_training_set

    state = args.state or repo_path() / "encoder_state.json"
    store = open_store()
    expected = registry_state_hash(store)
    enc = load(state, expected_hash=expected)
    spark = get_spark("skewless-training-set")
    manifest = build_training_set(
        store, read_labels(spark, args.labels), enc, args.out,
        feature_service=args.feature_service, overwrite=args.overwrite,
        inputs={"labels": str(args.labels.resolve()), "state": str(Path(state).resolve())},
    )
    print(f"training set {args.out}: {manifest.row_count} rows, {manifest.time_range[0]} .. "
          f"{manifest.time_range[1]}, state {manifest.state_hash}")


if __name__ == "__main__":
    main()
