"""An online store that lost its data, or holds less than the Feast registry says was
materialized, is not ready: ``/health`` and ``/health/ready`` answer 503 naming each view and
the recovery, ``/health/live`` stays 200, feature requests for a view Redis lost answer 503
instead of all-missing vectors, and ``skewless materialize --full`` restores every key.

A private copy of the served repo (its registry too, so the intervals recorded here stay here)
over a private ``redis-server``, the server in-process (``create_app``), the recovery through
the ``skewless`` command line in-process. Each test leaves Redis as it found it.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from feast_bridge.services import get_service
from feast_bridge.store import open_store
from materialization.materialize import feast_key_pattern, redis_snapshot
from online_store.layout import watermark_key
from serving.api import create_app
from serving.settings import Settings
from skewless.cli import run
from tests.reliability.conftest import END, START, RedisProcess


@pytest.fixture(scope="module")
def lost(served, tmp_path_factory):
    """The copy, materialized from START to the registry's latest end (at least END), and
    the environment of a server over it (readiness re-checked on every call)."""
    work = tmp_path_factory.mktemp("lost")
    repo = work / "repo"
    shutil.copytree(served["repo"], repo, ignore=shutil.ignore_patterns("__pycache__"))
    redis_proc = RedisProcess(work / "redis").start()
    mp = pytest.MonkeyPatch()
    env = {**served["env"], "SKEWLESS_FEATURE_REPO": str(repo),
           "SKEWLESS_REDIS_PORT": str(redis_proc.port), "SKEWLESS_HASH_CHECK_SECONDS": "0",
           "SKEWLESS_READY_CHECK_SECONDS": "0",
           "SKEWLESS_VECTOR_LOG_DIR": str(work / "vector_log")}
    for name, value in env.items():
        mp.setenv(name, value)
    try:
        store = open_store(repo)
        ends = [fv.most_recent_end_time for fv in store.list_feature_views()]
        store.materialize(START, max([END, *(e for e in ends if e is not None)]))
        views = [v.name for v in get_service(store).views]
        client = redis_proc.client()
        yield {**served, "repo": repo, "client": client, "views": views,
               "snapshot": redis_snapshot(client, match=feast_key_pattern("skewless"))}
    finally:
        mp.undo()
        redis_proc.stop()


def _features(lost, c: TestClient):
    return c.post("/features", json={"entities": lost["rows"], "request_time": lost["when"],
                                     "device": "tv"})


def _app() -> TestClient:
    return TestClient(create_app(Settings.from_env()), raise_server_exceptions=False)


def test_a_current_store_is_live_and_ready(lost) -> None:
    with _app() as c:
        assert c.get("/health/live").status_code == 200
        ready = c.get("/health/ready")
        assert ready.status_code == 200 and ready.json() == {"ready": True, "reasons": []}
        health = c.get("/health")
        assert health.status_code == 200 and health.json()["ok"], health.text
        views = health.json()["online_store"]["views"]
        assert sorted(v["view"] for v in views) == sorted(lost["views"])
        assert all(v["state"] == "current" and v["store_end"] >= v["registry_end"]
                   for v in views), views
        assert _features(lost, c).status_code == 200


def test_rows_deleted_under_their_watermark_are_an_empty_store(lost) -> None:
    """The rows go (as with a DEL by pattern), the watermarks stay: the probe keys tell."""
    client, snapshot = lost["client"], lost["snapshot"]
    client.delete(*snapshot)
    try:
        with _app() as c:
            ready = c.get("/health/ready")
            assert ready.status_code == 503, ready.text
            for view in lost["views"]:
                assert any(f"view {view!r}" in r and "sampled keys lost" in r
                           and "materialize --full" in r for r in ready.json()["reasons"])
            refused = _features(lost, c)
            assert refused.status_code == 503, refused.text
            assert refused.json()["cause"] == "online_store_empty"
            assert c.get("/health/live").status_code == 200
    finally:
        with client.pipeline(transaction=False) as pipe:
            for key, fields in snapshot.items():
                pipe.hset(key, mapping=fields)
            pipe.execute()
    assert redis_snapshot(client, match=feast_key_pattern("skewless")) == snapshot


def test_a_watermark_behind_the_registry_is_not_ready_but_still_served(lost) -> None:
    """Redis restored from an older snapshot: its watermark ends before the registry's."""
    client = lost["client"]
    key = watermark_key("skewless", lost["views"][0])
    saved = client.hget(key, "end")
    client.hset(key, "end", (datetime.fromisoformat(saved.decode())
                             - timedelta(days=1)).isoformat())
    try:
        with _app() as c:
            ready = c.get("/health/ready")
            assert ready.status_code == 503
            (reason,) = ready.json()["reasons"]
            assert f"view {lost['views'][0]!r}" in reason and "behind by 1 day" in reason
            assert "materialize --full" in reason
            health = c.get("/health")
            assert health.status_code == 503 and not health.json()["ok"]
            served = _features(lost, c)  # the rows Redis holds, ttl-checked: answered
            assert served.status_code == 200, served.text
    finally:
        client.hset(key, "end", saved)


def test_a_flushed_store_is_not_ready_until_materialize_full(lost, capsys) -> None:
    client, snapshot = lost["client"], lost["snapshot"]
    with _app() as c:
        before = _features(lost, c)
        assert before.status_code == 200
        client.flushdb()
        health = c.get("/health")  # Redis answers, but holds nothing: not ok
        assert health.status_code == 503 and not health.json()["ok"], health.text
        assert health.json()["redis"] == "ok"
        command = f"skewless --repo {lost['repo']} materialize --full"
        refused = _features(lost, c)  # not vectors scored on all-missing features
        assert refused.status_code == 503, refused.text
        assert refused.json()["cause"] == "online_store_empty" and command in refused.text
        ready = c.get("/health/ready")
        assert ready.status_code == 503, ready.text
        reasons = ready.json()["reasons"]
        for view in lost["views"]:
            assert any(f"view {view!r}" in r and "online store empty" in r and command in r
                       for r in reasons), reasons
        assert c.get("/health/live").status_code == 200
        rank = c.post("/rank", json={"member_id": lost["rows"][0]["member_id"],
                                     "candidates": [r["title_id"] for r in lost["rows"]]})
        assert rank.status_code == 503 and rank.json()["cause"] == "online_store_empty"

        assert run(["--repo", str(lost["repo"]), "materialize", "--full"]) == 0
        out = capsys.readouterr().out
        assert all(view in out for view in lost["views"]), out

        ready = c.get("/health/ready")
        assert ready.status_code == 200, ready.text
        after = _features(lost, c)
        assert after.status_code == 200
        assert after.json()["vectors"] == before.json()["vectors"]
        assert after.json()["statuses"] == before.json()["statuses"]
    restored = redis_snapshot(client, match=feast_key_pattern("skewless"))
    assert len(restored) == len(snapshot) and restored == snapshot  # every key, byte for byte


def test_materialize_full_refuses_an_explicit_window(lost, capsys) -> None:
    code = run(["--repo", str(lost["repo"]), "materialize", "--full", "--end", "2024-02-05"])
    assert code == 2
    assert "--full takes each view's span from the registry" in capsys.readouterr().err
