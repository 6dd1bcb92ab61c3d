"""Pointing skewless at a Redis Cluster is configuration: ``SKEWLESS_REDIS_TYPE`` /
``SKEWLESS_REDIS_NODES`` reach Feast's repo config, and every wrong combination raises naming
the fix. The launchers refuse what they cannot do. No cluster is started here."""

from __future__ import annotations

import socket

import pytest

from clusters.redis_cluster import slot_ranges, start_redis_cluster
from clusters.spark_standalone import start_spark_cluster
from feast_bridge.store import PROJECT_ROOT, open_store

pytestmark = pytest.mark.scaleout
REPO = PROJECT_ROOT / "feature_repo"
REDIS_VARS = ("SKEWLESS_REDIS_TYPE", "SKEWLESS_REDIS_NODES", "SKEWLESS_REDIS_HOST",
              "SKEWLESS_REDIS_PORT", "SKEWLESS_REDIS_DB")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in REDIS_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _online(monkeypatch: pytest.MonkeyPatch, **values: str):
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return open_store(REPO).config.online_store


def test_cluster_by_environment(env) -> None:
    seeds = _online(env, SKEWLESS_REDIS_TYPE="redis_cluster",
                    SKEWLESS_REDIS_NODES=" 10.0.0.1:7000, 10.0.0.2:07001 ")
    assert seeds.redis_type.value == "redis_cluster"
    assert seeds.connection_string.split(",")[:2] == ["10.0.0.1:7000", "10.0.0.2:7001"]
    env.delenv("SKEWLESS_REDIS_NODES")
    one = _online(env, SKEWLESS_REDIS_HOST="10.0.0.3", SKEWLESS_REDIS_PORT="7002",
                  SKEWLESS_REDIS_DB="0")
    assert one.connection_string.split(",")[0] == "10.0.0.3:7002"
    assert "db=" not in one.connection_string  # redis-py's cluster client refuses any db


def test_single_server_stays_the_default(env) -> None:
    online = _online(env, SKEWLESS_REDIS_PORT="6380", SKEWLESS_REDIS_DB="3")
    assert online.redis_type.value == "redis"
    assert online.connection_string.split(",")[:2] == ["localhost:6380", "db=3"]


@pytest.mark.parametrize("values, message", [
    ({"SKEWLESS_REDIS_TYPE": "cluster"}, "set it to 'redis' (one server) or 'redis_cluster'"),
    ({"SKEWLESS_REDIS_NODES": "127.0.0.1:7000"}, "set SKEWLESS_REDIS_TYPE=redis_cluster"),
    ({"SKEWLESS_REDIS_TYPE": "redis_cluster", "SKEWLESS_REDIS_NODES": "127.0.0.1:7000",
      "SKEWLESS_REDIS_PORT": "7001"}, "not both"),
    ({"SKEWLESS_REDIS_TYPE": "redis_cluster", "SKEWLESS_REDIS_NODES": "127.0.0.1"},
     "is not host:port"),
    ({"SKEWLESS_REDIS_TYPE": "redis_cluster", "SKEWLESS_REDIS_NODES": "h:99999"},
     "is not host:port"),
    ({"SKEWLESS_REDIS_TYPE": "redis_cluster", "SKEWLESS_REDIS_DB": "11"},
     "a Redis Cluster has database 0 only"),
])
def test_wrong_cluster_settings_raise_naming_the_fix(env, values, message) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _online(env, **values)


def test_slot_ranges_cover_every_slot_once() -> None:
    for masters in (3, 4, 7):
        ranges = slot_ranges(masters)
        slots = [s for r in ranges for s in r]
        assert slots == list(range(16384))
        assert max(map(len, ranges)) - min(map(len, ranges)) <= 1


@pytest.mark.parametrize("kwargs, message", [
    ({"masters": 2}, "needs at least 3 masters"),
    ({"host": "0.0.0.0"}, "binds loopback only"),
    ({"ports": (7000, 7001)}, "give one port per master"),
    ({"ports": (7000, 7000, 7001)}, "each must be distinct"),
    ({"ports": (7000, 7001, 60000)}, "the cluster bus uses port"),
])
def test_redis_launcher_refuses_what_it_cannot_start(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        start_redis_cluster(**kwargs)


def test_spark_launcher_refuses_what_it_cannot_start() -> None:
    with pytest.raises(ValueError, match="binds loopback only"):
        start_spark_cluster(host="10.1.2.3")
    with pytest.raises(ValueError, match="at least 1 core"):
        start_spark_cluster(cores=0)


def test_launchers_refuse_a_busy_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ValueError, match=f"port {port} is in use"):
            start_spark_cluster(port=port)
        if port + 10000 <= 65535:
            with pytest.raises(ValueError, match=r"are in use"):
                start_redis_cluster(ports=(port, port + 1, port + 2))
