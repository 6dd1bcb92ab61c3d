"""Online latency, side by side in one run: skewless' encoded path vs Feast vs raw Redis.

Variants (each a request for 1 entity row, and for 1 member x 100 candidate titles):

* ``skewless encoded``    — ``OnlineEncoder.encode``: Feast ``get_online_features`` for the raw
  features + ttl at the request time + the encoders (what ``/features`` and ``/rank`` run);
* ``feast raw``           — Feast ``get_online_features`` of the same raw features, no encoding;
* ``feast + python ODFV`` — Feast ``get_online_features`` of the ``ranker_v1`` service (the
  encoders as a python on-demand view): the peer a plain Feast user would run;
* ``raw HMGET floor``     — redis-py pipelined HMGET of exactly the keys and fields Feast reads;
* ``HTTP /rank``          — uvicorn on loopback, one client (httpx), 100 candidates.

The in-process variants alternate request by request so drift on the shared machine hits all
of them alike; the HTTP variant runs afterwards in its own phase (the server is a second
process whose background log writer would otherwise land on the in-process figures).
Needs the main job's data and a materialized Redis (run ``scripts/demo.sh`` first).

    .venv/bin/python bench/bench_online.py [--iterations 300] [--json bench/online_results.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "serving.api:app", "--host", "127.0.0.1", "--port",
         str(port), "--log-level", "warning"], cwd=ROOT, env=os.environ.copy())
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the HTTP server did not start within 120 s")


def measure(variants: dict, iterations: int) -> dict[str, list[float]]:
    """Milliseconds per call, variants alternating call by call, after a warm-up."""
    for fn in variants.values():
        for _ in range(10):
            fn()
    gc.collect()
    gc.freeze()  # as the server does after start-up: long-lived objects leave the GC's scans
    samples: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(iterations):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - t0) * 1e3)
    return samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "online_results.json")
    ap.add_argument("--when", default=None,
                    help="request time (ISO-8601); default: 12 h after the last snapshot")
    args = ap.parse_args()
    if args.iterations < 20:
        ap.error("--iterations must be >= 20 for a p99")

    import httpx
    import redis
    from feast.infra.key_encoding_utils import serialize_entity_key  # noqa: F401
    from feast.infra.online_stores.redis import RedisOnlineStore
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    from encoders import load
    from encoders.feast_adapter import open_store
    from serving.online import OnlineEncoder, check_state_matches
    from serving.settings import Settings

    settings = Settings.from_env()
    store = open_store(settings.repo)
    enc = load(settings.state_path)
    check_state_matches(store, enc)
    online = OnlineEncoder(store, enc)
    client = settings.redis_client()
    if not client.ping():
        raise SystemExit("Redis does not answer; run scripts/demo.sh first")
    when = (datetime.fromisoformat(args.when) if args.when else
            datetime(2024, 2, 5, 12, tzinfo=timezone.utc))
    member = 1000220
    one = [{"member_id": member, "title_id": 500000}]
    hundred = [{"member_id": member, "title_id": 500000 + i} for i in range(100)]
    service_v1 = store.get_feature_service("ranker_v1")

    rs = RedisOnlineStore()
    config = store.config
    views = {v.name: store.get_feature_view(v.name) for v in online.views}

    def hmget_plan(rows):
        plan = []
        for v in online.views:
            fv = views[v.name]
            _, fields = rs._generate_hset_keys_for_features(fv, list(v.features))
            keys = []
            for r in rows:
                ek = EntityKey(join_keys=list(v.join_keys),
                               entity_values=[Value(int64_val=r[k]) for k in v.join_keys])
                keys.append(ek)
            plan += [(k, fields) for k in rs._generate_redis_keys_for_entities(config, keys)]
        return plan

    raw = redis.Redis(host=settings.redis_host, port=settings.redis_port, db=settings.redis_db)

    def hmget(plan):
        pipe = raw.pipeline(transaction=False)
        for key, fields in plan:
            pipe.hmget(key, fields)
        return pipe.execute()

    plans = {1: hmget_plan(one), 100: hmget_plan(hundred)}
    ctx = {"device": "tv"}
    variants = {}
    for n, rows in ((1, one), (100, hundred)):
        refs_rows = [{"member_id": r["member_id"], "title_id": r["title_id"]} for r in rows]
        odfv_rows = [{**r, "request_time": when, "device": "tv"} for r in rows]
        variants[f"skewless encoded 1x{n}"] = lambda rows=rows: online.encode(rows, when, ctx)
        variants[f"feast raw 1x{n}"] = lambda rr=refs_rows: store.get_online_features(
            features=online.refs, entity_rows=rr)
        variants[f"feast + python ODFV 1x{n}"] = lambda rr=odfv_rows: store.get_online_features(
            features=service_v1, entity_rows=rr)
        variants[f"raw HMGET floor 1x{n}"] = lambda p=plans[n]: hmget(p)
    assert any(hmget(plans[1])[0]), "the member key is not in Redis: materialize first"

    samples = measure(variants, args.iterations)
    # Phase 2: the HTTP server runs in another process; measured in its own phase so its
    # background work (the vector-log writer) does not land on the in-process figures.
    port = free_port()
    server = start_server(port)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    body = {"member_id": member, "candidates": [r["title_id"] for r in hundred],
            "request_time": when.isoformat(), "device": "tv"}
    try:
        samples.update(measure(
            {"HTTP /rank 1x100": lambda: http.post("/rank", json=body).raise_for_status()},
            args.iterations))
    finally:
        http.close()
        server.terminate()
        server.wait(timeout=30)

    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
        "iterations": args.iterations, "request_time": when.isoformat(),
        "ms": {k: {"p50": round(pct(v, 0.5), 3), "p99": round(pct(v, 0.99), 3)}
               for k, v in samples.items()},
    }
    for n in (1, 100):
        ours = result["ms"][f"skewless encoded 1x{n}"]
        for peer in (f"feast raw 1x{n}", f"feast + python ODFV 1x{n}", f"raw HMGET floor 1x{n}"):
            result.setdefault("ratios_p99", {})[f"encoded 1x{n} / {peer}"] = round(
                ours["p99"] / result["ms"][peer]["p99"], 2)
    print(f"{result['machine']}; {args.iterations} alternating iterations; request time {when}")
    print(f"{'variant':32s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for k, v in result["ms"].items():
        print(f"{k:32s} {v['p50']:8.2f} {v['p99']:8.2f}")
    for k, v in result["ratios_p99"].items():
        print(f"p99 ratio {k}: {v}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
