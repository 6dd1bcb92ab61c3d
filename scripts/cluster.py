"""Start and stop the local clusters that try skewless' scale-out configuration on one machine.

    .venv/bin/python scripts/cluster.py spark start [--port 7077] [--cores 2] [--memory 2g]
    .venv/bin/python scripts/cluster.py redis start [--ports 7000,7001,7002]
    .venv/bin/python scripts/cluster.py status
    .venv/bin/python scripts/cluster.py spark stop
    .venv/bin/python scripts/cluster.py redis stop

``spark start`` runs a Spark standalone master and one worker on 127.0.0.1 from the installed
pyspark (``clusters/spark_standalone.py``); ``redis start`` runs a 3-master Redis Cluster on
127.0.0.1 (``clusters/redis_cluster.py``). Both keep running after this command exits and
print the environment that points skewless at them. What was started is recorded in
``SKEWLESS_CLUSTER_DIR`` (default ``<SKEWLESS_DATA_DIR>/clusters``, i.e. ``data/clusters``),
with the logs, so ``stop`` stops exactly those processes.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from clusters.redis_cluster import (
    RedisClusterHandle,
    start_redis_cluster,
    stop_redis_cluster,
)
from clusters.spark_standalone import (
    SparkClusterHandle,
    start_spark_cluster,
    stop_spark_cluster,
)

ROOT = Path(__file__).resolve().parents[1]


def state_dir() -> Path:
    default = Path(os.environ.get("SKEWLESS_DATA_DIR", ROOT / "data")) / "clusters"
    return Path(os.environ.get("SKEWLESS_CLUSTER_DIR", default)).resolve()


def _ports(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of ports, "
                                         "e.g. 7000,7001,7002") from None


def _exports(env: dict[str, str]) -> str:
    return "\n".join(f"export {k}={v}" for k, v in env.items())


def _running(kind: str) -> SparkClusterHandle | RedisClusterHandle | None:
    path = state_dir() / f"{kind}.json"
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8")
    return (SparkClusterHandle.from_json(text) if kind == "spark"
            else RedisClusterHandle.from_json(text))


def start(kind: str, args: argparse.Namespace) -> str:
    if _running(kind) is not None:
        raise SystemExit(f"cluster: a local {kind} cluster is recorded in {state_dir()}; "
                         f"stop it first (scripts/cluster.py {kind} stop)")
    work = state_dir() / kind
    work.mkdir(parents=True, exist_ok=True)
    handle: SparkClusterHandle | RedisClusterHandle
    if kind == "spark":
        handle = start_spark_cluster(port=args.port, cores=args.cores, memory=args.memory,
                                     workdir=work)
        what = f"Spark standalone master {handle.master_url} with one worker (UI {handle.ui_url})"
    else:
        handle = start_redis_cluster(masters=len(args.ports), ports=args.ports, workdir=work)
        what = f"Redis Cluster of {len(handle.ports)} masters at {handle.nodes}"
    (state_dir() / f"{kind}.json").write_text(handle.to_json(), encoding="utf-8")
    return f"started {what}; logs in {work}\n{_exports(handle.env())}"


def stop(kind: str) -> str:
    handle = _running(kind)
    if handle is None:
        return f"no local {kind} cluster is recorded in {state_dir()}"
    if isinstance(handle, SparkClusterHandle):
        stop_spark_cluster(handle)
    else:
        stop_redis_cluster(handle)
    (state_dir() / f"{kind}.json").unlink()
    return f"stopped the local {kind} cluster (logs kept in {state_dir() / kind})"


def status() -> str:
    lines = []
    for kind in ("spark", "redis"):
        handle = _running(kind)
        if handle is None:
            lines.append(f"{kind}: not started")
        elif isinstance(handle, SparkClusterHandle):
            try:
                st = handle.status()
                lines.append(f"spark: {handle.master_url}, {st.get('aliveworkers', 0)} alive "
                             f"worker(s), {len(st.get('activeapps', []))} running app(s)")
            except RuntimeError as exc:
                lines.append(f"spark: recorded at {handle.master_url} but {exc}")
        else:
            lines.append(f"redis: {_redis_state(handle)} at {handle.nodes}")
    return "\n".join(lines)


def _redis_state(handle: RedisClusterHandle) -> str:
    import redis

    try:
        info = redis.Redis(host=handle.host, port=handle.ports[0], socket_timeout=2,
                           socket_connect_timeout=2).cluster("INFO")
    except (redis.exceptions.RedisError, OSError) as exc:
        return f"not answering ({exc.__class__.__name__})"
    return f"cluster_state {info.get('cluster_state')}, {info.get('cluster_known_nodes')} nodes"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="kind", required=True)
    sp = sub.add_parser("spark", help="a standalone master + worker on 127.0.0.1")
    sp.add_argument("action", choices=["start", "stop"])
    sp.add_argument("--port", type=int, default=7077, help="master port (0: a free one)")
    sp.add_argument("--cores", type=int, default=2, help="cores the worker offers")
    sp.add_argument("--memory", default="2g", help="memory the worker offers executors")
    rp = sub.add_parser("redis", help="a 3-master Redis Cluster on 127.0.0.1")
    rp.add_argument("action", choices=["start", "stop"])
    rp.add_argument("--ports", type=_ports, default=(7000, 7001, 7002),
                    help="one port per master, comma-separated (bus ports are +10000)")
    sub.add_parser("status", help="what is running")
    args = ap.parse_args(argv)
    if args.kind == "spark":
        args.port = args.port or None
    try:
        if args.kind == "status":
            print(status())
        elif args.action == "start":
            print(start(args.kind, args))
        else:
            print(stop(args.kind))
    except (ValueError, RuntimeError) as exc:
        raise SystemExit(f"cluster: {exc}") from None


if __name__ == "__main__":
    main()
