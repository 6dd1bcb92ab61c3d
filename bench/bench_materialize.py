"""Benchmark: materialization of the feature tables into a real Redis — skewless' engine vs
Feast's local engine (the peer) vs raw pipelined HSET of the same payload (the floor).

Variants (each run in a fresh subprocess through :func:`materialization.materialize.materialize`,
i.e. Feast's ``FeatureStore.materialize`` on a private copy of the feature repo; all start Spark
with the offline store's ``spark_conf``: local[2], 8 shuffle partitions):

* ``skewless`` - ``batch_engine: materialization.redis_engine.RedisMaterializationEngine`` (the
  project's default; Spark pull with the created-timestamp rule, latest row per entity in Spark,
  collected to the driver as Arrow, column-wise serialization, per chunk of keys one Lua
  script call that reads the stored timestamps and one that writes the rows that pass);
* ``local`` - ``batch_engine: local`` (Feast's local engine: the Spark offline store's rows are
  collected to the driver, deduplicated with pandas, written by Feast row by row);
* optional (``--variants``): ``skewless+pipeline`` (``write_method: pipeline``: per-key
  pipelined HMGET / HSET instead of two Lua script calls per chunk), ``skewless+executors``
  (``write_from: executors``: Spark's Python workers write, ``mapInArrow``), ``spark``
  (Feast's ``spark.engine``), ``local+latest``
  (``materialization: {pull_latest_features: true}``), ``+nodedup`` suffixes for Feast's
  engines (``online_store: {skip_dedup: true}``).

Per run: ``startup`` (process start to the end of a first materialize over an empty window:
imports, JVM, first Spark job), an untimed warm-up (``day`` once), then ``day`` (one snapshot
day, into an empty Redis database), ``full`` (every snapshot day, into an empty database),
``rerun`` (``full`` again). The timed section is the whole ``FeatureStore.materialize`` call,
so **the Spark read is inside** every engine's rows/s. For ``skewless`` the engine also reports
its two phases (``read_s``: Spark query + collect to the driver; ``write_s``: serialization +
Redis), giving ``write_rows_per_s`` — the figure comparable with the floor, which has no read.
Rows written = entity rows that landed in Redis (counted from the stored fields, see
``materialization/materialize.py``); rows read = source rows in the window. CPU seconds cover the
whole process tree (driver, JVM, Python workers), plus redis-server's own CPU.

Floor: the exact bytes skewless' engine wrote in ``full`` (a snapshot, checked by digest)
written back with pipelined ``HSET`` (redis-py, 1,000 keys per pipeline, no read-before-write).
Feast's engines write other bytes on purpose in two places (rows created after the end time,
null timestamps: see ``materialization/materialize.py``), so digests are reported per variant.
Breakdown: Feast's write path in-process on the same latest rows - ``_convert_arrow_to_proto``
and ``RedisOnlineStore.online_write_batch`` (default, no-op re-write, ``skip_dedup``).

The machine is shared and noisy: variants alternate (rotated order per repeat), medians are
reported with the load average seen by each run. Data is cached under ``--cache-dir``.

    .venv/bin/python -m bench.bench_materialize --quick              # tiny preset, 1 repeat
    .venv/bin/python -m bench.bench_materialize --preset medium --repeats 3

``run(quick)`` does the same from Python and returns the result dict.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.materialize_summary import print_summary, summarize, targets

T_PROCESS = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]

VIEWS = {"member_features": "member_id", "title_features": "title_id"}
VARIANTS = ("skewless", "local", "skewless+pipeline", "skewless+executors", "spark",
            "local+latest", "local+nodedup", "spark+nodedup", "local+latest+nodedup")
DEFAULT_VARIANTS = ("skewless", "local")
ENGINE = "materialization.redis_engine.RedisMaterializationEngine"
FLOOR_CHUNK = 1000


# ----------------------------------------------------------------------------- helpers
def tree_cpu() -> float:
    """CPU seconds of this process and its descendants (reaped ones included)."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


class PeakRss:
    """Peak summed RSS (MiB) of this process tree (driver, JVM, Python workers), sampled every
    0.1 s in a thread while the ``with`` block runs (shared pages counted once per process)."""

    def __enter__(self) -> PeakRss:
        import threading

        import psutil

        self.peak_mib, self._stop = 0.0, threading.Event()
        me = psutil.Process()

        def sample() -> None:
            while not self._stop.is_set():
                total = 0
                for proc in [me, *me.children(recursive=True)]:
                    try:
                        total += proc.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak_mib = max(self.peak_mib, total / 2**20)
                self._stop.wait(0.1)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def redis_cpu(client) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def digest(snapshot: dict) -> str:
    h = hashlib.sha256()
    for key, fields in snapshot.items():
        h.update(len(key).to_bytes(4, "little") + key)
        for f, v in fields.items():
            h.update(len(f).to_bytes(4, "little") + f + len(v).to_bytes(4, "little") + v)
    return h.hexdigest()


def start_redis(workdir: Path) -> tuple[subprocess.Popen, int]:
    import redis

    from clusters.processes import free_port
    from clusters.redis_cluster import redis_server_binary

    binary = redis_server_binary()
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            return proc, port
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"could not start {binary} on 127.0.0.1:{port}; run scripts/setup.sh")


# ----------------------------------------------------------------------------- setup
def ensure_tables(preset_name: str, cache: Path) -> Path:
    """``cache/<preset>/data`` with ``features/{member,title}_features`` (built once)."""
    data = cache / preset_name / "data"
    done = data / ".complete"
    if done.exists():
        return data
    from demo.facts import generate_facts, preset
    from demo.feature_tables import build_feature_tables
    from spark_jobs.spark_session import get_spark

    print(f"building the {preset_name} feature tables under {data} (once) ...", flush=True)
    facts = cache / preset_name / "facts"
    if not (facts / "_facts_manifest.json").exists():
        generate_facts(preset(preset_name), facts, overwrite=True)
    spark = get_spark("bench-materialize-build")
    build_feature_tables(spark, facts, data / "features")
    spark.stop()
    done.write_text("ok\n")
    return data


def make_repos(data: Path, base: Path, port: int, variants: list[str]) -> dict[str, Path]:
    """One applied private repo copy per variant (one ``feast apply``, registry copied)."""
    import yaml

    from feast_bridge.store import feast_cli

    if base.exists():
        shutil.rmtree(base)
    seed = base / "seed"
    seed.mkdir(parents=True)
    shutil.copy(ROOT / "feature_repo" / "definitions.py", seed / "definitions.py")
    config = yaml.safe_load((ROOT / "feature_repo" / "feature_store.yaml").read_text())
    config["online_store"]["connection_string"] = f"127.0.0.1:{port}"
    (seed / "feature_store.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    os.environ["SKEWLESS_DATA_DIR"] = str(data)
    os.environ["SKEWLESS_STATE_PATH"] = str(base / "no_state.json")  # raw views only
    feast_cli("apply", repo=seed)
    repos = {}
    for i, variant in enumerate(variants):
        repo = base / variant.replace("+", "_")
        shutil.copytree(seed, repo)
        cfg = json.loads(json.dumps(config))
        cfg["online_store"]["connection_string"] = f"127.0.0.1:{port},db={i + 1}"
        parts = variant.split("+")
        cfg["batch_engine"] = {"skewless": {"type": ENGINE, "write_from": "driver"},
                               "spark": {"type": "spark.engine", "partitions": 2},
                               "local": "local"}[parts[0]]
        if "executors" in parts:
            cfg["batch_engine"]["write_from"] = "executors"
        if "pipeline" in parts:
            cfg["batch_engine"]["write_method"] = "pipeline"
        if "latest" in parts:
            cfg["materialization"] = {"pull_latest_features": True}
        if "nodedup" in parts:
            cfg["online_store"]["skip_dedup"] = True
        (repo / "feature_store.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        repos[variant] = repo
    return repos


def windows(data: Path) -> dict:
    """The full and one-day windows with their source rows and expected entity rows."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    out: dict = {}
    glob = {v: f"{data}/features/{v}/*/*.parquet" for v in VIEWS}
    lo, hi = con.execute("SELECT min(event_timestamp), max(event_timestamp) FROM "
                         f"read_parquet('{glob['member_features']}')").fetchone()
    lo, hi = lo.astimezone(timezone.utc), hi.astimezone(timezone.utc)
    for name, (start, end) in {"full": (lo, hi), "day": (hi, hi)}.items():
        read = written = 0
        for view, key in VIEWS.items():
            n, k = con.execute(
                f"SELECT count(*), count(DISTINCT {key}) FROM read_parquet('{glob[view]}') "
                "WHERE event_timestamp BETWEEN ? AND ?", [start, end]).fetchone()
            read, written = read + n, written + k
        out[name] = {"start": start.isoformat(), "end": end.isoformat(), "rows_read": read,
                     "expected_rows_written": written}
    return out


# ----------------------------------------------------------------------------- worker
def worker(args: argparse.Namespace) -> None:
    """One variant, one fresh process: startup, day, full, rerun. Prints one JSON line."""
    import redis
    from feast import FeatureStore

    from materialization.materialize import materialize, redis_snapshot

    win = json.loads(args.windows)
    store = FeatureStore(repo_path=args.repo)  # the private YAML as is (no env overrides)
    conn = store.config.online_store.connection_string
    db = int(conn.split("db=")[1]) if "db=" in conn else 0
    client = redis.Redis(port=args.port, db=db)
    full_s, full_e = (datetime.fromisoformat(win["full"][k]) for k in ("start", "end"))
    day_s, day_e = (datetime.fromisoformat(win["day"][k]) for k in ("start", "end"))
    out: dict = {"variant": args.variant, "loadavg_start": os.getloadavg()}
    empty = full_s - timedelta(days=30)
    client.flushdb()
    res = materialize(store, empty, empty + timedelta(days=1))
    out["startup"] = {"seconds": time.perf_counter() - T_PROCESS, "engine": res.engine}
    client.flushdb()
    materialize(store, day_s, day_e)  # warm-up, untimed: Spark's Python workers, code paths

    def run(name: str, start: datetime, end: datetime, flush: bool) -> None:
        if flush:
            client.flushdb()
        cpu0, rcpu0 = tree_cpu(), redis_cpu(client)
        with PeakRss() as rss:
            r = materialize(store, start, end)
        out[name] = {"seconds": r.seconds, "rows_written": r.rows_written,
                     "rows_by_view": dict(r.rows_by_view), "cpu_s": tree_cpu() - cpu0,
                     "redis_cpu_s": redis_cpu(client) - rcpu0, "peak_rss_mib": rss.peak_mib,
                     "keys": client.dbsize(), "loadavg": os.getloadavg()[0]}
        engine_runs = getattr(store._get_provider().batch_engine, "runs", None)
        if engine_runs:  # skewless' engine: its own read / write split for this call
            mine = engine_runs[-len(r.views):]
            reads = [v.read_seconds for v in mine]
            out[name]["read_s"] = None if None in reads else sum(reads)
            out[name]["write_s"] = sum(v.write_seconds for v in mine)
            out[name]["engine_rows"] = sum(v.rows for v in mine)

    run("day", day_s, day_e, flush=True)
    run("full", full_s, full_e, flush=True)
    out["full"]["digest"] = digest(redis_snapshot(client))
    run("rerun", full_s, full_e, flush=False)
    out["rerun"]["digest"] = digest(redis_snapshot(client))
    print("RESULT " + json.dumps(out), flush=True)


def run_worker(variant: str, repo: Path, port: int, wins: dict, timeout: float) -> dict:
    cmd = [sys.executable, "-m", "bench.bench_materialize", "--_worker", "--variant", variant,
           "--repo", str(repo.resolve()), "--port", str(port), "--windows", json.dumps(wins)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"variant {variant} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")


# ----------------------------------------------------------------------------- floor & breakdown
def floor_run(client, payload: list[tuple[bytes, dict]]) -> dict:
    """Pipelined HSET of Feast's exact payload into an empty database."""
    client.flushdb()
    cpu0, rcpu0 = time.process_time(), redis_cpu(client)
    t0 = time.perf_counter()
    for i in range(0, len(payload), FLOOR_CHUNK):
        with client.pipeline(transaction=False) as pipe:
            for key, mapping in payload[i : i + FLOOR_CHUNK]:
                pipe.hset(key, mapping=mapping)
            pipe.execute()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows_written": len(payload), "cpu_s": time.process_time() - cpu0,
            "redis_cpu_s": redis_cpu(client) - rcpu0, "loadavg": os.getloadavg()[0]}


def breakdown(repo: Path, data: Path, wins: dict, port: int, db: int, repeats: int) -> dict:
    """Feast's write path in-process on the latest rows of the full window (no Spark), into
    database ``db``."""
    import duckdb
    import pyarrow as pa
    import redis
    from feast import FeatureStore
    from feast.infra.online_stores.redis import RedisOnlineStore
    from feast.utils import _convert_arrow_to_proto

    store = FeatureStore(repo_path=str(repo))
    config = store.config
    config.online_store.connection_string = f"127.0.0.1:{port},db={db}"
    client = redis.Redis(port=port, db=db)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    start, end = (datetime.fromisoformat(wins["full"][k]) for k in ("start", "end"))
    tables, views = {}, {}
    for view, key in VIEWS.items():
        fv = store.get_feature_view(view)
        cols = [key, *(f.name for f in fv.features), "event_timestamp", "created_timestamp"]
        rel = con.execute(
            f"SELECT {', '.join(cols)} FROM read_parquet('{data}/features/{view}/*/*.parquet') "
            "WHERE event_timestamp BETWEEN ? AND ? QUALIFY row_number() OVER (PARTITION BY "
            f"{key} ORDER BY event_timestamp DESC, created_timestamp DESC) = 1", [start, end])
        table = rel.to_arrow_table()
        # One record batch: Feast 0.67's _convert_arrow_to_proto keeps only the first batch
        # of a multi-batch pyarrow.Table (feast/utils.py), silently dropping the rest.
        tables[view] = pa.Table.from_batches(table.combine_chunks().to_batches())
        views[view] = fv
    rows = sum(t.num_rows for t in tables.values())
    protos: dict = {}

    def convert() -> None:
        for view, table in tables.items():
            jk = {e.name: e.dtype.to_value_type() for e in views[view].entity_columns}
            protos[view] = _convert_arrow_to_proto(table, views[view], jk)

    def write(skip_dedup: bool):
        def go() -> None:
            config.online_store.skip_dedup = skip_dedup
            online = RedisOnlineStore()
            for view in tables:
                online.online_write_batch(config, views[view], protos[view], None)
            config.online_store.skip_dedup = False
        return go

    steps = [("convert_arrow_to_proto", convert, False),
             ("online_write_batch (default: HMGET then HSET)", write(False), True),
             ("online_write_batch re-write (all rows skipped)", write(False), False),
             ("online_write_batch skip_dedup (HSET only)", write(True), True)]
    out = {"rows": rows}
    convert()
    for name, fn, flush in steps:
        best = None
        for _ in range(repeats):
            if flush:
                client.flushdb()
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            sample = (time.perf_counter() - t0, time.process_time() - c0)
            best = sample if best is None or sample[0] < best[0] else best
        out[name] = {"seconds": best[0], "cpu_s": best[1], "rows_per_s": rows / best[0],
                     "rows_per_cpu_s": rows / best[1]}
    return out


# ----------------------------------------------------------------------------- report
def machine_info() -> dict:
    import feast
    import psutil
    import pyspark
    import redis

    server = subprocess.run([shutil.which("redis-server") or "redis-server", "--version"],
                            capture_output=True, text=True).stdout.strip()
    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "mem_total_mib": psutil.virtual_memory().total // 2**20,
            "feast": feast.__version__, "pyspark": pyspark.__version__,
            "redis_py": redis.__version__, "redis_server": server,
            "loadavg_at_start": os.getloadavg()}


def run(quick: bool = False, out: Path = ROOT / "bench" / "materialize_results.json") -> dict:
    """The benchmark from Python: ``quick`` = tiny preset, 1 repeat (a few minutes, mostly
    Spark start-up); else medium, 3 repeats. Default variants and paths; returns the result
    (also written to ``out``)."""
    return execute("tiny" if quick else "medium", 1 if quick else 3, list(DEFAULT_VARIANTS),
                   out=Path(out))


def execute(preset_name: str, repeats: int, variants: list[str],
            cache_dir: Path = Path("/tmp/skewless-bench-materialize"),
            out: Path = ROOT / "bench" / "materialize_results.json",
            timeout: float = 1800.0) -> dict:
    """Run the variants alternating ``repeats`` times plus the floor; write ``out``. A
    relative ``cache_dir`` is taken from the current folder (made absolute here: the Feast
    repos written under it are read by worker processes started in other folders)."""
    cache_dir = Path(cache_dir).resolve()
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or repeats < 1 or not variants:
        raise ValueError(f"unknown variants {unknown}; choose from {VARIANTS}; repeats >= 1")
    import redis

    from materialization.materialize import redis_snapshot

    info = machine_info()
    data = ensure_tables(preset_name, cache_dir)
    work = cache_dir / f"run-{preset_name}"
    work.mkdir(parents=True, exist_ok=True)
    server, port = start_redis(work)
    try:
        repos = make_repos(data, work / "repos", port, variants)
        wins = windows(data)
        print(f"windows: {json.dumps(wins)}", flush=True)
        runs, floors, payload, digests = [], [], None, {}
        for rep in range(repeats):
            shift = rep % len(variants)
            order = variants[shift:] + variants[:shift]
            if rep % 2:
                order = order[::-1]
            for variant in order:
                result = run_worker(variant, repos[variant], port, wins, timeout)
                result["repeat"] = rep
                runs.append(result)
                digests.setdefault(variant, set()).update(
                    {result["full"]["digest"], result["rerun"]["digest"]})
                print(f"[{rep}] {variant}: startup {result['startup']['seconds']:.1f}s, "
                      f"day {result['day']['seconds']:.2f}s ({result['day']['rows_written']} "
                      f"rows), full {result['full']['seconds']:.2f}s "
                      f"({result['full']['rows_written']} rows), rerun "
                      f"{result['rerun']['seconds']:.2f}s ({result['rerun']['rows_written']} "
                      f"rows), load {result['full']['loadavg']:.1f}", flush=True)
                if payload is None and variant == variants[0]:
                    db = variants.index(variant) + 1
                    payload = list(redis_snapshot(redis.Redis(port=port, db=db)).items())
            floor_db = redis.Redis(port=port, db=len(variants) + 1)
            floors.append(floor_run(floor_db, payload))
            if digest(redis_snapshot(floor_db)) not in digests[variants[0]]:
                raise RuntimeError(f"the floor payload differs from what {variants[0]} wrote")
        floor_db.flushdb()
        parts = breakdown(repos[variants[0]], data, wins, port, len(variants) + 1, repeats)
        floor_db.flushdb()
    finally:
        server.terminate()
        server.wait(timeout=30)
    summary = summarize(runs, floors, wins)
    result = {"preset": preset_name, "targets": targets(summary), "repeats": repeats,
              "variants": variants,
              "floor_payload": variants[0], "windows": wins,
              "digests": {v: sorted(d) for v, d in digests.items()},
              "idempotent_rerun": all(len(d) == 1 for d in digests.values()),
              "summary": summary, "feast_write_path": parts, "runs": runs,
              "floor_runs": floors, "machine": {**info, "loadavg_at_end": os.getloadavg()},
              "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print_summary(summary)
    print(f"\nFeast write path in-process ({parts['rows']} rows, best of {repeats}):")
    for name, p in parts.items():
        if name != "rows":
            print(f"  {name:48s} {p['seconds']:6.2f} s {p['rows_per_s']:10,.0f} rows/s "
                  f"({p['rows_per_cpu_s']:,.0f} per cpu-s)")
    print(f"re-runs byte-identical per variant: {result['idempotent_rerun']}\nwrote {out}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny preset, 1 repeat")
    ap.add_argument("--preset", choices=("tiny", "medium"), default="medium")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                    help=f"comma-separated, from {', '.join(VARIANTS)}; the first one's "
                    "payload is the floor's")
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/skewless-bench-materialize"))
    ap.add_argument("--out", type=Path, default=None,
                    help="default bench/materialize_results.json (--quick: in --cache-dir)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per variant run")
    ap.add_argument("--_worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--repo", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--windows", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._worker:
        return worker(args)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    preset_name, repeats = ("tiny", 1) if args.quick else (args.preset, args.repeats)
    try:
        out = args.out or (args.cache_dir / "materialize_results_quick.json" if args.quick
                           else ROOT / "bench" / "materialize_results.json")
        execute(preset_name, repeats, variants, args.cache_dir, out, args.timeout)
    except ValueError as exc:
        ap.error(str(exc))


if __name__ == "__main__":
    main()
