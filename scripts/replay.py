"""Replay the served-vector log through the offline path at the logged times: match rate per
feature (the consistency measure Chronon reports) and the differences, classified.

    .venv/bin/python scripts/replay.py [--log-dir data/vector_log] [--training-set ...] \
        [--since 2024-02-01T00:00:00+00:00] [--until ...] [--limit 5000] [--json out.json]

Exit code 0: every feature within tolerance; 1: above tolerance or another state was served;
2: bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skew.cli import (  # noqa: E402
    PROJECT_ROOT,
    BadInput,
    add_common,
    finish,
    run,
    tolerances,
    training_state,
)


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"{text!r} is not an ISO-8601 time; write e.g. "
                       "2024-02-01T00:00:00+00:00") from None
    if t.tzinfo is None:
        raise BadInput(f"{text!r} has no UTC offset; add +00:00")
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common(ap)
    data = Path(os.environ.get("SKEWLESS_DATA_DIR", PROJECT_ROOT / "data"))
    ap.add_argument("--log-dir", default=os.environ.get("SKEWLESS_VECTOR_LOG_DIR",
                                                        str(data / "vector_log")))
    ap.add_argument("--since", default=None)
    ap.add_argument("--until", default=None)
    ap.add_argument("--limit", type=int, default=None, help="replay the most recent N rows")
    args = ap.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        raise BadInput(f"--limit {args.limit} must be >= 1")

    from skew.replay import replay_log

    enc = training_state(args)
    report = replay_log(args.log_dir, args.repo, enc, as_known=not args.no_as_known,
                        tolerances=tolerances(args, list(enc.names)), since=_time(args.since),
                        until=_time(args.until), limit=args.limit)
    return finish(report, args)


if __name__ == "__main__":
    sys.exit(run(main))
