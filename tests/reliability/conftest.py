"""Fixtures for the fault tests: private ``redis-server`` processes on free loopback ports (never
the shared one on 6379), the tiny pipeline materialized into one of them, and ``uvicorn``
servers in subprocesses. Real processes and real sockets only; a missing Redis binary, Java or
Spark fails with the fix, never skips."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import redis

from clusters.processes import free_port
from clusters.redis_cluster import redis_server_binary

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2023, 12, 1, tzinfo=timezone.utc)
END = datetime(2024, 2, 5, tzinfo=timezone.utc)  # after the last snapshot of the tiny preset


class RedisProcess:
    """A private redis-server on ``127.0.0.1:port`` with an append-only file fsynced on every
    write, so a ``SIGKILL`` keeps what was acknowledged and a restart on the same port and
    folder brings it back."""

    def __init__(self, workdir: Path, *extra: str, port: int | None = None) -> None:
        self.workdir, self.extra = workdir, extra
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    def client(self, db: int = 0, **kwargs) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_connect_timeout=2,
                           socket_timeout=5, **kwargs)

    def start(self, timeout_s: float = 15.0, password: str | None = None) -> RedisProcess:
        self.proc = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.workdir),
             "--logfile", str(self.workdir / "redis.log"), *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = self.client(password=password)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                client.ping()
                return self
            except redis.exceptions.BusyLoadingError:
                time.sleep(0.05)
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        log = (self.workdir / "redis.log").read_text(errors="replace")[-2000:] \
            if (self.workdir / "redis.log").exists() else ""
        self.kill()
        pytest.fail(f"redis-server did not answer on 127.0.0.1:{self.port}: {log}",
                    pytrace=False)

    def kill(self) -> None:
        """SIGKILL (no chance to save or to close connections politely), then wait."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="session")
def served(pipeline, tmp_path_factory) -> Iterator[dict]:
    """The tiny pipeline materialized into a private Redis (DB 0), a model trained on its
    training set, and the environment a server subprocess needs to serve them."""
    from feast_bridge.store import open_store
    from scoring.train import train

    work = tmp_path_factory.mktemp("served")
    server = RedisProcess(work / "redis").start()
    mp = pytest.MonkeyPatch()
    for name, value in (("SKEWLESS_REDIS_HOST", "127.0.0.1"),
                        ("SKEWLESS_REDIS_PORT", str(server.port)), ("SKEWLESS_REDIS_DB", "0")):
        mp.setenv(name, value)
    store = open_store(pipeline["repo"])
    store.materialize(START, END)
    mp.undo()
    model = train(pipeline["out"], work / "model.json")
    from pyspark.sql import functions as F

    spark = pipeline["spark"]
    last = spark.read.parquet(str(pipeline["data"] / "features" / "member_features")).agg(
        F.date_format(F.max("event_timestamp"), "yyyy-MM-dd'T'HH:mm:ss")).collect()[0][0]
    picked = pipeline["labels"].select("member_id", "title_id").distinct().orderBy(
        "member_id", "title_id").limit(8).collect()
    rows = [{"member_id": r["member_id"], "title_id": r["title_id"]} for r in picked]
    env = {
        "SKEWLESS_FEATURE_REPO": str(pipeline["repo"]),
        "SKEWLESS_STATE_PATH": str(pipeline["repo"] / "encoder_state.json"),
        "SKEWLESS_DATA_DIR": str(pipeline["data"]),
        "SKEWLESS_MODEL_PATH": str(work / "model.json"),
        "SKEWLESS_VECTOR_LOG_DIR": str(work / "vector_log"),
        "SKEWLESS_REDIS_HOST": "127.0.0.1",
        "SKEWLESS_REDIS_PORT": str(server.port),
        "SKEWLESS_REDIS_DB": "0",
        "SKEWLESS_HASH_CHECK_SECONDS": "3600",
        "SKEWLESS_REDIS_SOCKET_TIMEOUT": "1",
        "SKEWLESS_REDIS_CONNECT_TIMEOUT": "1",
    }
    yield {**pipeline, "redis": server, "env": env, "model": model, "work": work, "rows": rows,
           "when": last + "+00:00"}  # request time: the last snapshot (every row present)
    server.stop()


class ServerProcess:
    """``uvicorn serving.api:app`` in a subprocess on a free loopback port; ``via_cli``:
    ``skewless serve`` instead (the server as users start it, with its HTTP protocol)."""

    def __init__(self, env: dict[str, str], log_path: Path, via_cli: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        command = ["skewless", "serve"] if via_cli else ["uvicorn", "serving.api:app"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *command, "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warning"],
            cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout_s: float = 120.0) -> ServerProcess:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the server exited ({self.proc.returncode}):\n{self.output()}",
                            pytrace=False)
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        pytest.fail(f"the server did not answer in {timeout_s}s:\n{self.output()}",
                    pytrace=False)

    def wait_exit(self, timeout_s: float = 120.0) -> int:
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"the server did not exit in {timeout_s}s:\n{self.output()}",
                        pytrace=False)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
