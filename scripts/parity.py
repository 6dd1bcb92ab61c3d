"""Row-level parity: offline (Spark training-set path) vs online (materialize as of each time +
the serving library) vectors, feature by feature, every difference classified.

    .venv/bin/python scripts/parity.py --labels data/labels --sample 2000 \
        [--pairs pairs.parquet|.csv|.jsonl] [--training-set data/training/v1] \
        [--state feature_repo/encoder_state.json] [--tolerances tol.json] [--json out.json] \
        [--redis-db 14]

Exit code 0: every feature within tolerance; 1: above tolerance or state hashes differ;
2: bad input. The online side materializes into a scratch Redis database (default 14,
``SKEWLESS_PARITY_REDIS_DB``), which must be empty or a previous parity run's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skew.cli import BadInput, add_common, finish, run, tolerances, training_state  # noqa: E402


def read_pairs(path: Path):
    import pandas as pd

    if not path.exists():
        raise BadInput(f"no pairs file at {path}")
    if path.suffix == ".parquet" or path.is_dir():
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix in (".jsonl", ".json"):
        return pd.read_json(path, lines=path.suffix == ".jsonl")
    raise BadInput(f"{path}: pairs must be .parquet, .csv or .jsonl")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common(ap)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--pairs", type=Path, help="entity keys + event_timestamp (+ device)")
    src.add_argument("--labels", type=Path, help="labels folder to sample pairs from")
    ap.add_argument("--sample", type=int, default=1000, help="pairs sampled from --labels")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--state", default=None,
                    help="state the server loads (default: the training state)")
    ap.add_argument("--redis-db", type=int, default=None, help="scratch Redis database")
    args = ap.parse_args(argv)

    from encoders import load
    from skew.parity import RedisTarget, parity_check, sample_pairs
    from spark_jobs.spark_session import get_spark

    enc = training_state(args)
    online_enc = load(args.state) if args.state else enc
    tol = tolerances(args, list(enc.names))
    spark = get_spark("skewless-parity")
    if args.pairs:
        pairs = read_pairs(args.pairs)
    else:
        from demo.labels import read_labels

        pairs = sample_pairs(read_labels(spark, args.labels), args.sample, args.seed)
    target = RedisTarget(db=args.redis_db) if args.redis_db is not None else None
    report = parity_check(args.repo, enc, pairs, online_enc=online_enc,
                          as_known=not args.no_as_known, tolerances=tol, redis=target,
                          spark=spark)
    return finish(report, args)


if __name__ == "__main__":
    sys.exit(run(main))
