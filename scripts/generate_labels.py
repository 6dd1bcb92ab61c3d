"""Sample impressions from generated facts and label them with played_within_7d (DuckDB).

Example: python scripts/generate_labels.py --facts data/facts --out data/labels --preset tiny
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from demo.labels import LABEL_PRESETS, generate_labels, labels_preset


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", required=True, type=Path, help="facts directory")
    parser.add_argument("--out", required=True, type=Path, help="labels output directory")
    parser.add_argument("--preset", choices=sorted(LABEL_PRESETS), default="tiny")
    parser.add_argument("--n-impressions", type=_non_negative, default=None)
    parser.add_argument("--seed", type=_non_negative, default=None)
    parser.add_argument("--overwrite", action="store_true", help="replace existing labels")
    args = parser.parse_args(argv)
    try:
        config = labels_preset(args.preset, args.seed)
        if args.n_impressions is not None:
            config = replace(config, n_impressions=args.n_impressions)
        started = time.perf_counter()
        summary = generate_labels(args.facts, args.out, config, overwrite=args.overwrite)
    except (FileExistsError, FileNotFoundError, ValueError, RuntimeError) as exc:
        parser.error(str(exc))
    elapsed = time.perf_counter() - started
    print(
        f"wrote {summary.rows} labels ({summary.positives} positive) to {summary.out_dir} "
        f"in {elapsed:.1f}s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
