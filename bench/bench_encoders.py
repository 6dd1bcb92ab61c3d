"""Benchmark: encoding one row with the demo set (20 encoders, 47 outputs) vs a plain floor.

The floor is one hand-written function that does the same arithmetic for clean inputs with no
missing-value policy, no coercion and no dispatch (a dict literal of the 47 expressions): the
least work any encoder could do. Both run side by side, alternating batches, on one core; we
report the median per-row time over batches and the ratio.

    .venv/bin/python -m bench.bench_encoders [--rows 2000] [--repeats 41] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from bisect import bisect_right
from functools import lru_cache
from pathlib import Path

from demo.specs import DEMO_SPECS, request_times, synthetic_rows
from encoders import collect_statistics, fit, stat_requests
from encoders.categorical import stable_bucket


def make_floor(enc):
    """The same arithmetic as ``enc`` for clean rows, written out by hand as one dict literal.

    It gets every shortcut the encoders get (precomputed one-hot rows, cached stable hashes,
    precomputed sin/cos) and none of the policy: no coercion, no missing checks, no dispatch.
    """
    st = {e.spec.name: e.state for e in enc.encoders}
    z1, q3 = st["watch_minutes_7d_z"], st["titles_started_7d_q"].boundaries
    tz, ten = st["title_completion_rate_z"], st["tenure_days_mm"]
    rq = st["runtime_q"].boundaries
    rng = ten.max - ten.min

    def onehot(tokens):
        n = len(tokens) + 1
        rows = [tuple(float(i == j) for j in range(n)) for i in range(n)]
        return {t: rows[i] for i, t in enumerate(tokens)}, rows[-1]

    genre, genre_oov = onehot(st["top_genre_28d_oh"].tokens)
    plan, plan_oov = onehot(st["plan_oh"].tokens)
    mat, mat_oov = onehot(st["maturity_oh"].tokens)
    ctry = {t: i + 2 for i, t in enumerate(st["country_idx"].tokens)}
    hours = [(math.sin(2 * math.pi * h / 24), math.cos(2 * math.pi * h / 24)) for h in range(24)]
    days = [(math.sin(2 * math.pi * d / 7), math.cos(2 * math.pi * d / 7)) for d in range(7)]
    cross = lru_cache(65536)(lambda a, b: stable_bucket(f"{len(a)}\x1f{a}\x1f{b}", 1024))
    dev = lru_cache(65536)(lambda a: stable_bucket(a, 64))
    log1p, names = math.log1p, enc.names
    yr = (1990.0, 2000.0, 2010.0, 2020.0)

    def floor(r, now_dt):
        now = now_dt.timestamp()
        cr, tu, ds = r["completion_rate_28d"], r["thumbs_up_ratio"], (
            now - r["last_watch_ts"].timestamp()) / 86400
        mm = (r["tenure_days"] - ten.min) / rng
        values = (
            (r["watch_minutes_7d"] - z1.mean) / z1.scale, 0.0,
            log1p(r["watch_minutes_28d"]) if r["watch_minutes_28d"] > 0 else 0.0,
            bisect_right(q3, r["titles_started_7d"]),
            0.0 if cr < 0.0 else (1.0 if cr > 1.0 else cr), 0.0,
            *genre.get(r["top_genre_28d"], genre_oov),
            0.0 if ds < 0.0 else (90.0 if ds > 90.0 else ds), 0.0,
            0.0 if tu < 0.0 else (1.0 if tu > 1.0 else tu), 0.0,
            ctry.get(r["country"], 1),
            *plan.get(r["plan"], plan_oov),
            0.0 if mm < 0.0 else (1.0 if mm > 1.0 else mm),
            log1p(r["title_plays_7d"]) if r["title_plays_7d"] > 0 else 0.0,
            (r["title_completion_rate_28d"] - tz.mean) / tz.scale,
            r["title_thumbs_up_rate"], 0.0,
            bisect_right(yr, r["release_year"]),
            *mat.get(r["maturity_rating"], mat_oov),
            bisect_right(rq, r["runtime_minutes"]),
            cross(r["country"], r["title_genre"]), dev(r["device"]),
            *hours[int(now // 3600) % 24], *days[(int(now // 86400) + 3) % 7],
        )
        return dict(zip(names, values))

    return floor


def per_row_us(fn, rows, times) -> float:
    t0 = time.perf_counter()
    for r, t in zip(rows, times):
        fn(r, t)
    return (time.perf_counter() - t0) / len(rows) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2000, help="rows per timed batch")
    ap.add_argument("--repeats", type=int, default=41, help="alternating batches per variant")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args()
    if args.rows < 1 or args.repeats < 1:
        ap.error("--rows and --repeats must be >= 1")

    train = synthetic_rows(5000, seed=1)
    enc = fit(DEMO_SPECS, collect_statistics(train, stat_requests(DEMO_SPECS)))
    rows = synthetic_rows(args.rows, seed=3, messy_rate=0.0)
    messy = synthetic_rows(args.rows, seed=4)
    times = request_times(len(rows))
    floor = make_floor(enc)
    # the floor must compute the same numbers as the encoders on clean rows
    for r, t in zip(rows[:200], times):
        a, b = enc.encode_row(r, t), floor(r, t)
        assert list(a) == list(b), "floor schema differs"
        assert all(math.isclose(a[k], b[k], rel_tol=1e-12, abs_tol=1e-12) for k in a), (a, b)

    variants = {
        "encode_vector (clean rows)": (enc.encode_vector, rows, times),
        "encode_vector (messy rows)": (enc.encode_vector, messy, times),
        "encode_row dict (clean rows)": (enc.encode_row, rows, times),
        "floor: hand-written dict literal (clean rows)": (floor, rows, times),
    }
    samples: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.repeats):  # alternate so machine drift hits every variant alike
        for name, (fn, rs, ts) in variants.items():
            samples[name].append(per_row_us(fn, rs, ts))
    floor_med = statistics.median(samples["floor: hand-written dict literal (clean rows)"])
    result = {
        "machine": f"{platform.machine()} {platform.python_implementation()} "
                   f"{platform.python_version()}",
        "encoders": len(enc.encoders), "outputs": enc.width, "rows_per_batch": args.rows,
        "batches": args.repeats,
        "median_us_per_row": {k: round(statistics.median(v), 3) for k, v in samples.items()},
        "p90_us_per_row": {k: round(statistics.quantiles(v, n=10)[-1], 3)
                           for k, v in samples.items()},
    }
    result["ratio_to_floor"] = {k: round(v / floor_med, 2)
                                for k, v in result["median_us_per_row"].items()}
    print(f"{result['encoders']} encoders, {result['outputs']} outputs, {args.repeats} batches "
          f"x {args.rows} rows, {result['machine']}")
    print(f"{'variant':42s} {'median µs/row':>14s} {'p90':>8s} {'x floor':>8s}")
    for k in samples:
        print(f"{k:42s} {result['median_us_per_row'][k]:14.2f} "
              f"{result['p90_us_per_row'][k]:8.2f} {result['ratio_to_floor'][k]:8.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
