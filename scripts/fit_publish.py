"""Fit the demo encoders on Spark over a training window and publish the state to the Feast repo.

    .venv/bin/python scripts/fit_publish.py --features data/features \
        --start 2024-01-01 --end 2024-01-29 [--state feature_repo/encoder_state.json] [--no-apply]
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.specs import DEMO_SPECS  # noqa: E402
from feast_bridge.store import repo_path  # noqa: E402


def day(text: str) -> datetime:
    try:
        d = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", type=Path, required=True, help="feature tables folder")
    ap.add_argument("--start", type=day, required=True, help="window start (inclusive)")
    ap.add_argument("--end", type=day, required=True, help="window end (exclusive)")
    ap.add_argument("--state", type=Path, default=None,
                    help="where to write the state (default: <feature repo>/encoder_state.json)")
    ap.add_argument("--no-apply", action="store_true", help="do not run `feast apply`")
    args = ap.parse_args()
    if args.start >= args.end:
        ap.error("--start must be before --end")

    from spark_jobs.fit_publish import fit_and_publish
    from spark_jobs.spark_session import get_spark

    repo = repo_path()
    state = args.state or repo / "encoder_state.json"
    pub = fit_and_publish(get_spark("skewless-fit"), args.features, args.start, args.end,
                          DEMO_SPECS, state, repo=None if args.no_apply else repo)
    print(f"state {pub.state_path}\nhash  {pub.content_hash}\nrows  {pub.rows_per_table}")


if __name__ == "__main__":
    main()
