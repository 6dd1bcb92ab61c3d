"""The issue's targets for ``bench/bench_training_set.py``, judged from its per-size summaries.

* A: at 1M labels the Spark path is not slower than Feast's ``to_df`` (or Feast cannot build
  the set); B: at the largest size the Spark path finishes while ``to_df`` runs out of memory or
  is ``factor`` x slower;
* C: per size, the Spark path's wall time within :data:`FLOOR_RATIO_LIMITS` x the DuckDB
  floor's (medians), judged from :data:`FLOOR_RATIO_FROM` labels on.
"""

from __future__ import annotations

#: the issue's ceiling of spark wall / floor wall: 5x up to 100k labels, 3x above
FLOOR_RATIO_LIMITS = ((100_000, 5.0), (10**12, 3.0))
FLOOR_RATIO_FROM = 100_000  # the smallest size: smaller runs (--quick) are not judged


def targets(sizes: dict, factor: float) -> dict:
    """A (the issue's): at 1M labels (or, when 1M was not run, the smallest size, recorded as
    ``A_size``) the spark path is at least as fast as feast's to_df, or feast cannot build the
    set at all; also against each ``feast@<memory>`` retry. B: at the largest size the spark
    path finishes while feast runs out of memory or is ``factor`` x slower."""
    def oom(x: dict) -> bool:
        return x["ok_runs"] == 0 and ("memory" in x["status"] or "OOM" in x["status"])

    a_size = "1000000" if "1000000" in sizes else min(sizes, key=int)
    small, big = sizes[a_size]["summary"], sizes[max(sizes, key=int)]["summary"]
    floor = floor_targets(sizes)
    if "feast" not in small:
        return {"skipped": "the feast path was not run (--paths)", **floor}
    out = {**floor, "A_size": int(a_size),
           "A_spark_not_slower_than_feast": small["spark"]["ok_runs"] > 0 and (
               oom(small["feast"]) or small["spark"]["wall_s"] <= small["feast"]["wall_s"])}
    out |= {f"A_spark_not_slower_than_{k}": small["spark"]["wall_s"] <= x["wall_s"]
            for k, x in small.items() if k.startswith("feast@") and x["ok_runs"]}
    sp, fe = big["spark"], big["feast"]
    return out | {"B_spark_finishes": sp["ok_runs"] > 0,
                  "B_feast_oom_or_3x_slower": sp["ok_runs"] > 0 and (
                      oom(fe) or fe["wall_s"] >= factor * sp["wall_s"]),
                  "B_feast_status": fe["status"]}


def floor_targets(sizes: dict) -> dict:
    """C (the issue's): per size, spark wall ÷ floor wall (medians) within
    :data:`FLOOR_RATIO_LIMITS`, as ``{"spark ÷ floor wall at N labels": {"value", "limit",
    "met"}}`` (``met`` false when either path did not finish, ``None`` — not judged — below
    :data:`FLOOR_RATIO_FROM` labels)."""
    out = {}
    for size, entry in sizes.items():
        s = entry["summary"]
        if "floor" not in s:
            continue
        limit = next(lim for upto, lim in FLOOR_RATIO_LIMITS if int(size) <= upto)
        ratio = s["ratios"]["spark_over_floor_wall"]
        ok = s["spark"]["ok_runs"] > 0 and s["floor"]["ok_runs"] > 0
        judged = int(size) >= FLOOR_RATIO_FROM
        label = f"spark ÷ floor wall at {int(size):,} labels" + (
            "" if judged else f" (not judged below {FLOOR_RATIO_FROM:,})")
        out[label] = {"value": round(ratio, 2), "limit": limit,
                      "met": (ok and ratio <= limit) if judged else None}
    return out
