"""Where a small training-set build spends its time: one Spark-path run, stage by stage.

Runs what ``python -m bench.bench_training_set --role spark`` runs (the same store, labels and
state, from a workdir that benchmark set up), in this process, with a clock around each step
and Spark's event log on; then prints the steps and every Spark job (its call site, tasks,
wall time) from the event log:

    .venv/bin/python -m bench.training_set_profile --workdir /tmp/skewless-bench --size 100000

``--conf k=v,...`` adds Spark settings (as ``SKEWLESS_SPARK_CONF``), to try one before making
it a default; ``--serial --short-job no`` starts Spark as checkouts before ``start_spark`` did
(the script runs on them too). Edge cases: a workdir without that size's labels raises
``SystemExit`` naming the benchmark command that makes them; the event log and the training set
go to fresh temporary folders, removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def step(steps: list, name: str):
    t = time.perf_counter()
    try:
        yield
    finally:
        steps.append((name, time.perf_counter() - t))


def spark_jobs(log_dir: Path) -> list[dict]:
    """Every job of the event log(s) in ``log_dir``: id, what it did (its description or call
    site), tasks, wall seconds, and its tasks' summed executor run and CPU seconds."""
    jobs: dict[int, dict] = {}
    stage_job: dict[int, int] = {}
    for path in sorted(p for p in log_dir.rglob("events_*") if p.is_file()):
        for line in path.read_text(encoding="utf-8").splitlines():
            ev = json.loads(line)
            kind = ev.get("Event")
            if kind == "SparkListenerJobStart":
                props = ev.get("Properties") or {}
                names = [s["Stage Name"] for s in ev.get("Stage Infos", [])]
                what = (props.get("spark.job.description") or props.get("callSite.short")
                        or (names[0] if names else "?"))
                jobs[ev["Job ID"]] = {"job": ev["Job ID"], "start": ev["Submission Time"] / 1000,
                                      "site": what.split("<br/>")[0], "tasks": 0,
                                      "run_s": 0.0, "cpu_s": 0.0}
                for sid in ev.get("Stage IDs", []):
                    stage_job[sid] = ev["Job ID"]
            elif kind == "SparkListenerJobEnd" and ev["Job ID"] in jobs:
                job = jobs[ev["Job ID"]]
                job["seconds"] = ev["Completion Time"] / 1000 - job["start"]
            elif kind == "SparkListenerTaskEnd" and ev.get("Stage ID") in stage_job:
                job = jobs[stage_job[ev["Stage ID"]]]
                m = ev.get("Task Metrics") or {}
                job["tasks"] += 1
                job["run_s"] += m.get("Executor Run Time", 0) / 1000
                job["cpu_s"] += m.get("Executor CPU Time", 0) / 1e9
    return sorted(jobs.values(), key=lambda j: j["job"])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/skewless-bench"))
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--join", default="skewless")
    ap.add_argument("--conf", default="", help="extra Spark settings k=v,k=v")
    ap.add_argument("--serial", action="store_true",
                    help="import feast, then start the JVM (no start_spark; works on older "
                         "checkouts)")
    ap.add_argument("--short-job", choices=("auto", "yes", "no"), default="auto",
                    help="the quick-compiler JVM: by the labels' size (short_job_for), or "
                         "forced")
    args = ap.parse_args(argv)
    work = args.workdir.resolve()
    labels = work / f"labels_{args.size}"
    if not (labels / ".done").exists():
        raise SystemExit(f"no labels at {labels}: run .venv/bin/python -m "
                         f"bench.bench_training_set --workdir {work} --sizes {args.size} first "
                         "(it sets the workdir up)")
    from bench.bench_training_set import worker_env

    os.environ.update(worker_env(work, "2g"))
    log_dir = Path(tempfile.mkdtemp(prefix="skewless-eventlog-"))
    extra = ["spark.eventLog.enabled=true", "spark.eventLog.compress=false",
             f"spark.eventLog.dir=file://{log_dir}"]
    os.environ["SKEWLESS_SPARK_CONF"] = ",".join(filter(None, [*extra, args.conf]))
    steps: list = [("interpreter start to main()", time.time() - _started_at())]
    t0, epoch0 = time.perf_counter(), time.time()
    with step(steps, "import pyspark + skewless modules"):
        import pyspark.sql  # noqa: F401

        from demo.labels import read_labels
        from spark_jobs.training_set import build_training_set
    if args.serial:  # the order before start_spark: import feast, then the JVM, one by one
        from spark_jobs.spark_session import get_spark

        with step(steps, "import feast"):
            import feast  # noqa: F401
        with step(steps, "get_spark (JVM start)"):
            spark = get_spark("bench-training-set", short_job=args.short_job == "yes")
        with step(steps, "open_store + state (registry read, hash check)"):
            store, enc = _store_and_state()
    else:  # as bench/training_set_workers.py does it
        from spark_jobs.spark_session import short_job_for, start_spark

        short = {"yes": True, "no": False}.get(args.short_job, None)
        with step(steps, "start_spark (JVM start in a thread)"):
            starting = start_spark("bench-training-set", short_job=short_job_for(labels)
                                   if short is None else short)
        with step(steps, "import feast + open_store + state, meanwhile"):
            store, enc = _store_and_state()
        with step(steps, "wait for the JVM"):
            spark = starting.result()
    with step(steps, "read_labels"):
        frame = read_labels(spark, labels)
    out = Path(tempfile.mkdtemp(prefix="skewless-profile-")) / "set"
    with step(steps, "build_training_set"):
        manifest = build_training_set(store, frame, enc, out, overwrite=True, join=args.join)
    total = time.perf_counter() - t0
    spark.stop()
    shutil.rmtree(out.parent, ignore_errors=True)
    print(f"{manifest.row_count:,} rows; {total:.1f} s from main() to the manifest")
    for name, seconds in steps:
        print(f"  {seconds:7.2f} s  {name}")
    try:
        jobs = spark_jobs(log_dir)
        print(f"{len(jobs)} Spark jobs, {sum(j['tasks'] for j in jobs)} tasks, "
              f"{sum(j.get('seconds', 0) for j in jobs):.1f} s inside jobs:")
        for j in jobs:
            print(f"  job {j['job']:3} at {j['start'] - epoch0:6.2f} s: "
                  f"{j.get('seconds', float('nan')):6.2f} s, {j['tasks']:4} tasks, run "
                  f"{j['run_s']:6.2f} s, cpu {j['cpu_s']:6.2f} s  {j['site'][:90]}")
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)


def _store_and_state():
    from encoders import load
    from feast_bridge.services import registry_state_hash
    from feast_bridge.store import open_store

    store = open_store()
    return store, load(os.environ["SKEWLESS_STATE_PATH"],
                       expected_hash=registry_state_hash(store))


def _started_at() -> float:
    """This process's start (epoch seconds), from ``/proc`` (Linux); now elsewhere."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(float(ln.split()[1]) for ln in Path("/proc/stat").read_text().splitlines()
                    if ln.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, ValueError, IndexError):
        return time.time()


if __name__ == "__main__":
    main()
