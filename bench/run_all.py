"""One benchmark command: every path side by side with its peer and its floor.

    .venv/bin/python -m bench.run_all --quick     # routine check, under ~5 minutes (warm)
    .venv/bin/python -m bench.run_all             # 100k and 1M training-set rows (about 1 h)
    .venv/bin/python -m bench.run_all --full      # adds 10M training-set rows (2-3 h or more)
    .venv/bin/python -m bench.run_all --full --only training_set --merge   # that one only

Each benchmark module under ``bench/`` exposes ``run(quick: bool) -> dict`` and generates (or
reuses, from its cache) its own data; here each runs in a fresh subprocess (``python -m
bench.run_all --child NAME`` in the checkout's root; one JVM, one Redis client set per
benchmark; a crash or out-of-memory in one does not take the others down), one
after the other, so they do not compete for the two cores. Inside each benchmark, runs that
measure the same thing alternate. The results land in ``bench/results.json`` and a readable
``BENCHMARKS.md`` (:mod:`bench.report`), with the machine, versions, medians, p99, the ratios
to peer and floor, and every target next to its figure, met or not. ``--quick`` writes both
(and each benchmark's own JSON) under ``--workdir`` instead, leaving the published figures be.

Edge cases: a benchmark that fails is recorded with its error and the exit code (and the rest
still run); the command exits 1 when any benchmark failed, 0 otherwise (a missed target is a
finding written to the report, not a failure of the command).
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

#: The training sets of a published run (the issue's sizes: 100k, 1M; ``--full`` adds 10M):
#: small facts, spark and the floor 3 times each below 2M labels (medians), the peers (Feast's
#: join, Feast's ``to_df``) once per size; at 10M each path once, the peers stopped at 3x the
#: spark path's wall time (``bench/bench_training_set.py``).
TRAINING_SIZES = "100000,1000000"
TRAINING_OPTIONS = {"facts_preset": "small", "repeats": 3, "peer_repeats": 1}
#: Seconds one benchmark may take per mode (``--timeout`` overrides). The full training-set
#: run is estimated from its parts' measured walls (10M: spark ~500 s quiet, ~1,600 s at load
#: 6-15; its two peers up to 3x that each) at 2-3 h on a quiet machine, more on a busy one.
TIMEOUTS = {"quick": 900.0, "default": 7200.0, "full": 6 * 3600.0}

#: name -> (module, keyword arguments of ``run`` per mode, the keyword of ``run`` that
#: names its own JSON output or None). ``--quick`` points that output into the work directory,
#: so a routine check leaves the committed ``bench/*_results.json`` alone.
BENCHMARKS: dict[str, tuple[str, dict[str, dict], str | None]] = {
    "online": ("bench.bench_online", {"quick": {"quick": True}, "default": {"quick": False},
                                      "full": {"quick": False}}, "json_path"),
    "training_set": ("bench.bench_training_set", {"quick": {"quick": True},
                                                  "default": {"quick": False,
                                                              "sizes": TRAINING_SIZES,
                                                              **TRAINING_OPTIONS},
                                                  "full": {"quick": False,
                                                           "sizes": f"{TRAINING_SIZES},10000000",
                                                           **TRAINING_OPTIONS}}, "json"),
    "materialization": ("bench.bench_materialize", {"quick": {"quick": True},
                                                    "default": {"quick": False},
                                                    "full": {"quick": False}}, "out"),
    "encoding": ("bench.bench_encoding_throughput", {"quick": {"quick": True},
                                                     "default": {"quick": False},
                                                     "full": {"quick": False}}, None),
    "main_job": ("bench.bench_main_job", {"quick": {"quick": True}, "default": {"quick": False},
                                          "full": {"quick": False}}, "out"),
    "parity": ("bench.bench_parity", {"quick": {"quick": True},
                                      "default": {"quick": False, "rows": 2000, "days": 32},
                                      "full": {"quick": False, "rows": 2000, "days": 32}}, "out"),
}


def _child(name: str, mode: str, out: Path) -> None:
    """Run one benchmark in this (child) process and write its result to ``out``."""
    module, kwargs, own_output = BENCHMARKS[name]
    options = dict(kwargs[mode])
    if mode == "quick" and own_output:
        options[own_output] = out.with_name(f"{name}_own.json")
    result = importlib.import_module(module).run(**options)
    out.write_text(json.dumps(result, indent=2, default=str))


def run_one(name: str, mode: str, timeout: float, workdir: Path) -> dict:
    """One benchmark in a subprocess: ``{"ok", "seconds", "result" | "error"}``."""
    out = workdir / f"{name}.json"
    out.unlink(missing_ok=True)
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "bench.run_all", "--child", name, "--mode", mode,
           "--child-out", str(out.resolve())]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, timeout=timeout, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        return {"ok": False, "seconds": round(time.perf_counter() - t0, 1),
                "error": f"timed out after {timeout:.0f} s"}
    seconds = round(time.perf_counter() - t0, 1)
    if proc.returncode != 0 or not out.exists():
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        return {"ok": False, "seconds": seconds,
                "error": f"exit code {proc.returncode}: {tail}"}
    return {"ok": True, "seconds": seconds, "result": json.loads(out.read_text())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small sizes, under ~5 minutes")
    mode.add_argument("--full", action="store_true", help="adds the 10M-row training set")
    ap.add_argument("--only", default="", help=f"comma list of {sorted(BENCHMARKS)}")
    ap.add_argument("--json", type=Path, default=None,
                    help="default bench/results.json (--quick: in the work directory)")
    ap.add_argument("--markdown", type=Path, default=None,
                    help="default BENCHMARKS.md (--quick: in the work directory)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds per benchmark (default 900 quick, 7200 default, 21600 full)")
    ap.add_argument("--merge", action="store_true",
                    help="with --only: keep the other benchmarks' published entries from --json "
                         "(each entry keeps the date it was measured, shown in the report)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/skewless-bench/run_all"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="default", help=argparse.SUPPRESS)
    ap.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child, args.mode, args.child_out)
        return 0
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        ap.error(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}")
    run_mode = "quick" if args.quick else "full" if args.full else "default"
    timeout = args.timeout or TIMEOUTS[run_mode]
    args.workdir.mkdir(parents=True, exist_ok=True)
    home = args.workdir if args.quick else None
    args.json = args.json or (home / "results.json" if home else BENCH / "results.json")
    args.markdown = args.markdown or (home / "BENCHMARKS.md" if home else ROOT / "BENCHMARKS.md")

    from bench.report import machine_facts, write_markdown

    if args.merge and not args.only:
        ap.error("--merge keeps the benchmarks not named by --only: pass --only too")
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results = {"mode": run_mode, "started": started, "machine": machine_facts(),
               "benchmarks": {}}
    if args.merge and args.json.exists():
        kept = json.loads(args.json.read_text())
        for entry in kept["benchmarks"].values():
            entry.setdefault("measured", kept["started"])
        results["benchmarks"] = kept["benchmarks"]
    t0 = time.perf_counter()
    for name in names:
        print(f"[run_all] {name} ({run_mode}) ...", flush=True)
        results["benchmarks"][name] = entry = run_one(name, run_mode, timeout, args.workdir)
        entry["measured"] = started
        status = "ok" if entry["ok"] else f"FAILED: {entry['error'].splitlines()[0]}"
        print(f"[run_all] {name}: {status} in {entry['seconds']} s", flush=True)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    try:
        json_name = str(args.json.resolve().relative_to(ROOT))
    except ValueError:
        json_name = str(args.json)
    write_markdown(results, args.markdown, json_name)
    print(f"[run_all] wrote {args.json} and {args.markdown} in {results['seconds']} s")
    return 0 if all(e["ok"] for e in results["benchmarks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
