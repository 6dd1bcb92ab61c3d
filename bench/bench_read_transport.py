"""The online read's two transports side by side: one ``EVALSHA`` vs pipelined ``HMGET`` s.

:class:`serving.redis_reader.RedisReader` reads 1 member + 100 titles of the demo (the
``/rank`` request of ``bench/bench_online.py``) with ``transport="script"`` and with
``transport="pipeline"``, each with the decoded-value caches on (the server's default: a
repeated reply is not decoded again) and off (every reply decoded), alternating in blocks of
``--block`` reads for ``--rounds`` rounds. Reported per transport: the client process's CPU
per read (``time.process_time``: what a server worker pays) and the wall time per read (the
round trip, Redis included), medians over the rounds; answers are checked equal first.

    .venv/bin/python -m bench.bench_read_transport [--from-env] [--rounds 5] [--block 500]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from bench.bench_online import (
    DEFAULT_CACHE,
    FIRST_TITLE,
    MEMBER,
    SERVICE,
    ensure_data,
)


def run(from_env: bool, rounds: int, block: int, cache_dir: Path = DEFAULT_CACHE,
        redis_db: int = 12) -> dict:
    if not from_env:
        ensure_data(cache_dir, redis_db)
    from feast_bridge.store import open_store
    from serving.online import OnlineEncoder
    from serving.redis_reader import TRANSPORTS, RedisReader

    store = open_store()
    views = OnlineEncoder(store, service=SERVICE).views
    rows = [{"member_id": MEMBER, "title_id": FIRST_TITLE + i} for i in range(100)]
    readers = {f"{t}, cache {'on' if size else 'off'}": RedisReader(store, views, size, t)
               for size in (50_000, 0) for t in TRANSPORTS}
    answers = [[(list(v.codes), list(v.stamps_us), list(v.values)) for v in r.read(rows)]
               for r in readers.values()]
    if any(a != answers[0] for a in answers):
        raise SystemExit("the transports read different answers")
    cpu: dict[str, list[float]] = {t: [] for t in readers}
    wall: dict[str, list[float]] = {t: [] for t in readers}
    for _ in range(rounds):
        for name, reader in readers.items():
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(block):
                reader.read(rows)
            cpu[name].append((time.process_time() - c0) / block * 1e3)
            wall[name].append((time.perf_counter() - w0) / block * 1e3)
    out = {t: {"client_cpu_ms_per_read": statistics.median(cpu[t]),
               "wall_ms_per_read": statistics.median(wall[t])} for t in readers}
    out["entities_per_read"] = 101
    out["load_average_after"] = os.getloadavg()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from-env", action="store_true",
                    help="use the data and Redis the environment names (after scripts/demo.sh)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--block", type=int, default=500)
    args = ap.parse_args()
    if args.rounds < 1 or args.block < 1:
        ap.error("--rounds and --block must be >= 1")
    print(json.dumps(run(args.from_env, args.rounds, args.block), indent=2))


if __name__ == "__main__":
    main()
