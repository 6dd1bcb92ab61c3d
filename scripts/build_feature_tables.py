"""Build member_features and title_features (daily snapshots + restatements) with Spark.

Example: python scripts/build_feature_tables.py --facts data/facts --out data/features \
    --start 2024-01-10 --end 2024-01-20
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta
from pathlib import Path

from demo.feature_tables import build_feature_tables, default_days
from spark_jobs.spark_session import get_spark


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2024-01-31, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", required=True, type=Path, help="facts directory")
    parser.add_argument("--out", required=True, type=Path, help="feature tables directory")
    parser.add_argument("--start", type=_day, help="first snapshot day (default: all days)")
    parser.add_argument("--end", type=_day, help="last snapshot day, inclusive")
    parser.add_argument("--master", default=None, help="Spark master (default local[2])")
    args = parser.parse_args(argv)
    try:
        available = default_days(args.facts)
    except (FileNotFoundError, ValueError) as exc:
        parser.error(str(exc))
    start = args.start or available[0]
    end = args.end or available[-1]
    if end < start:
        parser.error(f"--end {end} is before --start {start}: swap them")
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    try:
        spark = get_spark("skewless-feature-tables", master=args.master)
    except (RuntimeError, ValueError) as exc:
        parser.error(str(exc))
    started = time.perf_counter()
    result = build_feature_tables(spark, args.facts, args.out, days)
    elapsed = time.perf_counter() - started
    print(
        f"wrote {result.member_rows} member rows to {result.member_path} and "
        f"{result.title_rows} title rows to {result.title_path} for {len(days)} days "
        f"({days[0]}..{days[-1]}) in {elapsed:.1f}s"
    )
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
