"""Both services served at once: the Feast-shaped in-process client and one HTTP server
(``serving.api.create_app``) over Redis DB 5, with string join keys (unicode too) accepted and
a number given for a string key rejected naming the field."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from materialization.materialize import redis_snapshot
from serving.api import create_app
from serving.client import EncodedFeatures, ServiceLookupError
from serving.hot_routes import HotRoutes
from serving.online import OnlineEncoder
from serving.settings import Settings
from skewless.cli import run
from tests.real_redis import TEST_REDIS_PORT
from tests.second_domain.conftest import AS_OF, ONLINE_DB, REPO, SERVICES
from tests.second_domain.data import UNKNOWN_CUSTOMER


def _sub_rows(gen) -> list[dict]:
    return [{"customer_id": "c0037-ø", "product_id": gen.products[3], "store_code": "KÖL-01",
             "channel": "Ω-kiosk", "basket_size": 12},
            {"customer_id": gen.customers[1], "product_id": gen.products[7],
             "store_code": "BER-01"},
            {"customer_id": UNKNOWN_CUSTOMER, "product_id": gen.products[0],
             "store_code": "DRE-01", "channel": "web"}]


def _basket_rows(gen) -> list[dict]:
    return [{"customer_id": c} for c in (gen.customers[0], "c0037-ø", UNKNOWN_CUSTOMER)]


ROWS = {"basket_value": _basket_rows, "substitution": _sub_rows}


@contextmanager
def server(online_store, tmp_path):
    settings = Settings(repo=REPO, log_dir=tmp_path / "vector_log", hash_check_seconds=0.0,
                        ready_check_seconds=0.0, redis_db=ONLINE_DB)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize("service", SERVICES)
def test_client_equals_the_online_encoder(online_store, service) -> None:
    rows = ROWS[service](online_store["gen"])
    got = EncodedFeatures(online_store["store"]).get_online_features(
        features=service, entity_rows=rows, request_time=AS_OF)
    want = OnlineEncoder(online_store["store"], service=service).encode(rows, AS_OF)
    assert got.service == service
    assert got.state_hash == online_store["infos"][service].state_hash
    assert got.vectors == tuple(w.values for w in want)
    assert got.statuses == tuple(w.statuses for w in want)


def test_client_rejects_a_number_for_a_string_key_and_unknown_services(online_store) -> None:
    features = EncodedFeatures(online_store["store"])
    with pytest.raises(ValueError, match="customer_id"):
        features.get_online_features("basket_value", [{"customer_id": 37}], request_time=AS_OF)
    with pytest.raises(ServiceLookupError, match="basket_value.*substitution"):
        features.get_online_features("checkout", [{"customer_id": "c0001"}])


def test_one_server_serves_both_services(online_store, tmp_path) -> None:
    with server(online_store, tmp_path) as c:
        health = c.get("/health")
        assert health.status_code == 200, health.text
        assert all(s in str(health.json()) for s in SERVICES), health.json()
        for service in SERVICES:
            rows = ROWS[service](online_store["gen"])
            r = c.post(f"/services/{service}/features",
                       json={"entities": rows, "request_time": AS_OF.isoformat()})
            assert r.status_code == 200, r.text
            body = r.json()
            want = OnlineEncoder(online_store["store"], service=service).encode(rows, AS_OF)
            assert body["service"] == service
            assert body["state_hash"] == online_store["infos"][service].state_hash
            assert body["names"] == list(online_store["encs"][service].names)
            assert body["vectors"] == [list(w.values) for w in want]
            assert body["statuses"] == [dict(w.statuses) for w in want]


def test_a_number_for_a_string_key_is_a_422_naming_the_field(online_store, tmp_path) -> None:
    with server(online_store, tmp_path) as c:
        r = c.post("/services/basket_value/features",
                   json={"entities": [{"customer_id": 37}], "request_time": AS_OF.isoformat()})
        assert r.status_code == 422, r.text
        assert "customer_id" in r.text
        r = c.post("/services/substitution/features",
                   json={"entities": [{"customer_id": "c0001", "product_id": "7000000003",
                                       "store_code": "BER-01"}]})
        assert r.status_code == 422 and "product_id" in r.text, r.text
        r = c.post("/services/substitution/features",
                   json={"entities": [{"customer_id": "c0001", "product_id": 7000000003,
                                       "store_code": "BER-01", "basket_size": "big"}]})
        assert r.status_code == 422 and "basket_size" in r.text, r.text
        r = c.post("/services/checkout/features", json={"entities": [{"customer_id": "c0001"}]})
        assert r.status_code == 404
        assert "basket_value" in r.text and "substitution" in r.text


def test_hot_routes_answer_valid_bodies_as_fastapi_does_and_replay_the_rest(
        online_store, tmp_path) -> None:
    """Valid bodies skip FastAPI's request handling (:mod:`serving.hot_routes`) with answers
    equal to FastAPI's own route's; refused bodies get FastAPI's 422 naming the field."""
    with server(online_store, tmp_path) as c:
        assert c.get("/health/live").status_code == 200
        hot = HotRoutes.of(c.app)  # built by the first request
        assert set(hot.routes) == {f"/services/{s}/features" for s in SERVICES}
        answers = {}
        for service in SERVICES:
            body = {"entities": ROWS[service](online_store["gen"]),
                    "request_time": AS_OF.isoformat()}
            path = f"/services/{service}/features"
            taken = hot.taken
            fast = c.post(path, json=body)
            assert fast.status_code == 200 and hot.taken == taken + 1, fast.text
            answers[path] = fast.json()
            refused = c.post(path, json={**body, "entities": [{"customer_id": 37}]})
            assert refused.status_code == 422 and "customer_id" in refused.text, refused.text
        assert hot.replayed == len(SERVICES)
        routes, hot.routes = dict(hot.routes), {}  # now everything goes through FastAPI
        try:
            for path, fast in answers.items():
                service = path.split("/")[2]
                slow = c.post(path, json={"entities": ROWS[service](online_store["gen"]),
                                          "request_time": AS_OF.isoformat()}).json()
                assert slow.pop("request_id") != fast.pop("request_id")
                assert slow == fast
        finally:
            hot.routes = routes


def test_a_flushed_store_is_not_ready_until_materialize_full(online_store, tmp_path,
                                                            capsys) -> None:
    """String keys, three views (one without a created timestamp), two services: every view
    of every service is named empty after a flush; `skewless materialize --full` restores
    every key byte for byte."""
    client = online_store["redis"]
    before = redis_snapshot(client)
    views = {(s, v.name) for s, info in online_store["infos"].items() for v in info.views}
    with server(online_store, tmp_path) as c:
        assert c.get("/health/ready").status_code == 200
        client.flushdb()
        ready = c.get("/health/ready")
        assert ready.status_code == 503, ready.text
        reasons = ready.json()["reasons"]
        assert len(reasons) == len(views) == 4, reasons  # customer_profile in both services
        for service, view in views:
            assert any(f"view {view!r} of service {service!r}: online store empty" in r
                       and "materialize --full" in r for r in reasons), (service, view)
        for service in SERVICES:
            r = c.post(f"/services/{service}/features",
                       json={"entities": ROWS[service](online_store["gen"]),
                             "request_time": AS_OF.isoformat()})
            assert r.status_code == 503 and r.json()["cause"] == "online_store_empty", r.text
        assert run(["--repo", str(REPO), "materialize", "--full"]) == 0, capsys.readouterr()
        assert c.get("/health/ready").status_code == 200
    assert redis_snapshot(client) == before


def test_the_server_reads_the_redis_database_its_settings_name_not_the_environments(
        online_store, tmp_path) -> None:
    """Settings built in code win over ``SKEWLESS_REDIS_DB`` (set to the suite's database
    here): an empty database gives a 503 naming the empty store, not the suite's vectors."""
    empty_db = 15  # no suite writes to it
    assert not redis_snapshot_keys(empty_db), f"database {empty_db} should be empty"
    settings = Settings(repo=REPO, log_dir=tmp_path / "log", hash_check_seconds=0.0,
                        ready_check_seconds=0.0, redis_db=empty_db)
    app = create_app(settings)
    conn = app.state.service.store.config.online_store.connection_string
    assert conn.startswith(f"127.0.0.1:{TEST_REDIS_PORT},db={empty_db},"), conn
    with TestClient(app) as client:
        got = client.post("/services/basket_value/features",
                          json={"entities": _basket_rows(online_store["gen"])[:1],
                                "request_time": AS_OF.isoformat()})
    assert got.status_code == 503, got.text
    assert got.json()["cause"] == "online_store_empty"


def redis_snapshot_keys(db: int) -> list:
    import redis

    client = redis.Redis(port=TEST_REDIS_PORT, db=db)
    try:
        return client.keys("*")[:1]
    finally:
        client.close()
