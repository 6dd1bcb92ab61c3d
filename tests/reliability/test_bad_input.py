"""Bad input against the real app (the private Redis of ``served``): fuzzed from the app's own
OpenAPI spec with schemathesis (valid and schema-violating cases) and with hypothesis (any JSON
value, any bytes), plus one explicit test per kind of bad input with its defined answer.

Defined answers: oversized batch → 413 naming the list and the limit; unknown entities → 200
with status ``missing`` and a full-width vector; wrong types → 422 whose ``loc`` names the
field; request_time outside 1970..2200 (after conversion to UTC) → 422 naming request_time, and
inside it a defined vector (``future`` before the data, ``expired`` after the ttl); a body that
is not UTF-8 → 400 naming the byte and offset; a lone surrogate in ``device`` → 422.
No answer is ever a 5xx. Case counts are printed at the end of the module."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from serving.api import create_app
from serving.settings import Settings

MAX_BATCH, MAX_CANDIDATES = 20, 30
SCHEMA_EXAMPLES = 60  # per operation and generation mode: bounded for CI
HYPOTHESIS_EXAMPLES = 150
COUNTS: Counter = Counter()


@pytest.fixture(scope="module")
def app(served, request):
    mp = pytest.MonkeyPatch()
    for name, value in served["env"].items():
        mp.setenv(name, value)
    settings_ = replace(Settings.from_env(), max_batch=MAX_BATCH, max_candidates=MAX_CANDIDATES)
    application = create_app(settings_)
    with TestClient(application, raise_server_exceptions=False):  # runs the lifespan
        yield application
    mp.undo()
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"bad-input cases run: {dict(sorted(COUNTS.items()))}")


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app, raise_server_exceptions=False)


def names_a_field(body: dict) -> bool:
    """Every rejection names what is wrong: a ``loc`` past ``body`` for each validation
    error, or a detail text naming the field."""
    detail = body.get("detail")
    if isinstance(detail, list):
        return bool(detail) and all(isinstance(e.get("loc"), list) and len(e["loc"]) >= 1
                                    and e.get("msg") for e in detail)
    return isinstance(detail, str) and any(
        f in detail for f in ("entities", "candidates", "body", "request_time", "member_id"))


def check_answer(r, kind: str) -> None:
    COUNTS[kind] += 1
    COUNTS[f"{kind} {r.status_code}"] += 1
    assert r.status_code < 500, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/json"), r.headers
    if r.status_code >= 400:
        assert names_a_field(r.json()), r.text[:500]


@pytest.fixture(scope="module")
def api_schema(app):
    config = schemathesis.config.SchemathesisConfig()
    config.projects.default.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=SCHEMA_EXAMPLES, deterministic=True, database="none")
    config.projects.default.phases.update(phases=["examples", "fuzzing"]) \
        if hasattr(config.projects.default.phases, "update") else None
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_openapi_fuzz_no_5xx_and_rejections_name_the_field(case) -> None:
    r = case.call()
    COUNTS["schemathesis"] += 1
    COUNTS[f"schemathesis {r.status_code}"] += 1
    assert r.status_code < 500, (case.method, case.path, case.body, r.text[:500])
    if r.status_code >= 400:
        assert names_a_field(r.json()), r.text[:500]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=5),
    max_leaves=20)
ENTITY = st.fixed_dictionaries({"member_id": st.integers(-5, 2**64),
                                "title_id": st.integers(-5, 2**64)})
SHAPED = st.fixed_dictionaries(
    {"entities": st.lists(ENTITY | JSON, max_size=25)},
    optional={"request_time": st.datetimes().map(lambda d: d.isoformat()) | JSON,
              "device": st.text(max_size=80) | JSON, "extra": JSON})


@settings(max_examples=HYPOTHESIS_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=SHAPED | JSON, path=st.sampled_from(["/features", "/rank"]))
def test_hypothesis_json_bodies(client, body, path) -> None:
    if path == "/rank" and isinstance(body, dict) and "entities" in body:
        body = {"member_id": 1, "candidates": [e.get("title_id", 0) if isinstance(e, dict)
                                               else e for e in body["entities"]],
                **{k: v for k, v in body.items() if k != "entities"}}
    check_answer(client.post(path, content=json.dumps(body, allow_nan=True),
                             headers={"content-type": "application/json"}), "hypothesis json")


@settings(max_examples=HYPOTHESIS_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_hypothesis_raw_bytes(client, raw) -> None:
    check_answer(client.post("/features", content=raw,
                             headers={"content-type": "application/json"}), "hypothesis bytes")


def test_oversized_batches_get_413_naming_the_limit(client) -> None:
    rows = [{"member_id": 1, "title_id": i} for i in range(MAX_BATCH + 1)]
    r = client.post("/features", json={"entities": rows})
    assert r.status_code == 413
    assert "entities" in r.json()["detail"] and "SKEWLESS_MAX_BATCH" in r.json()["detail"]
    r = client.post("/rank", json={"member_id": 1, "candidates": list(range(MAX_CANDIDATES + 1))})
    assert r.status_code == 413 and "SKEWLESS_MAX_CANDIDATES" in r.json()["detail"]
    ok = client.post("/features", json={"entities": rows[:MAX_BATCH]})
    assert ok.status_code == 200 and len(ok.json()["vectors"]) == MAX_BATCH


def test_unknown_entities_get_missing_statuses_and_a_full_vector(client, served) -> None:
    r = client.post("/features", json={"entities": [{"member_id": 2**63 - 1, "title_id": 0}],
                                       "request_time": served["when"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["statuses"] == [{"member_features": "missing", "title_features": "missing"}]
    assert len(body["vectors"][0]) == len(body["names"])
    r = client.post("/rank", json={"member_id": 2**63 - 1, "candidates": [0, 1]})
    assert r.status_code == 200 and [x["title_id"] for x in r.json()["ranking"]] == [0, 1]


@pytest.mark.parametrize("path, payload, field", [
    ("/features", {"entities": [{"member_id": "abc", "title_id": 1}]}, "member_id"),
    ("/features", {"entities": [{"member_id": 1.5, "title_id": 1}]}, "member_id"),
    ("/features", {"entities": [{"member_id": 1, "title_id": 2**64}]}, "title_id"),
    ("/features", {"entities": {"member_id": 1}}, "entities"),
    ("/features", {"entities": [{"member_id": 1, "title_id": 1}], "request_time": True},
     "request_time"),
    ("/features", {"entities": [{"member_id": 1, "title_id": 1}], "device": 7}, "device"),
    ("/features", {"entities": [{"member_id": 1, "title_id": 1}], "device": "x" * 65},
     "device"),
    ("/rank", {"member_id": 1, "candidates": ["a"]}, "candidates"),
    ("/rank", {"member_id": None, "candidates": [1]}, "member_id"),
    ("/rank", {"candidates": [1]}, "member_id"),
])
def test_wrong_types_get_422_naming_the_field(client, path, payload, field) -> None:
    r = client.post(path, json=payload)
    assert r.status_code == 422, r.text
    assert any(field in e["loc"] for e in r.json()["detail"]), r.text


@pytest.mark.parametrize("when", ["1969-12-31T23:59:59Z", "2200-12-31T23:59:59-01:00",
                                  "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00",
                                  "10000-01-01T00:00:00Z", 1e20])
def test_request_time_out_of_range_gets_422(client, when) -> None:
    r = client.post("/features", json={"entities": [{"member_id": 1, "title_id": 1}],
                                       "request_time": when})
    assert r.status_code == 422, r.text
    assert any("request_time" in e["loc"] for e in r.json()["detail"])


def test_far_past_and_future_request_times_have_defined_answers(client, served) -> None:
    rows = served["rows"][:3]
    past = client.post("/features", json={"entities": rows, "request_time": "1970-01-01T00:00Z"})
    future = client.post("/features", json={"entities": rows,
                                            "request_time": "2199-12-31T00:00:00+00:00"})
    assert past.status_code == future.status_code == 200
    assert all(set(s.values()) == {"future"} for s in past.json()["statuses"])
    assert all(set(s.values()) == {"expired"} for s in future.json()["statuses"])
    # a view that is future or expired is missing: same vector as an unknown entity's
    unknown = client.post("/features", json={"entities": [{"member_id": 2**62, "title_id": 2**62}],
                                             "request_time": "2199-12-31T00:00:00+00:00"})
    assert future.json()["vectors"][0] == unknown.json()["vectors"][0]


def test_non_utf8_body_gets_400_naming_the_byte(client) -> None:
    raw = b'{"entities": [{"member_id": 1, "title_id": 1}], "device": "\xff\xfe"}'
    r = client.post("/features", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    err = r.json()["detail"][0]
    assert err["type"] == "body_not_utf8" and "0xff" in err["msg"] and "UTF-8" in err["msg"]
    assert err["loc"] == ["body", raw.index(b"\xff")]


def test_lone_surrogate_and_invalid_json_are_named(client) -> None:
    body = '{"entities": [{"member_id": 1, "title_id": 1}], "device": "\\ud800"}'
    r = client.post("/features", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "device"]
    r = client.post("/features", content=b'{"entities": [', headers={
        "content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"
    r = client.post("/features", content=b"")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body"]
