"""Before/after load test of ``POST /rank``: servers of two checkouts side by side, runs
alternated, medians and ratios (``bench/load_rank.py`` does each run).

    .venv/bin/python -m bench.load_compare --before /tmp/main-export [--clients 16 64]
        [--rounds 3] [--seconds 10] [--candidates 100] [--after-workers 1 2]
        [--out bench/load_compare_results.json]

Every server (the ``--before`` checkout with one worker, this checkout with each of
``--after-workers``) is started once, on the same data and Redis (the ``SKEWLESS_*``
environment: point ``SKEWLESS_DATA_DIR`` and ``SKEWLESS_FEATURE_REPO`` at the pipeline, as
``data/`` is relative to each checkout), each with its own vector-log folder; then for each
round and each client count every server gets one run, in rotating order, so the drift of a
shared machine hits them alike. Reported per server and client count: medians over the rounds
of answered req/s, p50, p99 and shed count, the server's CPU per answered request (its process
tree's user+system time over the run, from ``/proc``: far less noisy than req/s on a loaded
machine), the Redis server's CPU per answer when it runs on this machine (``None``
otherwise) and the client's; then each ratio after/before of the medians. ``--also-log-off``
adds, for each ``--after-workers``, a server of this checkout with the served log off
(``SKEWLESS_LOG_FORMAT=off``): what the log costs under the same load (the server CPU per
answer with and without it; Python names no OS thread, so the writer thread's own share is
not read from ``/proc``). The load average is in the result: quote it with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.load_rank import run, start_server

ROOT = Path(__file__).resolve().parents[1]

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    out = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() \
            else []
        for child in children:
            out += _tree(int(child))
    return out


def _cpu_ms(pid: int) -> float:
    """User + system CPU of ``pid`` and its descendants, in ms (Linux ``/proc``)."""
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total * TICK_MS


def _redis_pid() -> int | None:
    """The process id of the online store's Redis server (the feature repo the environment
    names), when it runs on this machine (its ``/proc`` entry exists); else ``None``."""
    import redis

    from feast_bridge.store import open_store
    from online_store.connection import checked_client

    try:
        client = checked_client(open_store().config.online_store, single_node=True)
        pid = int(client.info("server")["process_id"])
    except (redis.RedisError, RuntimeError, KeyError, ValueError, TypeError):
        return None
    return pid if Path(f"/proc/{pid}/stat").exists() else None


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def side_by_side(servers: dict[str, tuple[Path, int, dict[str, str]]], clients: list[int],
                 rounds: int, seconds: float, candidates: int,
                 request_time: str | None = None) -> dict[str, Any]:
    """Start every server (name -> (checkout, workers, extra environment)) once, then per
    round and client count give each one run, in rotating order (module docstring); the first
    server is the base of the ratios. Servers are stopped with SIGTERM at the end."""
    procs = {}
    redis_pid = _redis_pid()
    try:
        for name, (root, workers, env) in servers.items():
            procs[name] = start_server(env, workers=workers, root=root)
        runs: dict[str, dict[int, list[dict]]] = {n: {c: [] for c in clients} for n in servers}
        names = list(servers)
        for r in range(rounds):
            for c in clients:
                for name in names[r % len(names):] + names[:r % len(names)]:
                    proc, url = procs[name]
                    cpu0 = _cpu_ms(proc.pid)
                    redis0 = _cpu_ms(redis_pid) if redis_pid else None
                    got = run(url=url, clients=c, seconds=seconds, request_time=request_time,
                              candidates=tuple(range(500_000, 500_000 + candidates)))
                    answers = max(1, got["ok"] * (seconds + got["warmup_s"]) / seconds)
                    got["server_cpu_ms_per_answer"] = (_cpu_ms(proc.pid) - cpu0) / answers
                    got["redis_cpu_ms_per_answer"] = (
                        (_cpu_ms(redis_pid) - redis0) / answers if redis_pid else None)
                    runs[name][c].append(got)
                    print(f"round {r + 1} {name} {c} clients: {got['throughput_rps']:.1f} req/s, "
                          f"p50 {got['p50_ms']:.1f} ms, p99 {got['p99_ms']:.1f} ms, shed "
                          f"{got['shed']}, errors {got['errors']}, server "
                          f"{got['server_cpu_ms_per_answer']:.2f} ms CPU/answer, load "
                          f"{got['load_average_after'][0]:.1f}", flush=True)
    finally:
        for proc, _ in procs.values():
            proc.terminate()
            proc.wait(timeout=60)
    keys = ("throughput_rps", "p50_ms", "p99_ms", "shed", "errors",
            "server_cpu_ms_per_answer", "redis_cpu_ms_per_answer",
            "client_cpu_ms_per_request")
    medians = {n: {c: {k: _median(runs[n][c], k) for k in keys} for c in clients}
               for n in servers}
    base = names[0]
    ratios = {n: {c: {k: medians[n][c][k] / medians[base][c][k]
                      if medians[base][c][k] and medians[n][c][k] is not None else None
                      for k in ("throughput_rps", "p50_ms", "p99_ms",
                                "server_cpu_ms_per_answer")} for c in clients}
              for n in names[1:]}
    return {"candidates_per_request": candidates, "seconds": seconds, "rounds": rounds,
            "cpu_count": os.cpu_count(), "load_average_after": os.getloadavg(),
            "medians": medians, "ratios_after_over_before": ratios, "runs": runs}


def compare(before: Path, clients: list[int], rounds: int, seconds: float, candidates: int,
            after_workers: list[int], also_log_off: bool = False) -> dict[str, Any]:
    """The ``--before`` checkout (one worker) against this one with each of ``after_workers``
    (and, ``also_log_off``, the same with the served log off), each server with its own log
    folder."""
    logs = Path(tempfile.mkdtemp(prefix="load-compare-logs-"))
    servers = {"before (1 worker)": (before, 1, {"SKEWLESS_VECTOR_LOG_DIR": str(logs / "0")})}
    variants = [("", {})] + ([(", log off", {"SKEWLESS_LOG_FORMAT": "off"})]
                             if also_log_off else [])
    for suffix, env in variants:
        for w in after_workers:
            folder = str(logs / str(len(servers)))
            servers[f"after ({w} worker{'s' if w > 1 else ''}{suffix})"] = (
                ROOT, w, {"SKEWLESS_VECTOR_LOG_DIR": folder, **env})
    return side_by_side(servers, clients, rounds, seconds, candidates)


def markdown(result: dict[str, Any]) -> str:
    """The before/after table of ``result`` (medians over the rounds, ratios to before; "–"
    for a figure the result does not hold, e.g. a file written before it was measured)."""
    rows = ["| server | clients | req/s | p50 ms | p99 ms | shed | server CPU ms/answer "
            "| Redis CPU ms/answer | req/s ÷ before | p99 ÷ before |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    ratios = result["ratios_after_over_before"]

    def ms(value: float | None) -> str:
        return "–" if value is None else f"{value:.2f}"

    for name, per in result["medians"].items():
        for clients, m in per.items():
            r = ratios.get(name, {}).get(str(clients)) or ratios.get(name, {}).get(clients)
            rows.append(
                f"| {name} | {clients} | {m['throughput_rps']:.1f} | {m['p50_ms']:.0f} | "
                f"{m['p99_ms']:.0f} | {m['shed']:.0f} | {m['server_cpu_ms_per_answer']:.2f} | "
                f"{ms(m.get('redis_cpu_ms_per_answer'))} | "
                + (f"{r['throughput_rps']:.2f} | {r['p99_ms']:.2f} |" if r else "– | – |"))
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path,
                    help="the checkout to compare against (e.g. `git archive main` unpacked)")
    ap.add_argument("--clients", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--candidates", type=int, default=100)
    ap.add_argument("--after-workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--also-log-off", action="store_true",
                    help="add this checkout's servers with the served log off (what it costs)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "load_compare_results.json")
    ap.add_argument("--markdown", type=Path, default=None,
                    help="print the table of an earlier result file instead of measuring")
    args = ap.parse_args()
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text(encoding="utf-8"))))
        return
    if args.before is None:
        ap.error("--before is required to measure")
    result = compare(args.before.resolve(), args.clients, args.rounds, args.seconds,
                     args.candidates, args.after_workers, args.also_log_off)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"medians": result["medians"],
                      "ratios_after_over_before": result["ratios_after_over_before"]}, indent=2))


if __name__ == "__main__":
    main()
