"""What the served log costs: ``/rank`` with 100 candidates served with no log, the JSON-lines
vector log and the Parquet served-facts log, side by side in one run; the log's bytes per
served row; and the daily consistency job's time per 100,000 logged rows.

    .venv/bin/python -m bench.bench_facts_log [--clients 16 64] [--rounds 3] [--seconds 10]
        [--candidates 100] [--out bench/facts_log_results.json]

Three uvicorn servers (``SKEWLESS_LOG_FORMAT`` ``off``, ``jsonl``, ``parquet``; one worker
each) serve the benchmark's tiny main job (``bench/bench_online.py``'s cache, Redis db 12 of
``SKEWLESS_REDIS_HOST:PORT``) at its request time. For each round and client count the three
are loaded one after the other (``bench/load_rank.py``, closed loop, the order rotating by
round); medians over rounds of req/s, p50, p99 and server CPU per answer, and ratios to
``off``. Then the servers are stopped with SIGTERM (their logs closed), and:

* **bytes per served row**: the log folder's size over the rows it holds (read back with
  :func:`serving.log_reader.open_log`);
* **consistency per 100k rows**: ``skewless consistency --date <request day>`` on the Parquet
  log (one process, Spark start included), its wall time scaled to 100,000 logged rows.

The load client shares the 2 cores with the servers: read ratios, not absolute figures, and the
load average (in the result).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_online import DEFAULT_CACHE, WHEN, cache_env, ensure_data
from bench.load_compare import side_by_side
from serving.log_reader import open_log

ROOT = Path(__file__).resolve().parents[1]

REDIS_DB = 12
FORMATS = ("off", "jsonl", "parquet")


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _logged_rows(folder: Path) -> int:
    return sum(len(r["rows"]) for r in open_log(folder))


def load(clients: list[int], rounds: int, seconds: float, candidates: int, logs: Path,
         env: dict[str, str]) -> dict[str, Any]:
    """Load the three servers side by side (module docstring); their logs under ``logs``."""
    servers = {f: (ROOT, 1, {**env, "SKEWLESS_LOG_FORMAT": f,
                             "SKEWLESS_VECTOR_LOG_DIR": str(logs / f)}) for f in FORMATS}
    got = side_by_side(servers, clients, rounds, seconds, candidates, WHEN.isoformat())
    return {"medians": got["medians"], "ratios_to_off": got["ratios_after_over_before"],
            "runs": got["runs"]}


def consistency_time(log: Path, env: dict[str, str]) -> dict[str, Any]:
    """``skewless consistency`` of the request day on ``log``: wall seconds, rows, per 100k."""
    rows = _logged_rows(log)
    table = Path(tempfile.mkdtemp(prefix="facts-bench-table-"))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "skewless", "consistency", "--service",
                           "ranker", "--date", WHEN.date().isoformat(), "--log", str(log),
                           "--out", str(table)], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"skewless consistency failed:\n{proc.stdout[-2000:]}\n"
                         f"{proc.stderr[-2000:]}")
    return {"rows": rows, "seconds": seconds, "seconds_per_100k_rows": seconds * 100_000 / rows,
            "exit_code": proc.returncode, "summary": proc.stdout.strip().splitlines()[:2]}


def markdown(result: dict[str, Any]) -> str:
    rows = ["| log | clients | req/s | p50 ms | p99 ms | server CPU ms/answer | req/s ÷ off "
            "| p50 ÷ off | p99 ÷ off |", "|---|---|---|---|---|---|---|---|---|"]
    for f, per in result["load"]["medians"].items():
        for c, m in per.items():
            r = result["load"]["ratios_to_off"].get(f, {}).get(c)
            rows.append(f"| {f} | {c} | {m['throughput_rps']:.1f} | {m['p50_ms']:.1f} | "
                        f"{m['p99_ms']:.1f} | {m['server_cpu_ms_per_answer']:.2f} | "
                        + (f"{r['throughput_rps']:.2f} | {r['p50_ms']:.2f} | "
                           f"{r['p99_ms']:.2f} |" if r else "– | – | – |"))
    size, cons = result["bytes_per_row"], result["consistency"]
    rows.append("")
    rows.append(f"Bytes per served row: JSON lines {size['jsonl']:.0f}, Parquet "
                f"{size['parquet']:.0f}." + (
                    f" Consistency: {cons['rows']:,} rows in {cons['seconds']:.1f} s = "
                    f"{cons['seconds_per_100k_rows']:.1f} s per 100k rows." if cons else ""))
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--candidates", type=int, default=100)
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--no-consistency", action="store_true",
                    help="skip the consistency job (its time grows with the rows logged)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "facts_log_results.json")
    a = ap.parse_args()
    ensure_data(a.cache_dir, REDIS_DB)
    env = cache_env(a.cache_dir, REDIS_DB)
    logs = Path(tempfile.mkdtemp(prefix="facts-bench-logs-"))
    result: dict[str, Any] = {"candidates_per_request": a.candidates, "seconds": a.seconds,
                              "rounds": a.rounds, "cpu_count": os.cpu_count()}
    result["load"] = load(a.clients, a.rounds, a.seconds, a.candidates, logs, env)
    result["bytes_per_row"] = {f: _folder_bytes(logs / f) / max(1, _logged_rows(logs / f))
                               for f in ("jsonl", "parquet")}
    result["consistency"] = (None if a.no_consistency
                             else consistency_time(logs / "parquet", env))
    result["load_average_after"] = os.getloadavg()
    a.out.write_text(json.dumps(result, indent=2, default=str))
    print(markdown(result))
    print(f"written {a.out}; logs in {logs}")


if __name__ == "__main__":
    main()
