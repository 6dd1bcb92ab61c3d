"""The materialization benchmark's figures (``bench/bench_materialize.py``): medians per
variant and window from the worker runs and the floor runs, the issue's targets in the
``{label: {value, limit, met}}`` form, and the printed table."""

from __future__ import annotations

import statistics

MIN_RATE_ROWS = 10_000  # fewer rows written: a rate says more about fixed costs than throughput


def summarize(runs: list[dict], floors: list[dict], wins: dict) -> dict:
    floor_rps = statistics.median(f["rows_written"] / f["seconds"] for f in floors)
    out = {"floor": {"rows_written": floors[0]["rows_written"],
                     "seconds_median": statistics.median(f["seconds"] for f in floors),
                     "rows_per_s_median": floor_rps,
                     "cpu_s_median": statistics.median(f["cpu_s"] for f in floors)}}
    variants = list(dict.fromkeys(r["variant"] for r in runs))
    for variant in variants:
        mine = [r for r in runs if r["variant"] == variant]
        summary: dict = {"engine": mine[0]["startup"]["engine"],
                         "startup_s_median": statistics.median(r["startup"]["seconds"]
                                                               for r in mine)}
        for phase in ("day", "full", "rerun"):
            secs = statistics.median(r[phase]["seconds"] for r in mine)
            window = wins["full" if phase == "rerun" else phase]
            written = mine[0][phase]["rows_written"]
            rps = statistics.median(r[phase]["rows_written"] / r[phase]["seconds"] for r in mine)
            summary[phase] = {
                "rows_written": written, "rows_read": window["rows_read"],
                "seconds_median": secs,
                "seconds_all": [round(r[phase]["seconds"], 2) for r in mine],
                "rows_written_per_s": rps,
                "rows_read_per_s": window["rows_read"] / secs,
                "ratio_to_floor": rps / floor_rps,
                "cpu_s_median": statistics.median(r[phase]["cpu_s"] for r in mine),
                "redis_cpu_s_median": statistics.median(r[phase]["redis_cpu_s"] for r in mine),
                "peak_rss_mib_max": max(r[phase]["peak_rss_mib"] for r in mine),
            }
            if "write_s" in mine[0][phase]:
                reads = [r[phase]["read_s"] for r in mine]
                write_rps = statistics.median(r[phase]["engine_rows"] / r[phase]["write_s"]
                                              if r[phase]["write_s"] > 0 else 0.0
                                              for r in mine)
                summary[phase].update({
                    "read_s_median": None if None in reads else statistics.median(reads),
                    "write_s_median": statistics.median(r[phase]["write_s"] for r in mine),
                    "write_rows_per_s": write_rps,
                    "write_ratio_to_floor": write_rps / floor_rps,
                })
        out[variant] = summary
    if "skewless" in out and "local" in out:
        # speed-up as a ratio of wall times (a re-run writes 0 rows: rows/s would divide by 0)
        out["skewless_vs_local"] = {
            phase: out["local"][phase]["seconds_median"] / out["skewless"][phase]["seconds_median"]
            for phase in ("day", "full", "rerun")}
    return out


def targets(summary: dict) -> dict:
    """The issue's materialization targets in ``{label: {value, limit, met}}`` form: the
    engine's write phase (serialization + Redis, one row per entity) at ≥ 50k rows/s and
    ≥ 30% of the raw HSET floor, for the day and the full window."""
    mine = summary.get("skewless") or {}
    out: dict = {}
    for phase in ("day", "full"):
        p = mine.get(phase) or {}
        rps, ratio = p.get("write_rows_per_s"), p.get("write_ratio_to_floor")
        rps = None if rps is None else round(rps)
        few = p.get("rows_written", 0) < MIN_RATE_ROWS
        note = (f"not judged: {p.get('rows_written', 0):,} rows are too few for a rate (fixed "
                "costs dominate); run without --quick")
        for label, value, limit in ((f"skewless write phase rows/s, {phase} window, ≥", rps,
                                     50_000),
                                    (f"skewless write phase ÷ raw HSET floor, {phase} window, ≥",
                                     ratio, 0.30)):
            if few or value is None:
                out[label] = {"value": None, "limit": limit, "met": None,
                              "note": note if few else "not measured"}
            else:
                out[label] = {"value": value, "limit": limit, "met": value >= limit}
    return out


def print_summary(summary: dict) -> None:
    f = summary["floor"]
    print(f"\nraw HSET floor: {f['rows_written']} rows in {f['seconds_median']:.2f} s = "
          f"{f['rows_per_s_median']:,.0f} rows/s (client cpu {f['cpu_s_median']:.2f} s)")
    print(f"{'variant':22s} {'phase':6s} {'written':>8s} {'read':>9s} {'sec':>7s} "
          f"{'written/s':>10s} {'read/s':>10s} {'÷floor':>7s} {'cpu s':>6s} {'rss MiB':>8s}")
    for variant, s in summary.items():
        if variant in ("floor", "skewless_vs_local"):
            continue
        for phase in ("day", "full", "rerun"):
            p = s[phase]
            print(f"{variant:22s} {phase:6s} {p['rows_written']:8d} {p['rows_read']:9d} "
                  f"{p['seconds_median']:7.2f} {p['rows_written_per_s']:10,.0f} "
                  f"{p['rows_read_per_s']:10,.0f} {p['ratio_to_floor']:7.3f} "
                  f"{p['cpu_s_median']:6.1f} {p['peak_rss_mib_max']:8.0f}")
            if "write_rows_per_s" in p:
                read = p["read_s_median"]
                print(f"{'':22s}   engine phases: read {'-' if read is None else f'{read:.2f}'} s"
                      f", write {p['write_s_median']:.2f} s = {p['write_rows_per_s']:,.0f} "
                      f"rows/s written ({p['write_ratio_to_floor']:.2f} x floor)")
        print(f"{variant:22s} startup (imports + JVM + first job): {s['startup_s_median']:.1f} s")
    if "skewless_vs_local" in summary:
        ratios = ", ".join(f"{k} {v:.2f}x" for k, v in summary["skewless_vs_local"].items())
        print(f"skewless / local rows/s (Spark read included): {ratios}")
