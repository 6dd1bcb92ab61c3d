"""Benchmark: an encoded, point-in-time-correct training set built four ways, side by side.

* ``spark``: skewless ``build_training_set(store, read_labels(...), enc, out)``: skewless' own
  point-in-time join of ``ranker_raw`` (``spark_jobs/point_in_time.py``), encoders in Spark's
  Python workers, Parquet.
* ``spark-feast``: the same with ``join="feast"``: Feast's Spark offline store PIT join
  (``to_spark_df``) instead, the reference peer of skewless' join.
* ``feast``: what a Feast user does: labels as pandas (``request_time`` = ``event_timestamp``),
  ``get_historical_features(features=ranker_v1, filter_by_created_timestamp=True).to_df()``
  (the python on-demand view runs the same encoders on the driver), ``DataFrame.to_parquet``.
* ``floor``: DuckDB PIT join (ASOF join on a per-entity timeline of "best row usable so far":
  a row is usable from max(event_ts, created_ts); best = latest event_ts, then created_ts; then
  ttl 2 days), streamed as Arrow batches to ``--floor-procs`` spawned processes running
  ``encoders.columns.encode_columns``, written with ``pyarrow.parquet.ParquetWriter``.

Each run is its own subprocess; spark and feast get the same ``get_spark`` session (local[2],
``spark.driver.memory=--driver-memory``). Wall time includes interpreter and JVM start; "work"
is the build alone (worker's clock); CPU and peak memory are summed over the subprocess and all
its descendants (JVM, Python workers), sampled with psutil every 0.2 s (RSS: shared pages count
once per process). A guard kills a run above ``--mem-cap-mib`` (the machine is shared) or over
its time limit. Before each run we wait (at most ``--quiet-wait`` s) for loadavg < --quiet-load.

Sizes below 2M rows: each path ``--repeats`` times, order alternating (A B C, C B A), median;
the peers only in the first ``--peer-repeats`` repeats when given.
Bigger: spark, floor, spark-feast, then feast once; the last two killed after
min(3 x spark wall, --feast-max-seconds). First, a 2,000-row sample (unique keys) goes through
all paths and the encoded values are compared exactly (NaN == NaN). Targets (the issue's):
spark within 5x of the floor at 100k labels and 3x at 1M and above (``training_set_targets``).
Setup (facts, feature tables, labels per size, a private Feast repo with the state fitted on
the first 28 days) is cached under ``--workdir``.

    .venv/bin/python -m bench.bench_training_set --quick        # tiny facts, 20k rows
    .venv/bin/python -m bench.bench_training_set --sizes 1000000,10000000 --repeats 2

From Python (a one-command runner): ``run(quick=True)`` or ``run(sizes="1000000", repeats=1)``
returns the results dict and writes the JSON, as the command line does.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from bench.training_set_targets import targets
from bench.training_set_workers import (
    KEYS,
    LABEL_COLS,
    do_setup,
    run_feast,
    run_floor,
    run_spark,
)

ROOT = Path(__file__).resolve().parents[1]

PATHS = ("spark", "spark-feast", "feast", "floor")
PEERS = ("spark-feast", "feast")  # limited to a multiple of spark's wall time at big sizes
BIG = 2_000_000
# spark.driver.maxResultSize is Spark's guard on what one collect may hold in driver memory
OOM_MARKERS = ("OutOfMemoryError", "MemoryError", "Java heap space", "GC overhead limit",
               "spark.driver.maxResultSize")


# ----------------------------------------------------------------------- parent: measuring
def worker_env(work: Path, driver_memory: str) -> dict:
    env = dict(os.environ, SKEWLESS_DATA_DIR=str(work / "data"),
               SKEWLESS_FEATURE_REPO=str(work / "repo"),
               SKEWLESS_STATE_PATH=str(work / "repo" / "encoder_state.json"),
               SKEWLESS_SPARK_DRIVER_MEMORY=driver_memory, PYSPARK_PYTHON=sys.executable,
               PYSPARK_DRIVER_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1")
    env.pop("SKEWLESS_FEATURE_TTL_DAYS", None)
    return env


def measure(role: str, args, labels: Path, out: Path, limit: float | None = None,
            driver_memory: str | None = None) -> dict:
    """Run one worker; return wall seconds, peak RSS and CPU seconds of its process tree,
    status and the worker's own report."""
    import psutil

    work = args.workdir
    (work / "logs").mkdir(parents=True, exist_ok=True)
    log = work / "logs" / f"{out.parent.name}_{out.name}.log"
    result = out.with_name(out.name + ".result.json")
    result.unlink(missing_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "bench.bench_training_set", "--role", role, "--labels",
           str(labels), "--out", str(out), "--result", str(result), "--workdir", str(work),
           "--floor-procs", str(args.floor_procs), "--facts-preset", args.facts_preset,
           "--sizes", ",".join(map(str, args.sizes))]
    t0 = time.perf_counter()
    while (role != "setup" and os.getloadavg()[0] > args.quiet_load
           and time.perf_counter() - t0 < args.quiet_wait):
        time.sleep(5)  # let the machine settle
    cap, killed, peak, load0 = args.mem_cap_mib * 2**20, None, 0, os.getloadavg()[0]
    oom_seen, checked = None, 0.0  # a JVM OutOfMemoryError can leave the driver waiting forever
    seen: dict = {}  # pid -> psutil.Process (psutil refuses to signal a reused pid)
    cpu: dict = {}
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                env=worker_env(work, driver_memory or args.driver_memory))
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        rss = 0
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            tree = []
        for p in tree:
            try:
                rss += p.memory_info().rss
                c = p.cpu_times()
                cpu[p.pid] = c.user + c.system
                seen.setdefault(p.pid, p)
            except psutil.Error:
                pass
        peak = max(peak, rss)
        if limit and time.perf_counter() - t0 > limit:
            killed = f"killed at time limit {limit:.0f} s"
        elif rss > cap:
            killed = f"killed at memory cap {args.mem_cap_mib} MiB"
        elif oom_seen and time.perf_counter() - oom_seen > args.oom_grace:
            killed = f"out of memory (still alive {args.oom_grace:.0f} s after the error)"
        elif not oom_seen and time.perf_counter() - checked > 5:
            checked = time.perf_counter()
            if any(m in log.read_text(errors="replace") for m in OOM_MARKERS):
                oom_seen = checked
        if killed:
            break
        time.sleep(0.2)
    for p in [*tree, *seen.values()] if killed else seen.values():  # nothing of ours lingers
        try:
            if p.is_running():
                p.kill()
        except psutil.Error:
            pass
    rc = proc.wait()
    wall = time.perf_counter() - t0
    rep = json.loads(result.read_text()) if result.exists() else {}
    tail = log.read_text(errors="replace").splitlines()[-4000:]
    oom = next((ln.strip()[:200] for ln in tail if any(m in ln for m in OOM_MARKERS)), None)
    if killed and oom:
        status = f"{killed}: {oom}"
    elif killed:
        status = killed
    elif rc == 0 and rep:
        status = "ok" if not oom else f"ok (log mentions {oom})"
    elif oom:
        status = f"out of memory: {oom}"
    elif rc == -signal.SIGKILL:
        status = "SIGKILL from outside (kernel OOM killer?)"
    else:
        status = f"failed rc={rc}: " + " | ".join(ln.strip()[:160] for ln in tail[-3:])
    return {"role": role, "wall_s": wall, "peak_mib": peak / 2**20, "status": status,
            "rows": rep.get("rows"), "work_s": rep.get("work_s"), "phases": rep.get("phases"),
            "cpu_s": sum(cpu.values()), "log": str(log),
            "loadavg1_before_after": (load0, os.getloadavg()[0])}


def make_sample(src: Path, dst: Path, n: int) -> int:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = pd.read_parquet(src, columns=LABEL_COLS)
    df = df.drop_duplicates(["member_id", "title_id", "impression_ts"], keep=False)
    df = df.sample(min(n, len(df)), random_state=5).sort_values("impression_id")
    dst.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), dst / "part-0.parquet")
    return len(df)


def parity(args, labels: Path) -> dict:
    """Each path run on a sample of ``--parity-rows`` labels, outputs compared exactly."""
    work = args.workdir
    n = make_sample(labels, work / "parity" / "labels", args.parity_rows)
    runs = {role: measure(role, args, work / "parity" / "labels", work / "parity" / role)
            for role in args.paths}
    return compare_outputs(args, {role: (r, work / "parity" / role) for role, r in runs.items()},
                           n)


def compare_outputs(args, runs: dict[str, tuple[dict, Path]], n: int) -> dict:
    """Exact equality of every encoded column across the paths' outputs (``runs``: role ->
    (its measure() result, its output directory)) for the same ``n`` label rows."""
    import numpy as np
    import pandas as pd

    from encoders import load

    report: dict = {"sample_rows": n, "runs": {}, "mismatches": []}
    frames = {}
    for role, (r, out) in runs.items():
        report["runs"][role] = {k: r[k] for k in ("status", "rows", "wall_s")}
        if r["status"].startswith("ok"):
            df = pd.read_parquet(out / "set" / "data" if role.startswith("spark")
                                 else out / "data.parquet")
            df["event_timestamp"] = pd.to_datetime(df["event_timestamp"], utc=True)
            report[f"rows_{role}"] = len(df)
            # label rows sharing (member, title, time) cannot be paired across outputs
            frames[role] = df[~df.duplicated(KEYS, keep=False)]
    unique = len(frames["spark"]) if "spark" in frames else -1
    report["compared_rows"] = unique
    work = args.workdir
    names = list(load(work / "repo" / "encoder_state.json").names)
    others = [r for r in args.paths if r != "spark"]
    for role in others if "spark" in frames else ():
        if role not in frames:
            continue
        m = frames["spark"].merge(frames[role], on=KEYS, suffixes=("_spark", f"_{role}"))
        report[f"merged_rows_spark_{role}"] = len(m)
        for c in names:
            if f"{c}_{role}" not in m:
                report["mismatches"].append({"path": role, "column": c, "error": "absent"})
                continue
            a = m[f"{c}_spark"].to_numpy(dtype=float)
            b = m[f"{c}_{role}"].to_numpy(dtype=float)
            bad = ~((a == b) | (np.isnan(a) & np.isnan(b)))
            if bad.any():
                ex = m.loc[bad, KEYS + [f"{c}_spark", f"{c}_{role}"]].head(3)
                report["mismatches"].append({"path": role, "column": c, "rows": int(bad.sum()),
                                             "examples": ex.astype(str).to_dict("records")})
    report["ok"] = (not report["mismatches"] and len(frames) == len(args.paths)
                    and all(report.get(f"rows_{r}") == n for r in args.paths)
                    and all(report.get(f"merged_rows_spark_{r}") == unique for r in others))
    return report


def machine() -> dict:
    from importlib.metadata import version

    import psutil

    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text()
                .splitlines() if ln.startswith("model name")), platform.processor())
    mem = psutil.virtual_memory()
    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_total_mib": mem.total // 2**20,
            "mem_available_mib_at_start": mem.available // 2**20,
            "loadavg_at_start": os.getloadavg(), "python": platform.python_version(),
            "java": java.splitlines()[0] if java else "?", "platform": platform.platform(),
            **{p: version(p) for p in ("pyspark", "feast", "duckdb", "pyarrow", "pandas")}}


def summarise(runs: list[dict]) -> dict:
    ok = [r for r in runs if r["status"] == "ok" or r["status"].startswith("ok ")]
    use = ok or runs
    rows = next((r["rows"] for r in use if r["rows"]), None)
    wall = statistics.median(r["wall_s"] for r in use)
    work = [r["work_s"] for r in use if r["work_s"] is not None]
    return {"runs": len(runs), "ok_runs": len(ok), "wall_s": wall, "rows": rows,
            "work_s": statistics.median(work) if work else None,
            "cpu_s": statistics.median(r["cpu_s"] for r in use),
            "rows_per_s": rows / wall if rows and ok else None,
            "peak_mib": max(r["peak_mib"] for r in use),
            "status": "ok" if len(ok) == len(runs) else "; ".join(r["status"] for r in runs)}


def timed_run(args, size: int, runs: dict, key: str, rep: int, limit: float) -> dict:
    """One run of ``key`` (a path, or ``feast@<driver memory>``); feast's first out-of-memory
    failure at a size adds a ``feast@--feast-retry-memory`` run right after it."""
    role, _, mem = key.partition("@")
    out = args.workdir / "out" / f"{size}_{key}_{rep}"
    r = measure(role, args, args.workdir / f"labels_{size}", out, limit, mem or None)
    if args.quick and rep == 0:  # compared after the size (quick: no separate parity runs)
        r["out"] = str(out)
    else:
        shutil.rmtree(out, ignore_errors=True)
    print(f"  {size:>9} {key:11} rep {rep}: {r['wall_s']:8.1f} s  {r['peak_mib']:8.0f} MiB  "
          f"{r['cpu_s']:7.0f} cpu-s  {r['status']}  {r['phases']}", flush=True)
    runs.setdefault(key, []).append(r)
    retry = f"feast@{args.feast_retry_memory}"
    if (key == "feast" and "memory" in r["status"] and args.feast_retry_memory
            and retry not in runs):
        timed_run(args, size, runs, retry, rep, limit)
    return r


def bench(args, command: str, save=None) -> dict:
    """All runs; ``save(results)`` (if given) is called after parity and after each size, so
    a long run that is stopped keeps what it measured (``complete`` is false until the end)."""
    out: dict = {"machine": machine(), "config": {k: str(v) for k, v in vars(args).items()},
                 "command": command, "complete": False, "sizes": {}}
    save = save or (lambda _: None)
    t = time.perf_counter()
    setup = measure("setup", args, args.workdir, args.workdir / "setup", driver_memory="2g")
    out["setup"] = setup | {"wall_s": time.perf_counter() - t}
    print(f"setup: {setup['status']} in {setup['wall_s']:.0f} s {setup['phases']}", flush=True)
    if setup["status"] != "ok":
        raise SystemExit(f"setup failed, see {setup['log']}")
    if args.quick:
        out["parity"] = {"pending": "quick: the timed runs' outputs are compared"}
    elif args.parity_rows > 0:
        out["parity"] = parity(args, args.workdir / f"labels_{min(args.sizes)}")
    else:
        out["parity"] = {"skipped": "--parity-rows 0"}
    print("parity:", json.dumps(out["parity"], indent=1, default=str), flush=True)
    save(out)
    for size in args.sizes:
        runs: dict = {p: [] for p in args.paths}
        one = partial(timed_run, args, size, runs)

        if size < BIG:
            peer_reps = args.repeats if args.peer_repeats is None else args.peer_repeats
            for rep in range(args.repeats):
                for role in args.paths if rep % 2 == 0 else args.paths[::-1]:
                    if role in PEERS and rep >= peer_reps:
                        continue
                    failed = role == "feast" and any("memory" in r["status"]
                                                     for r in runs["feast"])
                    one(f"feast@{args.feast_retry_memory}" if failed else role, rep,
                        args.max_seconds)
        else:
            s = one("spark", 0, args.max_seconds)
            for role in (r for r in args.paths if r != "spark" and r not in PEERS):
                one(role, 0, args.max_seconds)
            base = s["wall_s"] if s["status"] == "ok" else args.feast_max_seconds
            for role in (r for r in PEERS if r in args.paths):
                one(role, 0, min(args.feast_factor * base, args.feast_max_seconds))
        summary = {p: summarise(rs) for p, rs in runs.items()}
        summary["ratios"] = {f"spark_over_{p}_wall": summary["spark"]["wall_s"] / x["wall_s"]
                             for p, x in summary.items() if p != "spark"}
        out["sizes"][str(size)] = {"summary": summary, "runs": runs}
        if args.quick:
            kept = {p: (rs[0], Path(rs[0]["out"])) for p, rs in runs.items()
                    if rs and "out" in rs[0]}
            out["parity"] = compare_outputs(args, kept, size)
            for _, path in kept.values():
                shutil.rmtree(path, ignore_errors=True)
            print("parity:", json.dumps(out["parity"], indent=1, default=str), flush=True)
        out["targets"] = targets(out["sizes"], args.feast_factor)
        save(out)
    out["complete"] = True
    save(out)
    return out


def print_table(res: dict) -> None:
    print(f"\n{'labels':>10} {'path':11} {'runs':>4} {'wall s':>8} {'work s':>8} {'cpu s':>8} "
          f"{'rows/s':>9} {'peak MiB':>9}  status")
    for size, d in res["sizes"].items():
        s = d["summary"]
        for p, x in s.items():
            if p == "ratios":
                continue
            work = f"{x['work_s']:8.1f}" if x["work_s"] is not None else f"{'-':>8}"
            rps = f"{x['rows_per_s']:9.0f}" if x["rows_per_s"] else f"{'-':>9}"
            print(f"{size:>10} {p:11} {x['runs']:>4} {x['wall_s']:8.1f} {work} "
                  f"{x['cpu_s']:8.0f} {rps} {x['peak_mib']:9.0f}  {x['status'][:150]}")
        print(f"{'':>10} wall ratios " + ", ".join(
            f"spark/{k[len('spark_over_'):-len('_wall')]} {v:.2f}"
            + ("" if s[k[len("spark_over_"):-len("_wall")]]["ok_runs"] else " (it failed)")
            for k, v in s["ratios"].items()))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000000,10000000", help="label rows, comma-separated")
    ap.add_argument("--repeats", type=int, default=2, help="runs per path for sizes < 2M")
    ap.add_argument("--peer-repeats", type=int, default=None,
                    help="runs of the peers (spark-feast, feast) for sizes < 2M: the first "
                         "N repeats only (default: every repeat)")
    ap.add_argument("--paths", default=",".join(PATHS),
                    help=f"comma-separated, 'spark' first; of {', '.join(PATHS)}")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/skewless-bench"))
    ap.add_argument("--quick", action="store_true",
                    help="tiny facts, 20k rows, 1 repeat, no quiet wait")
    ap.add_argument("--facts-preset", default="medium")
    ap.add_argument("--driver-memory", default="2g")
    ap.add_argument("--floor-procs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--feast-factor", type=float, default=3.0)
    ap.add_argument("--feast-max-seconds", type=float, default=2700.0)
    ap.add_argument("--max-seconds", type=float, default=10800.0, help="limit for other runs")
    ap.add_argument("--mem-cap-mib", type=int, default=12288, help="kill a run above this")
    ap.add_argument("--quiet-load", type=float, default=3.0, help="wait for loadavg below")
    ap.add_argument("--quiet-wait", type=float, default=180.0, help="... at most this long")
    ap.add_argument("--oom-grace", type=float, default=120.0, help="kill a run this long "
                    "after an OutOfMemoryError in its log (Spark may hang after one)")
    ap.add_argument("--feast-retry-memory", default="8g", help="when feast runs out of memory, "
                    "also run it with this driver memory ('' = don't)")
    ap.add_argument("--parity-rows", type=int, default=2000, help="0 = no parity check")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--role", choices=("setup", *PATHS), help=argparse.SUPPRESS)
    ap.add_argument("--labels", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return ap


def finish_args(args: argparse.Namespace) -> argparse.Namespace:
    """Normalise parsed options (sizes and paths as lists, ``--quick`` presets); bad values
    raise ``ValueError`` naming the option."""
    args.workdir = Path(args.workdir).resolve()
    try:
        args.sizes = [int(s) for s in str(args.sizes).split(",") if s.strip()]
    except ValueError:
        raise ValueError(
            f"--sizes {args.sizes!r}: give label row counts like 100000,1000000") from None
    if not args.sizes or min(args.sizes) < 1:
        raise ValueError(f"--sizes {args.sizes!r}: give at least one positive row count")
    paths = args.paths if isinstance(args.paths, (list, tuple)) else str(args.paths).split(",")
    args.paths = tuple(p.strip() for p in paths if p.strip())
    unknown = sorted(set(args.paths) - set(PATHS))
    if unknown or not args.paths or args.paths[0] != "spark" or len(set(args.paths)) < len(
            args.paths):
        raise ValueError(f"--paths {','.join(args.paths)!r}: list distinct paths of "
                         f"{', '.join(PATHS)}, starting with spark (unknown: {unknown})")
    if args.quick:  # routine check: tiny facts, 20k labels, no waiting for a quiet machine;
        # the equality check compares the timed runs' own outputs (all 20k rows)
        args.sizes, args.repeats, args.facts_preset = [20_000], 1, "tiny"
        args.quiet_wait = 0.0
        args.workdir = args.workdir / "quick"
    return args


def run(quick: bool = False, argv: Sequence[str] = (), **options) -> dict:
    """Run the benchmark as the command line would and return its results dict.

    ``quick`` is ``--quick``; ``argv`` are extra command-line words; ``options`` set any option
    by its destination name (``sizes="1000000"``, ``repeats=1``, ``workdir=Path(...)``,
    ``paths="spark,floor"``, ``json=Path(...)``). An unknown option raises
    ``TypeError`` naming the valid ones. Results go to ``--json`` (default: the workdir for
    ``quick``, else ``bench/training_set_results.json``) as well.
    """
    args = build_parser().parse_args([*(["--quick"] if quick else []), *argv])
    valid = sorted(k for k in vars(args) if k not in ("role", "labels", "out", "result"))
    for key, value in options.items():
        if key not in valid:
            raise TypeError(f"run() got unknown option {key!r}; valid options: {valid}")
        setattr(args, key, value)
    args = finish_args(args)
    words = [*(["--quick"] if quick else []), *argv,
             *(f"--{k.replace('_', '-')}={v}" for k, v in options.items())]
    return bench_and_report(args, words)


def bench_and_report(args: argparse.Namespace, words: Sequence[str]) -> dict:
    """Run :func:`bench`, print the table and write the results JSON."""
    path = Path(args.json or (args.workdir / "training_set_results.json" if args.quick
                              else ROOT / "bench" / "training_set_results.json"))
    res = bench(args, " ".join([".venv/bin/python -m bench.bench_training_set", *words]),
                save=lambda r: path.write_text(json.dumps(r, indent=2, default=str)))
    print_table(res)
    print("targets:", res["targets"])
    print(f"\nresults: {path}")
    return res


def worker(args: argparse.Namespace) -> None:
    """A measured subprocess: do one role, write its report to ``--result``."""
    t = time.perf_counter()
    if args.role == "setup":
        rep = do_setup(args.workdir, args.facts_preset, args.sizes)
    elif args.role == "floor":
        rep = run_floor(args.labels, args.out, args.workdir, args.floor_procs)
    elif args.role == "feast":
        rep = run_feast(args.labels, args.out)
    elif args.role == "spark-feast":
        rep = run_spark(args.labels, args.out, join="feast")
    else:
        rep = run_spark(args.labels, args.out)
    rep["work_s"] = sum(v for k, v in rep["phases"].items() if isinstance(v, float)
                        and k not in ("odfv_transform_arrow", "waiting_for_encoders"))
    rep["worker_total_s"] = time.perf_counter() - t
    args.result.write_text(json.dumps(rep, default=str))


def main() -> None:
    args = build_parser().parse_args()
    if args.role:  # a worker subprocess
        args.quick = False
        worker(finish_args(args))
        return
    try:
        finish_args(args)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    bench_and_report(args, sys.argv[1:])


if __name__ == "__main__":
    main()
