"""The main job, end to end on the embedded defaults.

Today it covers the encoder library: fit the demo model's encoder set (20 encoders, 47 outputs)
from sufficient statistics of deterministic synthetic rows, publish the state as JSON with its
content hash, reload it, encode a clean row and a row made only of edge inputs, and time
encoding. Later stages (facts, Spark feature tables, Feast, Redis, serving) extend this job.

    .venv/bin/python scripts/demo.py [--out artifacts] [--rows 5000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from encoders import collect_statistics, fit, load, save, stat_requests  # noqa: E402
from encoders.demo_specs import DEMO_SPECS, request_times, synthetic_rows  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description="run the skewless demo job")
    ap.add_argument("--out", type=Path, default=Path("artifacts"), help="output folder")
    ap.add_argument("--rows", type=int, default=5000, help="synthetic training rows")
    args = ap.parse_args()
    if args.rows < 10:
        ap.error("--rows must be at least 10 so every encoder sees present values")

    t0 = time.perf_counter()
    rows = synthetic_rows(args.rows, seed=1)
    stats = collect_statistics(rows, stat_requests(DEMO_SPECS))
    enc = fit(DEMO_SPECS, stats)
    path = save(enc, args.out / "encoder_set.json")
    again = load(path, expected_hash=enc.content_hash)
    assert again == enc
    fit_s = time.perf_counter() - t0

    when = datetime(2026, 11, 3, 20, 15, tzinfo=timezone.utc)
    sample = synthetic_rows(1, seed=99, messy_rate=0.0)[0]
    edge = {
        "watch_minutes_7d": float("nan"),
        "watch_minutes_28d": -5,
        "titles_started_7d": "3",
        "completion_rate_28d": float("inf"),
        "top_genre_28d": "Te\u0301le\u0301novela",
        "last_watch_ts": datetime(2026, 11, 2),
        "thumbs_up_ratio": True,
        "country": "",
        "plan": b"\xff",
        "tenure_days": None,
        "title_plays_7d": 10**400,
        "release_year": "1999.0",
        "maturity_rating": "NC-17",
        "device": "  tv ",
        "is_kids_profile": "yes",
    }

    times = request_times(2000)
    bench_rows = synthetic_rows(2000, seed=3)
    per_row = []
    for _ in range(5):
        s = time.perf_counter()
        for r, t in zip(bench_rows, times):
            again.encode_vector(r, t)
        per_row.append((time.perf_counter() - s) / len(bench_rows) * 1e6)

    print(
        f"encoder set : {len(enc.encoders)} encoders, {enc.width} outputs, "
        f"fitted from {args.rows} rows in {fit_s:.2f}s"
    )
    print(f"state       : {path}  {enc.content_hash}")
    print(f"sample row  @ {when.isoformat()}:")
    for name, value in again.encode_row(sample, when).items():
        print(f"  {name:32s} {value!r}")
    print(
        "edge-input row (NaN, -5, '3', inf, NFD unicode, naive datetime, True, '', non-UTF-8, "
        "None, 10**400, '1999.0', unseen, padded):"
    )
    print("  " + ", ".join(f"{v:g}" for v in again.encode_vector(edge, when)))
    print(
        f"encode_vector: median {statistics.median(per_row):.2f} µs/row over 5 x 2000 rows "
        "(bench/bench_encoders.py compares it with a hand-written floor)"
    )


if __name__ == "__main__":
    main()
