"""Redis credentials and TLS options come from the environment and never leak: a private
``redis-server --requirepass`` serves the online path with ``SKEWLESS_REDIS_PASSWORD`` and
refuses it, with a 503 naming the variable, without; option parsing names the variable (not
the secret) on every bad value."""

from __future__ import annotations

import json

import pytest
import redis
from fastapi.testclient import TestClient

from encoders import load
from feast_bridge.store import open_store
from online_store.connection import (
    RedisClientOptions,
    client_kwargs,
    redact,
    secure_connection_string,
)
from serving.api import create_app
from serving.online import OnlineEncoder
from serving.settings import Settings
from tests.reliability.conftest import RedisProcess

PASSWORD = "s3cret=pa:ss\"word"  # '=', ':' and a quote survive Feast's connection string


@pytest.fixture(scope="module")
def locked_redis(served, tmp_path_factory):
    """A private Redis with a password, holding a copy of the served keys (DUMP/RESTORE)."""
    server = RedisProcess(tmp_path_factory.mktemp("locked"), "--requirepass", PASSWORD)
    server.start(password=PASSWORD)
    src, dst = served["redis"].client(), server.client(password=PASSWORD)
    for key in src.scan_iter(count=1000):
        dst.restore(key, 0, src.dump(key), replace=True)
    yield server
    server.stop()


def _env(mp, served, port, password=None):
    for name, value in served["env"].items():
        mp.setenv(name, value)
    mp.setenv("SKEWLESS_REDIS_PORT", str(port))
    if password is None:
        mp.delenv("SKEWLESS_REDIS_PASSWORD", raising=False)
    else:
        mp.setenv("SKEWLESS_REDIS_PASSWORD", password)


def test_online_path_works_with_the_env_password(served, locked_redis, monkeypatch) -> None:
    _env(monkeypatch, served, locked_redis.port, PASSWORD)
    store = open_store(served["repo"])
    assert PASSWORD not in repr(Settings.from_env())
    enc = load(served["env"]["SKEWLESS_STATE_PATH"])
    got = OnlineEncoder(store, enc).encode(served["rows"][:3])
    assert all(r.statuses["member_features"] != "missing" for r in got)


def test_without_the_password_answers_503_naming_the_variable(served, locked_redis,
                                                              monkeypatch) -> None:
    _env(monkeypatch, served, locked_redis.port, None)
    # NOAUTH, or (Redis 7, a pipelined HMGET of more than 10 arguments) the server closing
    # the unauthenticated connection
    with pytest.raises((redis.exceptions.AuthenticationError, redis.exceptions.ConnectionError)):
        OnlineEncoder(open_store(served["repo"]),
                      load(served["env"]["SKEWLESS_STATE_PATH"])).encode(served["rows"][:1])
    with TestClient(create_app(Settings.from_env()), raise_server_exceptions=False) as client:
        r = client.post("/features", json={"entities": served["rows"][:1]})
        assert r.status_code == 503, r.text
        assert "SKEWLESS_REDIS_PASSWORD" in r.json()["detail"]
        health = client.get("/health")
        assert health.status_code == 503
        assert not health.json()["ok"] and "AuthenticationError" in health.json()["redis"]
    _env(monkeypatch, served, locked_redis.port, "wrong")
    with TestClient(create_app(Settings.from_env()), raise_server_exceptions=False) as client:
        r = client.post("/features", json={"entities": served["rows"][:1]})
        assert r.status_code == 503 and "SKEWLESS_REDIS_PASSWORD" in r.json()["detail"]
        assert "wrong" not in r.text


def test_options_merge_into_feasts_connection_string(tmp_path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    opts = RedisClientOptions.from_env({
        "SKEWLESS_REDIS_PASSWORD": "true", "SKEWLESS_REDIS_USERNAME": "app",
        "SKEWLESS_REDIS_SSL": "yes", "SKEWLESS_REDIS_SSL_CA_CERTS": str(ca),
        "SKEWLESS_REDIS_SSL_CERT_REQS": "required", "SKEWLESS_REDIS_SOCKET_TIMEOUT": "0.5"})
    assert "hunter2" not in repr(RedisClientOptions.from_env({"SKEWLESS_REDIS_PASSWORD":
                                                             "hunter2"}))
    conn = secure_connection_string("h:1,db=3,password=old,socket_timeout=9", opts)
    kwargs = client_kwargs(conn)
    assert kwargs == {"host": "h", "port": 1, "db": 3, "password": "true", "username": "app",
                      "ssl": True, "ssl_ca_certs": str(ca), "ssl_cert_reqs": "required",
                      "socket_timeout": 0.5, "socket_connect_timeout": 2.0, "retry": None}
    assert "true" not in redact(conn).split("password=")[1].split(",")[0]
    cluster = secure_connection_string("a:1,b:2", RedisClientOptions(), cluster=True)
    assert "retry" not in cluster and cluster.startswith("a:1,b:2,")
    assert "retry=null" not in secure_connection_string("h:1", RedisClientOptions(retry=True))


def test_password_file_is_read_and_stripped(tmp_path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-a-file\n")
    opts = RedisClientOptions.from_env({"SKEWLESS_REDIS_PASSWORD_FILE": str(secret)})
    assert opts.password == "from-a-file"


@pytest.mark.parametrize("env, names", [
    ({"SKEWLESS_REDIS_PASSWORD": "a,b"}, "SKEWLESS_REDIS_PASSWORD"),
    ({"SKEWLESS_REDIS_PASSWORD": "x", "SKEWLESS_REDIS_PASSWORD_FILE": "/nope"},
     "not both"),
    ({"SKEWLESS_REDIS_PASSWORD_FILE": "/no/such/file"}, "SKEWLESS_REDIS_PASSWORD_FILE"),
    ({"SKEWLESS_REDIS_SSL": "maybe"}, "SKEWLESS_REDIS_SSL"),
    ({"SKEWLESS_REDIS_SSL_CA_CERTS": "/no/such.pem", "SKEWLESS_REDIS_SSL": "true"},
     "SKEWLESS_REDIS_SSL_CA_CERTS"),
    ({"SKEWLESS_REDIS_SSL_CERT_REQS": "required"}, "SKEWLESS_REDIS_SSL=true"),
    ({"SKEWLESS_REDIS_SSL_CERT_REQS": "always", "SKEWLESS_REDIS_SSL": "1"}, "one of"),
    ({"SKEWLESS_REDIS_SOCKET_TIMEOUT": "-1"}, "SKEWLESS_REDIS_SOCKET_TIMEOUT"),
    ({"SKEWLESS_REDIS_CONNECT_TIMEOUT": "soon"}, "SKEWLESS_REDIS_CONNECT_TIMEOUT"),
    ({"SKEWLESS_REDIS_RETRY": "forever"}, "SKEWLESS_REDIS_RETRY"),
])
def test_bad_options_name_the_variable_not_the_secret(env, names) -> None:
    with pytest.raises(ValueError) as info:
        RedisClientOptions.from_env(env)
    assert names in str(info.value)
    assert "a,b" not in str(info.value)


def test_no_secret_in_the_repository_config() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    yaml_text = (root / "feature_repo" / "feature_store.yaml").read_text()
    assert "password" not in yaml_text.lower()
    assert json.dumps(redact("h:1,password=p")) == '"h:1,password=***"'
