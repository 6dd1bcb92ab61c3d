"""Bounded load test of ``POST /rank``: N concurrent asyncio clients on loopback for a
fixed time against a real uvicorn server; throughput, latency percentiles and errors as JSON.

    .venv/bin/python -m bench.load_rank [--url http://127.0.0.1:8000] [--clients 16]
        [--seconds 60] [--candidates 50] [--path /rank] [--quick] [--workers 1]
        [--root CHECKOUT] [--no-retry-after] [--out bench/load_rank_results.json]

Without ``--url`` a ``uvicorn serving.api:app`` subprocess is started (``--workers`` processes,
default 1, configured by the environment like any server: ``SKEWLESS_*``, so it serves whatever
pipeline those point at — by default the demo's ``data/`` and Redis at 127.0.0.1:6379) and
stopped afterwards; ``--root`` runs the server code of another checkout (e.g. an export of
``main``, for a before/after comparison with the same client; point ``SKEWLESS_DATA_DIR`` and
``SKEWLESS_FEATURE_REPO`` at the data, as ``data/`` is relative to the checkout).
``run(quick=True)`` is the test suite's short version (4 clients, 5 s). ``--path`` picks the
route: ``/rank`` (the default service's model, the demo's body shape ``{"member_id": ...,
"candidates": [...]}``) or a per-service one such as ``/services/ranker/rank``.

Clients: ``--client raw`` (default) keeps one HTTP/1.1 connection per client on asyncio
streams and posts pre-encoded bodies — a small fraction of ``httpx``'s client-side CPU, which
on a shared 2-core machine otherwise caps the figure; ``--client httpx`` is the client of the
figures published before. ``client_cpu_ms_per_request`` reports what the client cost.

What is measured: each client sends one request at a time, back to back (closed loop), so
throughput is what the server sustains at that concurrency; latency is the client-side wall
time of a request (loopback, JSON parse included). The first ``warmup`` seconds are left out.
A ``503`` carrying ``Retry-After`` is a *shed* request (the server's bound on requests in
flight, ``SKEWLESS_MAX_IN_FLIGHT``): counted apart, and the client waits the time it names
before its next request, as a well-behaved client does (``--no-retry-after``: it sends again
at once); ``p50_ms``/``p99_ms``/``throughput_rps`` are over the answered (200) requests only,
``all_p99_ms`` over every request. An error is any other non-200 answer or a transport
error (timeouts included). Caveat: the client
and the server share the machine's cores, and on a shared machine other processes too: quote
the load average with the figures (it is in the result).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clusters.processes import free_port

ROOT = Path(__file__).resolve().parents[1]


def _percentile(sorted_ms: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of an ascending list; NaN when empty."""
    if not sorted_ms:
        return float("nan")
    rank = max(1, min(len(sorted_ms), round(q / 100 * len(sorted_ms) + 0.5)))
    return sorted_ms[rank - 1]


def http_protocol_args(root: Path) -> list[str]:
    """uvicorn's ``--http`` option as ``skewless serve`` sets it, for checkout ``root``: its
    own protocol (:mod:`serving.http_protocol`), or none for a checkout older than it (which
    ran uvicorn's default)."""
    from serving.http_protocol import PROTOCOL

    return ["--http", PROTOCOL] if (root / "serving" / "http_protocol.py").exists() else []


def start_server(env: Mapping[str, str] | None = None, timeout_s: float = 180.0,
                 workers: int = 1, root: Path = ROOT) -> tuple[subprocess.Popen, str]:
    """A uvicorn subprocess (``workers`` processes, the code of checkout ``root``, its HTTP
    protocol as ``skewless serve`` runs it) on a free loopback port, once ``/health/live``
    answers 200 (readiness is the caller's concern: a store behind the registry is still
    served; a checkout without ``/health/live``: once ``/health`` answers)."""
    import httpx

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "serving.api:app", "--host", "127.0.0.1", "--port",
         str(port), "--log-level", "warning", "--no-access-log", "--workers", str(workers),
         *http_protocol_args(root)],
        cwd=root, env={**os.environ, **(env or {}), "PYTHONPATH": str(root),
                       "SKEWLESS_WORKERS": str(workers)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}): "
                               f"{proc.stderr.read().decode(errors='replace')[-3000:]}")
        try:
            live = httpx.get(url + "/health/live", timeout=2).status_code
            if live == 404:  # a checkout older than /health/live: /health answers when up
                live = 200 if httpx.get(url + "/health", timeout=2).status_code in (200, 503) \
                    else live
            if live == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the server did not answer within {timeout_s}s")


class _RawConnection:
    """One keep-alive HTTP/1.1 connection on asyncio streams, posting pre-encoded JSON: a
    fraction of httpx's client-side CPU (measured: ~2.4 ms per 100-candidate request with
    httpx on the loaded 2-core machine, as much as half the server's own cost), so on a
    shared machine the load generator does not cap what it measures. Reads ``Content-Length``
    bodies only (what the server sends)."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port = host, port
        self.head = (f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\n"
                     "content-type: application/json\r\ncontent-length: ").encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> tuple[int, dict[bytes, bytes]]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = dict(line.lower().split(b": ", 1) for line in lines[1:] if line)
        if b"content-length" not in headers:
            raise ValueError(f"answer {status} without content-length")
        await self.reader.readexactly(int(headers[b"content-length"]))
        if headers.get(b"connection") == b"close":
            self.close()
        return status, headers

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _load(url: str, clients: int, seconds: float, warmup: float,
                payloads: Sequence[dict], path: str = "/rank",
                retry_after: bool = True, client_kind: str = "raw") -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    answered: list[float] = []
    statuses: Counter = Counter()
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds
    bodies = [json.dumps(p).encode() for p in payloads]
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    shared = httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(
        max_connections=clients, max_keepalive_connections=clients))

    async def send_httpx(conn: None, n: int) -> tuple[int, Any]:
        r = await shared.post(path, content=bodies[n % len(bodies)],
                              headers={"content-type": "application/json"})
        return r.status_code, {k.encode(): v.encode() for k, v in r.headers.items()}

    async def send_raw(conn: _RawConnection, n: int) -> tuple[int, Any]:
        return await asyncio.wait_for(conn.post(bodies[n % len(bodies)]), 30)

    send = send_raw if client_kind == "raw" else send_httpx

    async def worker(i: int) -> None:
        conn = _RawConnection(host, int(port), path) if client_kind == "raw" else None
        n = i
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                break
            wait = 0.0
            try:
                code, headers = await send(conn, n)
                status = str(code)
                if code == 503 and b"retry-after" in headers and retry_after:
                    wait = float(headers[b"retry-after"])
            except (httpx.HTTPError, OSError, asyncio.TimeoutError, ValueError,
                    asyncio.IncompleteReadError) as exc:
                status = exc.__class__.__name__
                if conn is not None:
                    conn.close()
            t1 = time.perf_counter()
            n += clients
            if t0 >= measure_from:
                statuses[status] += 1
                latencies.append((t1 - t0) * 1000)
                if status == "200":
                    answered.append((t1 - t0) * 1000)
            if wait:
                await asyncio.sleep(min(wait, max(0.0, stop_at - time.perf_counter())))
        if conn is not None:
            conn.close()

    async with shared:
        await asyncio.gather(*(worker(i) for i in range(clients)))
    latencies.sort()
    answered.sort()
    ok, shed = statuses.get("200", 0), statuses.get("503", 0)
    return {
        "requests": len(latencies), "ok": ok, "shed": shed, "errors": len(latencies) - ok - shed,
        "status_counts": dict(statuses), "throughput_rps": ok / seconds,
        "p50_ms": _percentile(answered, 50), "p90_ms": _percentile(answered, 90),
        "p99_ms": _percentile(answered, 99), "max_ms": answered[-1] if answered else None,
        "mean_ms": statistics.fmean(answered) if answered else None,
        "all_p99_ms": _percentile(latencies, 99),
    }


def run(quick: bool = False, *, url: str | None = None, env: Mapping[str, str] | None = None,
        clients: int | None = None, seconds: float | None = None, warmup: float = 2.0,
        members: Sequence[int] = tuple(range(1_000_000, 1_000_050)),
        candidates: Sequence[int] = tuple(range(500_000, 500_050)),
        request_time: str | None = None, path: str = "/rank", workers: int = 1,
        root: Path = ROOT, retry_after: bool = True, client: str = "raw") -> dict[str, Any]:
    """Run the load test (see module docstring) and return its figures.

    ``quick``: 4 clients for 5 s (unless given). ``url``: an already running server; else one
    is started with ``env`` on top of the environment (``workers`` processes, the code of
    checkout ``root``). ``retry_after``: a shed client waits ``Retry-After``. ``client``:
    ``raw`` (asyncio streams, cheap) or ``httpx`` (the client of earlier figures). Each request
    ranks all ``candidates`` for one of ``members`` (round robin), ``POST path``. Raises
    ``ValueError`` for no members, no candidates, ``clients < 1`` or ``seconds <= 0``."""
    clients = clients or (4 if quick else 16)
    seconds = seconds or (5.0 if quick else 60.0)
    if not members or not candidates:
        raise ValueError("members and candidates must be non-empty id lists")
    if clients < 1 or seconds <= 0:
        raise ValueError(f"clients={clients} must be >= 1 and seconds={seconds} > 0")
    payloads = [{"member_id": m, "candidates": list(candidates),
                 **({"request_time": request_time} if request_time else {})} for m in members]
    proc = None
    if url is None:
        proc, url = start_server(env, workers=workers, root=root)
    try:
        cpu0 = time.process_time()
        figures = asyncio.run(_load(url, clients, seconds, warmup, payloads, path,
                                    retry_after, client))
        # the client's own CPU per request sent (warm-up included): on a shared machine the
        # client competes with the server for the same cores
        sent = figures["requests"] * (seconds + warmup) / seconds
        figures["client_cpu_ms_per_request"] = (time.process_time() - cpu0) * 1000 / max(1, sent)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    return {"endpoint": path, "clients": clients, "client": client, "seconds": seconds,
            "warmup_s": warmup,
            "candidates_per_request": len(candidates), "server": url if proc is None else
            f"uvicorn subprocess, {workers} worker(s), code of {root.name}", **figures,
            "cpu_count": os.cpu_count(), "load_average_after": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default=None, help="a running server (default: start one)")
    ap.add_argument("--clients", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--candidates", type=int, default=50)
    ap.add_argument("--path", default="/rank",
                    help="route to load: /rank or /services/<name>/rank")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--root", type=Path, default=ROOT,
                    help="checkout whose server code runs (default: this one)")
    ap.add_argument("--client", choices=("raw", "httpx"), default="raw",
                    help="raw: keep-alive asyncio streams (cheap); httpx: httpx.AsyncClient")
    ap.add_argument("--no-retry-after", action="store_true",
                    help="a shed client sends again at once instead of waiting Retry-After")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "load_rank_results.json")
    args = ap.parse_args()
    result = run(args.quick, url=args.url, clients=args.clients, seconds=args.seconds,
                 candidates=tuple(range(500_000, 500_000 + args.candidates)), path=args.path,
                 workers=args.workers, root=args.root.resolve(),
                 retry_after=not args.no_retry_after, client=args.client)
    text = json.dumps(result, indent=2)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
