"""Generate seeded streaming-service facts as Parquet.

Example: python scripts/generate_facts.py --preset tiny --out data/facts --seed 7
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from demo.facts import PRESETS, generate_facts, preset


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed must be a whole number, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError("--seed must be between 0 and 2**63 - 1")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--seed", type=_seed, default=None, help="override the preset's seed")
    parser.add_argument("--overwrite", action="store_true", help="replace existing facts in --out")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        summary = generate_facts(preset(args.preset, args.seed), args.out, overwrite=args.overwrite)
    except (FileExistsError, ValueError) as exc:
        parser.error(str(exc))
    elapsed = time.perf_counter() - started
    rows = ", ".join(f"{name}={count}" for name, count in summary.rows.items())
    print(f"wrote {args.preset} facts to {summary.out_dir} in {elapsed:.1f}s: {rows}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
