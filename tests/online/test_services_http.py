"""The generic serving layer on a real Redis: the Feast-shaped client API, per-service HTTP
routes with bodies generated from the registry, models attached by configuration, and a repo
with two encoded services (a copy of the demo repo plus a ``titles`` service over the title
view, fitted here)."""

from __future__ import annotations

import shutil
import textwrap
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from feast_bridge.services import get_service, registry_state_hash
from feast_bridge.store import feast_cli, open_store
from scoring.linear_model import LinearModel
from serving.api import create_app
from serving.client import EncodedFeatures, ServiceLookupError
from serving.log_reader import read_log
from serving.online import OnlineEncoder, StateMismatchError
from skew.replay import logged_rows


def _rows(online, n: int) -> list[dict]:
    labels = online["labels"].where("member_id < 2000000").select("member_id", "title_id")
    picked = labels.distinct().orderBy("member_id", "title_id").limit(n).collect()
    return [{"member_id": r["member_id"], "title_id": r["title_id"]} for r in picked]


@pytest.fixture(scope="module")
def when(online) -> datetime:
    return online["last_snapshot"] + timedelta(hours=6)


@pytest.fixture(scope="module")
def encoder(online) -> OnlineEncoder:
    return OnlineEncoder(online["store"], service="ranker")


@contextmanager
def serving(settings):
    with TestClient(create_app(settings)) as client:
        yield client


# --- the client API ------------------------------------------------------------------------------
def test_client_vectors_equal_the_online_encoder(online, encoder, when) -> None:
    features = EncodedFeatures(online["store"])
    rows = _rows(online, 20)
    got = features.get_online_features("ranker", [{**r, "device": "tv"} for r in rows],
                                       request_time=when)
    want = encoder.encode(rows, when, {"device": "tv"})
    assert got.vectors == tuple(w.values for w in want)
    assert got.statuses == tuple(w.statuses for w in want)
    assert got.service == "ranker" and got.names == tuple(encoder.enc.names)
    assert got.state_hash == registry_state_hash(online["store"], "ranker")
    by_object = features.get_online_features(online["store"].get_feature_service("ranker"),
                                             [{**r, "device": "tv"} for r in rows], when)
    assert by_object.vectors == got.vectors
    assert features.encoder("ranker") is features.encoder("ranker")  # built once
    # request inputs ride in the rows, row by row; a row without one has it missing
    mixed = [{**r, "device": "tv"} if i % 2 else r for i, r in enumerate(rows)]
    got = features.get_online_features("ranker", mixed, request_time=when)
    for row, vector in zip(mixed, got.vectors):
        keys = {k: row[k] for k in ("member_id", "title_id")}
        assert vector == encoder.encode([keys], when, {"device": row.get("device")})[0].values
    table = got.to_dict()
    assert list(table)[:2] == ["member_id", "title_id"] and len(table) == 2 + len(got.names)
    assert table["member_id"] == [r["member_id"] for r in rows]
    assert features.get_online_features("ranker", [], when).vectors == ()


@pytest.mark.parametrize("features, rows, error, message", [
    ("ranker", [{"member_id": 1, "title_id": 2, "color": "red"}], ValueError,
     r"unknown keys \['color'\].*\['member_id', 'title_id'\].*\['device'\]"),
    ("ranker", [{"member_id": 1}], ValueError, r"lacks the join keys \['title_id'\]"),
    ("ranker", [{"member_id": 1, "title_id": 2, "request_time": "2024-01-01"}], ValueError,
     "pass request_time="),
    ("ranker", [{"member_id": "1", "title_id": 2}], ValueError, "is INT64: pass an int"),
    ("nope", [{"member_id": 1, "title_id": 2}], ServiceLookupError,
     r"no encoded service 'nope'.*\['ranker'\]"),
    (["member_features:plan"], [{"member_id": 1, "title_id": 2}], ValueError,
     "is not an encoded service"),
])
def test_client_bad_input_names_the_problem_and_fix(online, features, rows, error,
                                                    message) -> None:
    with pytest.raises(error, match=message):
        EncodedFeatures(online["store"]).get_online_features(features, rows)
    assert issubclass(ServiceLookupError, ValueError | LookupError)


# --- HTTP: per-service routes, OpenAPI, models ---------------------------------------------------
@pytest.fixture(scope="module")
def client(online, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("services_log")
    with serving(replace(online["settings"], log_dir=log_dir)) as c:
        yield c


def test_per_service_routes_equal_the_aliases_and_log_the_service(online, client, encoder,
                                                                  when) -> None:
    rows = _rows(online, 4)
    body = {"entities": rows, "request_time": when.isoformat(), "device": "tv"}
    alias = client.post("/features", json=body)
    own = client.post("/services/ranker/features", json=body)
    assert alias.status_code == own.status_code == 200, own.text
    assert own.json()["vectors"] == alias.json()["vectors"] and own.json()["service"] == "ranker"
    # same types on both paths: an int64 output (an index, a bucket) is a JSON int
    kinds = {f.name: f.dtype for f in encoder.enc.schema}
    for row in own.json()["vectors"]:
        assert [type(v).__name__ for v in row] == [
            "int" if kinds[n] == "int64" else "float" for n in own.json()["names"]]
    rank = {"member_id": rows[0]["member_id"], "candidates": [r["title_id"] for r in rows],
            "request_time": when.isoformat()}
    a, b = client.post("/rank", json=rank), client.post("/services/ranker/rank", json=rank)
    assert a.status_code == b.status_code == 200, b.text
    assert a.json()["ranking"] == b.json()["ranking"] and set(a.json()["ranking"][0]) == {
        "title_id", "score"}
    # a row's own request input wins over the top-level one
    split = client.post("/services/ranker/features", json={
        "entities": [{**rows[0], "device": "phone"}, rows[1]], "device": "tv",
        "request_time": when.isoformat()})
    assert split.status_code == 200, split.text
    assert split.json()["vectors"] == [
        [float(v) for v in encoder.encode([rows[0]], when, {"device": "phone"})[0].values],
        [float(v) for v in encoder.encode([rows[1]], when, {"device": "tv"})[0].values]]
    client.app.state.service.log.flush()
    log_dir = client.app.state.service.settings.log_dir
    entries = {e["request_id"]: e for e in read_log(log_dir)}
    assert {entries[r.json()["request_id"]]["service"] for r in (alias, own, a, b)} == {"ranker"}
    assert entries[own.json()["request_id"]]["endpoint"] == "/services/ranker/features"
    assert entries[b.json()["request_id"]]["model_id"] == online["model_info"]["model_id"]
    assert [r["device"] for r in entries[split.json()["request_id"]]["rows"]] == ["phone", "tv"]
    flat = logged_rows(read_log(log_dir), service="ranker")
    assert len(flat) == 4 + 4 + 4 + 4 + 2 and logged_rows(read_log(log_dir), service="x") == []
    r = client.post("/services/nope/features", json=body)
    assert r.status_code == 404 and "['ranker']" in r.json()["detail"]


def _schema(doc: dict, ref_holder: dict) -> dict:
    ref = ref_holder["$ref"] if "$ref" in ref_holder else ref_holder["items"]["$ref"]
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]]


def _body(doc: dict, path: str) -> dict:
    return _schema(doc, doc["paths"][path]["post"]["requestBody"]["content"][
        "application/json"]["schema"])


def test_openapi_fields_and_types_come_from_the_registry(online, client) -> None:
    info = get_service(online["store"], "ranker")
    doc = client.get("/openapi.json").json()
    assert {"/services/ranker/features", "/services/ranker/rank", "/features", "/rank",
            "/health"} <= set(doc["paths"])
    features = _body(doc, "/services/ranker/features")
    assert features == _body(doc, "/features")
    assert set(features["properties"]) == {"entities", "request_time", *info.request_names}
    row = _schema(doc, features["properties"]["entities"])
    assert set(row["properties"]) == {*info.entity_keys, *info.request_names}
    assert row["required"] == list(info.entity_keys)
    for key, vtype in info.entity_types:
        assert vtype == "INT64"
        assert row["properties"][key]["type"] == "integer"
        assert row["properties"][key]["minimum"] == 0  # ids; the maximum is INT64's
        assert row["properties"][key]["maximum"] == pytest.approx(2**63 - 1)
    for name, vtype in info.request_inputs:
        assert vtype == "STRING"
        assert {"type": "string", "maxLength": 64} in features["properties"][name]["anyOf"]
    rank = _body(doc, "/services/ranker/rank")
    candidate = info.entity_keys[-1]
    assert rank["required"] == [*[k for k in info.entity_keys if k != candidate], "candidates"]
    assert rank["properties"]["candidates"]["items"]["type"] == "integer"
    response = doc["paths"]["/services/ranker/rank"]["post"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    ranked = _schema(doc, _schema(doc, response)["properties"]["ranking"])
    assert set(ranked["properties"]) == {candidate, "score"}


def test_features_work_without_a_model_and_rank_says_how_to_attach_one(online,
                                                                       tmp_path) -> None:
    rows = _rows(online, 2)
    for model_path in (None, tmp_path / "absent.json"):
        settings = replace(online["settings"], model_path=model_path, models_dir=tmp_path,
                           log_dir=tmp_path / "log")
        with serving(settings) as c:
            assert c.post("/features", json={"entities": rows}).status_code == 200
            for path in ("/rank", "/services/ranker/rank"):
                r = c.post(path, json={"member_id": 1, "candidates": [1]})
                assert r.status_code == 409, r.text
                assert "SKEWLESS_MODELS=ranker=" in r.json()["detail"]
            health = c.get("/health").json()
            assert health["ok"] and health["model_id"] is None
            assert health["services"]["ranker"]["model_id"] is None
            assert "/rank" not in c.get("/openapi.json").json()["paths"]


def test_the_model_can_come_from_skewless_models(online, tmp_path) -> None:
    settings = replace(online["settings"], model_path=None, log_dir=tmp_path / "log",
                       models=(("ranker", online["settings"].model_path),))
    with serving(settings) as c:
        assert c.get("/health").json()["model_id"] == online["model_info"]["model_id"]
    with pytest.raises(LookupError, match="SKEWLESS_MODELS names service 'other'"):
        create_app(replace(settings, models=(("other", online["settings"].model_path),)))
    with pytest.raises(LookupError, match="SKEWLESS_SERVICES names"):
        create_app(replace(settings, services=("nope",)))
    with pytest.raises(LookupError, match="SKEWLESS_SERVICE='nope'"):
        create_app(replace(settings, default_service="nope"))


# --- two services in one repo --------------------------------------------------------------------
SECOND = '''
    """A second encoded service: the title view alone, no request inputs (test copy only)."""
    from pathlib import Path

    from definitions import title_features
    from encoders.categorical import OneHot
    from encoders.numeric import Log1p, ZScore
    from feast_bridge.declare import encoded_service

    titles_raw, titles_encoded, titles = encoded_service(
        "titles",
        features=[title_features],
        encoders=[Log1p("plays_log", input="title_plays_7d"),
                  ZScore("completion_z", input="title_completion_rate_28d"),
                  OneHot("maturity", input="maturity_rating")],
        state_path=Path(__file__).resolve().parent / "titles_state.json",
    )
'''


@pytest.fixture(scope="module")
def two(online, tmp_path_factory):
    """A copy of the demo repo with a fitted ``titles`` service beside ``ranker`` (same Redis
    data: same project), and a model for each."""
    from spark_jobs.fit_publish import fit_service

    work = tmp_path_factory.mktemp("two_services")
    repo = work / "repo"
    shutil.copytree(online["repo"], repo)
    (repo / "second.py").write_text(textwrap.dedent(SECOND), encoding="utf-8")
    feast_cli("apply", repo=repo)
    store = open_store(repo)
    pub = fit_service(online["spark"], store, "titles", datetime(2024, 1, 1, tzinfo=timezone.utc),
                      datetime(2024, 1, 29, tzinfo=timezone.utc))
    titles_enc = get_service(store, "titles").load_state()
    titles_model = LinearModel(model_id="titles-test", state_hash=pub.content_hash,
                               names=tuple(titles_enc.names[:2]), coef=(1.0, -0.5),
                               intercept=0.0).save(work / "titles_model.json")
    settings = replace(online["settings"], repo=repo, state_path=None, model_path=None,
                       models_dir=work / "models", log_dir=work / "log",
                       models=(("ranker", online["settings"].model_path),))
    return {"repo": repo, "store": store, "settings": settings, "titles_model": titles_model,
            "titles_hash": pub.content_hash, "titles_enc": titles_enc}


def test_every_fitted_service_is_served_on_its_own_routes(online, two, encoder, when) -> None:
    rows = _rows(online, 3)
    titles = [{"title_id": r["title_id"]} for r in rows]
    with serving(two["settings"]) as c:
        health = c.get("/health").json()
        assert set(health["services"]) == {"ranker", "titles"} and health["ok"], health
        assert health["service"] is None and health["rank_service"] == "ranker"
        assert health["services"]["titles"]["state_hash"] == two["titles_hash"]
        r = c.post("/features", json={"entities": rows})
        assert r.status_code == 409 and "SKEWLESS_SERVICE" in r.json()["detail"]
        t = c.post("/services/titles/features", json={"entities": titles,
                                                      "request_time": when.isoformat()})
        assert t.status_code == 200, t.text
        assert t.json()["names"] == list(two["titles_enc"].names)
        assert {tuple(s) for s in t.json()["statuses"]} == {("title_features",)}
        want = OnlineEncoder(two["store"], service="titles").encode(titles, when)
        assert t.json()["vectors"] == [[float(v) for v in w.values] for w in want]
        bad = c.post("/services/titles/features", json={"entities": titles, "device": "tv"})
        assert bad.status_code == 422 and "device" in bad.text  # titles has no such input
        m = c.post("/services/ranker/features", json={"entities": rows, "device": "tv",
                                                      "request_time": when.isoformat()})
        assert m.json()["vectors"] == [[float(v) for v in w.values]
                                       for w in encoder.encode(rows, when, {"device": "tv"})]
        rank = c.post("/rank", json={"member_id": rows[0]["member_id"], "candidates": [1, 2]})
        assert rank.status_code == 200, rank.text  # the only service with a model
        r = c.post("/services/titles/rank", json={"candidates": [1]})
        assert r.status_code == 409 and "SKEWLESS_MODELS=titles=" in r.json()["detail"]
        paths = set(c.get("/openapi.json").json()["paths"])
        assert {"/services/titles/features", "/services/ranker/rank"} <= paths
        assert "/services/titles/rank" not in paths and "/features" not in paths


def test_skewless_services_picks_the_services_served(two) -> None:
    with serving(replace(two["settings"], services=("titles",), models=())) as c:
        assert set(c.get("/health").json()["services"]) == {"titles"}
        r = c.post("/services/ranker/features", json={"entities": [{"member_id": 1,
                                                                     "title_id": 1}]})
        assert r.status_code == 404 and "['titles']" in r.json()["detail"]
        alias = c.post("/features", json={"entities": [{"title_id": 1}]})  # the only one
        assert alias.status_code == 200 and alias.json()["service"] == "titles"
    with pytest.raises(LookupError, match=r"known services: \['ranker', 'titles'\]"):
        create_app(replace(two["settings"], services=("ranker", "nope")))
    with pytest.raises(ServiceLookupError, match=r"\['ranker', 'titles'\]"):
        EncodedFeatures(two["store"]).encoder("nope")


def test_models_attach_to_their_services(online, two) -> None:
    # the legacy single model goes to the service whose published state it was trained on
    legacy = replace(two["settings"], models=(), model_path=online["settings"].model_path)
    with serving(legacy) as c:
        per = c.get("/health").json()["services"]
        assert per["ranker"]["model_id"] == online["model_info"]["model_id"]
        assert per["titles"]["model_id"] is None
    # SKEWLESS_SERVICE + a model per service: the /rank alias ranks titles by title_id
    both = replace(two["settings"], default_service="titles",
                   models=(("ranker", online["settings"].model_path),
                           ("titles", two["titles_model"])))
    with serving(both) as c:
        r = c.post("/rank", json={"candidates": [500001, 500000, 999_999_999]})
        assert r.status_code == 200, r.text
        assert r.json()["model_id"] == "titles-test"
        assert sorted(x["title_id"] for x in r.json()["ranking"]) == [500000, 500001,
                                                                     999_999_999]
        assert c.get("/health").json()["service"] == "titles"
    with pytest.raises(StateMismatchError, match="retrain"):
        create_app(replace(two["settings"], models=(("titles", online["settings"].model_path),)))


def test_the_client_serves_each_service_of_the_repo(online, two, when) -> None:
    features = EncodedFeatures(two["store"])
    assert features.service_names() == ("ranker", "titles")
    got = features.get_online_features("titles", [{"title_id": 500000}], request_time=when)
    want = OnlineEncoder(two["store"], service="titles").encode([{"title_id": 500000}], when)
    assert got.vectors == (want[0].values,) and got.entity_keys == ("title_id",)
    with pytest.raises(ValueError, match=r"unknown keys \['device'\].*\['title_id'\].*\[\]"):
        features.get_online_features("titles", [{"title_id": 1, "device": "tv"}])
