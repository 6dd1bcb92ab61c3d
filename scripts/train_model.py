"""Train the ranking model (logistic regression) on a training set; save it as JSON with the
encoder-state hash it was trained on.

    .venv/bin/python scripts/train_model.py --training-set data/training/v1 \
        --out data/models/ranker.json [--max-rows 500000]

The last 20% of rows by time are held out; the AUC on them is printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--training-set", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--max-rows", type=int, default=500_000)
    args = ap.parse_args()
    if args.max_rows < 100:
        ap.error("--max-rows must be at least 100")
    from scoring.train import train

    info = train(args.training_set, args.out, args.max_rows)
    print(f"model {info['model_id']}: {info['rows']} rows, hold-out AUC "
          f"{info['holdout_auc']:.3f} -> {info['path']}")


if __name__ == "__main__":
    main()
