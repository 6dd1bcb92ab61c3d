"""Plain ``feast`` and a password-protected Redis: Feast reads only ``feature_store.yaml``, which
it runs through ``os.path.expandvars``, so ``password=${SKEWLESS_REDIS_PASSWORD}`` in
``online_store.connection_string`` gives it the password from the environment (the README's
recipe); skewless reads the same variable. When the password is missing or wrong, the error
names what the failing client actually reads — never ``SKEWLESS_REDIS_HOST`` for a client that
ignores it — and never shows the secret.

A private ``redis-server --requirepass`` on a free loopback port; the repo config is loaded with
``feast.repo_config.load_repo_config``, the function every ``feast`` command loads it with, and
checked with Feast's own Redis client and with the client skewless' engine uses under plain
``feast materialize`` (``online_store.connection.checked_client``) — in this process, not a
``feast`` subprocess (each costs ~10 s of CPU for the import)."""

from __future__ import annotations

from pathlib import Path

import pytest
from feast.infra.online_stores.redis import RedisOnlineStore
from feast.repo_config import load_repo_config

from feast_bridge.store import open_store
from online_store.connection import checked_client
from tests.reliability.conftest import RedisProcess

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pl41n=feast:pa ss"  # '=', ':' and a space survive the YAML and Feast's parsing
RECIPE = "'127.0.0.1:{port},password=${{SKEWLESS_REDIS_PASSWORD}}'"


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    server = RedisProcess(tmp_path_factory.mktemp("plain-feast-redis"), "--requirepass",
                          PASSWORD, "--appendonly", "no")
    server.start(password=PASSWORD)
    yield server
    server.stop()


def _repo(tmp_path: Path, connection_string: str) -> Path:
    """The demo repo's feature_store.yaml with another ``online_store.connection_string``."""
    text = (ROOT / "feature_repo" / "feature_store.yaml").read_text(encoding="utf-8")
    old = 'connection_string: "localhost:6379"'
    assert old in text
    (tmp_path / "feature_store.yaml").write_text(
        text.replace(old, f"connection_string: {connection_string}"), encoding="utf-8")
    return tmp_path


def _plain_feast_config(repo: Path):
    return load_repo_config(repo, repo / "feature_store.yaml").online_store


@pytest.fixture
def env(monkeypatch):
    for name in ("SKEWLESS_REDIS_HOST", "SKEWLESS_REDIS_PORT", "SKEWLESS_REDIS_DB",
                 "SKEWLESS_REDIS_PASSWORD", "SKEWLESS_REDIS_PASSWORD_FILE",
                 "SKEWLESS_REDIS_USERNAME", "SKEWLESS_REDIS_TYPE", "SKEWLESS_REDIS_NODES"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_plain_feast_reads_the_password_from_the_environment_through_the_yaml(
        locked, tmp_path, env) -> None:
    repo = _repo(tmp_path, RECIPE.format(port=locked.port))
    env.setenv("SKEWLESS_REDIS_PASSWORD", PASSWORD)
    assert PASSWORD not in (repo / "feature_store.yaml").read_text(encoding="utf-8")
    online = _plain_feast_config(repo)
    feast_client = RedisOnlineStore()._get_client(online)  # what get_online_features uses
    assert feast_client.ping()
    feast_client.set("skewless:plain-feast", b"1")
    engine_client = checked_client(online)  # skewless' engine under `feast materialize`
    assert engine_client.get("skewless:plain-feast") == b"1"
    # skewless' own commands read the same variable (and the same YAML) and connect too
    env.setenv("SKEWLESS_REDIS_PORT", str(locked.port))
    store = open_store(repo)
    assert checked_client(store.config.online_store).get("skewless:plain-feast") == b"1"


def test_plain_feast_without_a_password_names_what_it_reads(locked, tmp_path, env) -> None:
    """The user set SKEWLESS_REDIS_PASSWORD, which plain `feast` does not read."""
    repo = _repo(tmp_path, f'"127.0.0.1:{locked.port}"')
    env.setenv("SKEWLESS_REDIS_PASSWORD", PASSWORD)
    with pytest.raises(RuntimeError) as caught:
        checked_client(_plain_feast_config(repo))
    message = str(caught.value)
    assert "refused the connection" in message and "not answering" not in message
    assert "SKEWLESS_REDIS_PASSWORD is set but this client's connection string has no " \
           "password (plain `feast` does not read SKEWLESS_* variables)" in message
    assert "password=${SKEWLESS_REDIS_PASSWORD}" in message and "feature_store.yaml" in message
    assert "skewless materialize" in message and "SKEWLESS_REDIS_HOST" not in message
    assert PASSWORD not in message


def test_an_unset_variable_in_the_yaml_is_named(locked, tmp_path, env) -> None:
    repo = _repo(tmp_path, RECIPE.format(port=locked.port))
    with pytest.raises(RuntimeError, match=r"literal text \$\{SKEWLESS_REDIS_PASSWORD\}: "
                                           "SKEWLESS_REDIS_PASSWORD is not set"):
        checked_client(_plain_feast_config(repo))  # plain feast: Redis says WRONGPASS
    with pytest.raises(ValueError, match=r"refers to \$\{SKEWLESS_REDIS_PASSWORD\}, which is "
                                         "not set.*export SKEWLESS_REDIS_PASSWORD"):
        open_store(repo)  # skewless: refused before connecting


def test_a_wrong_password_names_the_variables_without_showing_them(locked, tmp_path,
                                                                    env) -> None:
    repo = _repo(tmp_path, RECIPE.format(port=locked.port))
    env.setenv("SKEWLESS_REDIS_PASSWORD", "not-the-password")
    with pytest.raises(RuntimeError) as caught:
        checked_client(_plain_feast_config(repo))
    message = str(caught.value)
    assert "AuthenticationError" in message and "SKEWLESS_REDIS_PASSWORD_FILE" in message
    assert "not-the-password" not in message and "password=***" in message
