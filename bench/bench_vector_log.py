"""The served-vector log under sustained ``/rank`` load: server memory, throughput, and what a
SIGTERM and a SIGKILL lose — for two checkouts side by side (e.g. before and after the bounded
log of issue 14.2), alternating, on the same data.

    .venv/bin/python -m bench.bench_vector_log --before /tmp/old-checkout [--clients 32]
        [--candidates 100] [--seconds 50] [--phases 3] [--kill-after 30] [--rounds 1]
        [--queue-max 10000] [--out /tmp/vector_log_bench.json]

For each checkout (``--before``, then this one; ``--rounds`` repeats the pair) it starts
``uvicorn serving.api:app`` from that checkout on the benchmark's tiny main job
(``bench/bench_online.py``'s cache, Redis db 12 of ``SKEWLESS_REDIS_HOST:PORT``), then:

* **sustained**: ``--phases`` back-to-back load phases of ``--seconds`` each (``--clients``
  closed-loop clients, ``--candidates`` per request, ``bench/load_rank.py``), sampling the
  server's RSS every 0.5 s; then SIGTERM, and the rows served (200 answers x candidates) vs the
  rows in the log;
* **sigkill**: a fresh server under the same load, SIGKILLed after ``--kill-after`` seconds;
  the requests and rows served vs logged (drop markers counted) — the worst case the log's
  docstring states is ``SKEWLESS_LOG_QUEUE_MAX`` accepted rows plus the drops since the last
  marker.

First, and alone with ``--writer-only``, the log writer without a server: CPU per request on
the request side and on the writer thread, and rows written per second (medians of 3
alternating runs per checkout). A
checkout without the bound ignores ``SKEWLESS_LOG_QUEUE_MAX``. The client shares the
machine's cores with the server (and, on a shared machine, with other work): read the two
checkouts' figures side by side, not as absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.bench_online import DEFAULT_CACHE, FIRST_TITLE, WHEN, cache_env, ensure_data
from bench.load_rank import _load, start_server
from serving.log_reader import LogReader
from serving.vector_log import FILE_NAME

ROOT = Path(__file__).resolve().parents[1]

REDIS_DB = 12
MEMBERS = tuple(range(1_000_000, 1_000_050))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class SlowDisk:
    """The log file as a named pipe drained at ``bytes_per_s`` into ``copy/vectors.jsonl``:
    a disk too slow for the load, so the writer falls behind (``--slow-log``)."""

    def __init__(self, log_dir: Path, bytes_per_s: int) -> None:
        self.copy = log_dir.parent / f"{log_dir.name}_copy"
        self.copy.mkdir()
        fifo = log_dir / FILE_NAME
        os.mkfifo(fifo)
        chunk = max(1, bytes_per_s // 20)

        def drain() -> None:
            with fifo.open("rb", buffering=0) as src, (self.copy / FILE_NAME).open("wb") as dst:
                while data := src.read(chunk):
                    dst.write(data)
                    time.sleep(len(data) / bytes_per_s)

        self.thread = threading.Thread(target=drain, daemon=True)
        self.thread.start()

    def finish(self) -> Path:
        """The folder holding what went through the pipe (after the server exited)."""
        self.thread.join(600)
        return self.copy


def start(root: Path, env: dict[str, str], log_dir: Path) -> tuple[subprocess.Popen, str]:
    """``uvicorn serving.api:app`` from checkout ``root`` logging to ``log_dir``, on a free
    port, once it answers (:func:`bench.load_rank.start_server`)."""
    return start_server({**env, "SKEWLESS_VECTOR_LOG_DIR": str(log_dir)}, timeout_s=300,
                        root=root)


def payloads(candidates: int) -> list[dict[str, Any]]:
    titles = list(range(FIRST_TITLE, FIRST_TITLE + candidates))
    return [{"member_id": m, "candidates": titles, "request_time": WHEN.isoformat()}
            for m in MEMBERS]


def logged(log_dir: Path) -> dict[str, int]:
    reader = LogReader(log_dir)
    requests = rows = 0
    for record in reader:
        requests += 1
        rows += len(record["rows"])
    return {"logged_requests": requests, "logged_rows": rows,
            "marked_dropped_requests": reader.dropped_requests,
            "marked_dropped_rows": reader.dropped_rows, "torn_lines": len(reader.skipped)}


def health_log(url: str) -> dict[str, Any] | None:
    import httpx

    return httpx.get(url + "/health", timeout=10).json().get("vector_log")


def start_phase(root: Path, env: dict[str, str], log_dir: Path, a: argparse.Namespace
                ) -> tuple[Path, SlowDisk | None, subprocess.Popen, str]:
    """A fresh ``log_dir`` (a slowly drained pipe with ``--slow-log``) and a server on it."""
    log_dir.mkdir()
    slow = SlowDisk(log_dir, a.slow_log) if a.slow_log else None
    proc, url = start(root, env, log_dir)
    return log_dir, slow, proc, url


def sustained(root: Path, env: dict[str, str], work: Path, a: argparse.Namespace
              ) -> dict[str, Any]:
    log_dir, slow, proc, url = start_phase(root, env, work / "sustained", a)
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            samples.append(rss_mb(proc.pid))

    rss_start = rss_mb(proc.pid)
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    phases = []
    for _ in range(a.phases):
        r = asyncio.run(_load(url, a.clients, a.seconds, 0.0, payloads(a.candidates)))
        phases.append({"rps": round(r["throughput_rps"], 1), "p50_ms": round(r["p50_ms"], 1),
                       "p99_ms": round(r["p99_ms"], 1), "ok": r["ok"], "errors": r["errors"],
                       "rss_mb_after": round(rss_mb(proc.pid), 1)})
    stop.set()
    health = health_log(url)
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=900)
    shutdown_s = time.perf_counter() - t0
    served_requests = sum(p["ok"] for p in phases)
    return {"rss_mb_start": round(rss_start, 1), "rss_mb_peak": round(max(samples), 1),
            "phases": phases, "served_requests": served_requests,
            "served_rows": served_requests * a.candidates, "health_vector_log": health,
            "sigterm_shutdown_s": round(shutdown_s, 1),
            **logged(slow.finish() if slow else log_dir)}


def sigkill(root: Path, env: dict[str, str], work: Path, a: argparse.Namespace
            ) -> dict[str, Any]:
    log_dir, slow, proc, url = start_phase(root, env, work / "sigkill", a)
    rss_before_kill: list[float] = []

    def kill() -> None:
        rss_before_kill.append(round(rss_mb(proc.pid), 1))
        proc.send_signal(signal.SIGKILL)

    threading.Timer(a.kill_after, kill).start()
    r = asyncio.run(_load(url, a.clients, a.kill_after + 3, 0.0, payloads(a.candidates)))
    proc.wait(timeout=30)
    out = {"served_requests": r["ok"], "served_rows": r["ok"] * a.candidates,
           "rss_mb_before_kill": rss_before_kill[0] if rss_before_kill else None,
           **logged(slow.finish() if slow else log_dir)}
    out["lost_requests"] = out["served_requests"] - out["logged_requests"]
    out["lost_rows"] = out["served_rows"] - out["logged_rows"]
    out["lost_unmarked_rows"] = out["lost_rows"] - out["marked_dropped_rows"]
    return out


WRITER_SNIPPET = """
import sys, tempfile, time
from datetime import datetime, timezone
from serving.online import EncodedRow
from serving.vector_log import VectorLog
n, width, requests = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
when = datetime(2024, 2, 5, 12, tzinfo=timezone.utc)
keys = [{"member_id": 1000022, "title_id": 500000 + i} for i in range(n)]
enc = [EncodedRow(tuple(float(i) / 7 + j for j in range(width)), {"a": "present"})
       for i in range(n)]
names = [str(j) for j in range(width)]
with tempfile.TemporaryDirectory() as d:
    unbounded = "max_queued_rows" in VectorLog.__init__.__code__.co_varnames
    log = VectorLog(d, **({"max_queued_rows": 10**9} if unbounded else {}))
    w0, c0, p0 = time.perf_counter(), time.process_time(), time.thread_time()
    for r in range(requests):
        log.write_encoded(request_id=str(r), request_time=when, endpoint="/rank",
                          state_hash="sha256:x", model_id="m", names=names, keys=keys,
                          context={"device": "tv"}, encoded=enc, service="svc")
    p1 = time.thread_time()
    log.close()
    w1, c1 = time.perf_counter(), time.process_time()
print((p1 - p0) / requests * 1e6, ((c1 - c0) - (p1 - p0)) / requests * 1e6,
      requests * n / (w1 - w0))
"""


def writer_cost(root: Path, rows: int, width: int = 34, requests: int = 1000
                ) -> dict[str, float]:
    """The log alone, in a subprocess on checkout ``root``: ``requests`` requests of ``rows``
    rows queued back to back (no server; the bound, if any, lifted so nothing is dropped),
    then closed. CPU per request on the request side (``enqueue_cpu_us``) and on the writer
    thread (``writer_cpu_us``: the process's CPU less the producer's — the GIL time the
    writer takes from requests), and rows on disk per second of wall time."""
    out = subprocess.run([sys.executable, "-c", WRITER_SNIPPET, str(rows), str(width),
                          str(requests)], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                         capture_output=True, text=True, check=True)
    enqueue, writer, rate = map(float, out.stdout.split())
    return {"enqueue_cpu_us": round(enqueue, 1), "writer_cpu_us": round(writer, 1),
            "rows_per_s": round(rate)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True, help="the checkout to compare with")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--candidates", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=50.0)
    ap.add_argument("--phases", type=int, default=3)
    ap.add_argument("--kill-after", type=float, default=30.0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--queue-max", type=int, default=None,
                    help="SKEWLESS_LOG_QUEUE_MAX for the server (default: its default)")
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--slow-log", type=int, default=0, metavar="BYTES_PER_S",
                    help="make the log a pipe drained at this rate: the writer falls behind")
    ap.add_argument("--writer-only", action="store_true",
                    help="only the log writer's throughput (no server, no Redis)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/skewless-bench/vector_log.json"))
    a = ap.parse_args()
    roots = (("before", a.before.resolve()), ("after", ROOT))
    writer: dict[str, list] = {"before": [], "after": []}
    for _ in range(3):  # alternating, medians reported
        for name, root in roots:
            writer[name].append(writer_cost(root, a.candidates))
    writer_median = {name: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                     for name, runs in writer.items()}
    print("writer", json.dumps(writer_median), flush=True)
    if a.writer_only:
        return
    ensure_data(a.cache_dir, REDIS_DB)
    env = cache_env(a.cache_dir, REDIS_DB)
    if a.queue_max:
        env["SKEWLESS_LOG_QUEUE_MAX"] = str(a.queue_max)
    results: dict[str, list] = {"before": [], "after": []}
    for n in range(a.rounds):
        for name, root in roots:
            work = a.out.parent / f"vector_log_{name}_{n}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            entry = {"sustained": sustained(root, env, work, a),
                     "sigkill": sigkill(root, env, work, a), "load_average": os.getloadavg()}
            results[name].append(entry)
            print(name, json.dumps(entry), flush=True)
    report = {"args": {k: str(v) for k, v in vars(a).items()}, "cpu_count": os.cpu_count(),
              "writer": writer_median, **results}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"written {a.out}")


if __name__ == "__main__":
    main()
