"""The Redis address (``SKEWLESS_REDIS_HOST`` / ``_PORT`` / ``_DB``) is checked in one place
(``online_store.connection.RedisAddress``) and every reader refuses a bad value at start-up,
naming the variable and the fix: the settings of the server, ``skewless serve`` and
``skewless materialize`` (before any store, Spark or uvicorn starts), ``open_store``'s
connection string and ``clusters.services``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from clusters import services
from feast_bridge.store import redis_connection_string
from online_store.connection import RedisAddress
from serving.settings import Settings
from skewless.cli import app

ROOT = Path(__file__).resolve().parents[1]
PORT = "SKEWLESS_REDIS_PORT"
BAD = [(PORT, "99999", "1 to 65535"), (PORT, "0", "1 to 65535"), (PORT, "65536", "1 to 65535"),
       (PORT, "-1", "1 to 65535"), (PORT, "6379.0", "1 to 65535"), (PORT, "redis", "TCP port"),
       (PORT, "٦٣٧٩", "TCP port"),  # Arabic-Indic digits: int() would take them
       ("SKEWLESS_REDIS_DB", "-1", "integer >= 0"), ("SKEWLESS_REDIS_DB", "one", "integer >= 0"),
       ("SKEWLESS_REDIS_HOST", "127.0.0.1:6380", "SKEWLESS_REDIS_PORT"),
       ("SKEWLESS_REDIS_HOST", "a,password=x", "host name")]
VARIABLES = ("SKEWLESS_REDIS_HOST", "SKEWLESS_REDIS_PORT", "SKEWLESS_REDIS_DB",
             "SKEWLESS_REDIS_NODES", "SKEWLESS_REDIS_TYPE")


@pytest.fixture
def env(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("name, value, fix", BAD)
def test_every_reader_refuses_a_bad_address_naming_the_variable(env, name, value, fix) -> None:
    env.setenv(name, value)
    for read in (lambda: RedisAddress.from_env(), Settings.from_env, redis_connection_string,
                 services.redis_address):
        with pytest.raises(ValueError, match=f"{name}=.*{fix}"):
            read()
    with pytest.raises(SystemExit, match=f"{name}=.*{fix}"):
        services.main(["ensure-redis"])


def test_good_and_empty_values(env) -> None:
    env.setenv("SKEWLESS_REDIS_PORT", " 65535 ")
    env.setenv("SKEWLESS_REDIS_DB", "0")
    env.setenv("SKEWLESS_REDIS_HOST", "redis.internal")
    assert RedisAddress.from_env() == RedisAddress("redis.internal", 65535, 0)
    assert redis_connection_string() == "redis.internal:65535,db=0"
    settings = Settings.from_env()
    assert (settings.redis_host, settings.redis_port, settings.redis_db) == (
        "redis.internal", 65535, 0)
    assert services.redis_address() == ("redis.internal", 65535)
    for name in ("SKEWLESS_REDIS_PORT", "SKEWLESS_REDIS_DB", "SKEWLESS_REDIS_HOST"):
        env.setenv(name, "")  # empty is unset: the defaults apply
    assert RedisAddress.from_env() == RedisAddress()
    assert redis_connection_string() is None
    assert services.redis_address() == ("127.0.0.1", 6379)
    # unset: the repo's YAML decides (a server opens its store with these fields)
    assert Settings.from_env().redis_port is None


runner = CliRunner()


@pytest.mark.parametrize("args", [
    ["materialize", "--start", "2024-01-01", "--end", "2024-01-02"],
    ["serve", "--port", "8765"],
])
def test_cli_fails_at_start_up_naming_the_port_variable(env, args) -> None:
    env.setenv("SKEWLESS_REDIS_PORT", "99999")
    result = runner.invoke(app, ["--repo", str(ROOT / "feature_repo"), *args])
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert lines[-1] == ("error: SKEWLESS_REDIS_PORT='99999' is not a TCP port (an integer from "
                         "1 to 65535); set e.g. SKEWLESS_REDIS_PORT=6379"), result.stderr
