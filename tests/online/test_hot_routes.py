"""The hot routes (:mod:`serving.hot_routes`) on a minimal FastAPI app wired as
``serving.api`` wires its routes: a valid body runs the route's function once, outside
FastAPI; a body FastAPI refuses gets FastAPI's 422 without the function running; an error the
function raises is answered by the app's handler and the function is not run a second time
(a hung Redis costs one socket timeout, not two)."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

from serving.api import _endpoint
from serving.hot_routes import HotRoutes
from serving.request_models import build_models
from tests.online.test_request_models import service


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    x: int


def _app() -> tuple[TestClient, list[int]]:
    calls: list[int] = []

    def fn(body: Any) -> JSONResponse:
        calls.append(body.x)
        if body.x == 0:
            raise RuntimeError("the store is down")
        return JSONResponse({"twice": 2 * body.x})

    app = FastAPI()
    hot: dict = {"/r": (fn, Body)}
    app.add_api_route("/r", _endpoint(fn, Body), methods=["POST"])
    app.add_middleware(HotRoutes, routes=hot)

    async def down(request: Request, exc: RuntimeError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    app.add_exception_handler(RuntimeError, down)
    return TestClient(app), calls


def test_a_valid_body_runs_the_function_once_on_the_hot_path() -> None:
    client, calls = _app()
    r = client.post("/r", json={"x": 21})
    assert r.status_code == 200 and r.json() == {"twice": 42}
    hot = HotRoutes.of(client.app)
    assert calls == [21] and hot.taken == 1 and hot.replayed == 0


def test_a_refused_body_gets_fastapis_422_and_the_function_never_runs() -> None:
    client, calls = _app()
    for bad in ({"x": "21"}, {"x": 1, "y": 2}, [1]):
        r = client.post("/r", json=bad)
        assert r.status_code == 422, r.text
    r = client.post("/r", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    hot = HotRoutes.of(client.app)
    assert calls == [] and hot.replayed == 4 and hot.taken == 0


def test_an_error_is_answered_by_the_handler_without_running_the_function_again() -> None:
    client, calls = _app()
    r = client.post("/r", json={"x": 0})
    assert r.status_code == 503 and r.json() == {"detail": "the store is down"}
    assert calls == [0]  # once: the replay raised the hot path's error, it did not run fn
    assert HotRoutes.of(client.app).replayed == 1
    assert client.post("/r", json={"x": 2}).json() == {"twice": 4}


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8)
    | st.sampled_from(["2024-03-20T00:00:00Z", "2024-03-20", "2024-03-20T05:00:00+05:00",
                       "1700000000", "\ud800", "9999-12-31T23:59:59-05:00", "s1", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                               max_size=3),
    max_leaves=6)


def _outcome(validate, body: bytes) -> Any:
    try:
        return validate(body).model_dump(by_alias=True)
    except Exception:  # noqa: BLE001 - any refusal counts as one outcome
        return "refused"


VALID = {"INT64": st.integers(0, 2**63 - 1), "INT32": st.integers(0, 2**31 - 1),
         "STRING": st.text(min_size=1, max_size=5),
         "DOUBLE": st.floats(allow_nan=False, allow_infinity=False) | st.integers(-99, 99),
         "BOOL": st.booleans(),
         "UNIX_TIMESTAMP": st.sampled_from([
             "2024-03-20T00:00:00Z", "2024-03-20", "2024-03-20T05:00:00+05:00",
             "2024-03-20T00:00:00.1234567", 1700000000, 1.7e9, "1700000000"])}
EDGE = {"INT64": st.sampled_from([-1, 2**63, 2**64, 1.0, "1", True]),
        "INT32": st.sampled_from([2**31, -(2**31) - 1, 2.0, False]),
        "STRING": st.sampled_from(["", "\ud800", "\x00", "é" * 300, 1]),
        "DOUBLE": st.sampled_from([math.nan, math.inf, 1e400, "1.5", 2**70, True, -0.0]),
        "BOOL": st.sampled_from([0, 1, "true", None]),
        "UNIX_TIMESTAMP": st.sampled_from(["9999-12-31T23:59:59-05:00", "1969-12-31T23:59Z",
                                           "2024-02-30", -1, 1e20, "now"])}


def _value(vtype: str) -> st.SearchStrategy:
    """A value of Feast type ``vtype`` as a client would send it: mostly valid, now and then
    an edge of the type or any JSON value."""
    return st.sampled_from([VALID[vtype]] * 18 + [EDGE[vtype], JSON_VALUES]).flatmap(
        lambda strategy: strategy)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_json_mode_accepts_only_what_fastapi_accepts_with_the_same_values(data) -> None:
    """The hot path validates in pydantic's JSON mode; FastAPI parses with ``json.loads`` and
    validates in Python mode. On the generated models of a service with string keys and every
    request-input type, and of one with int keys, a body JSON mode accepts is accepted by
    FastAPI's way with the same values (a body it refuses is replayed through FastAPI)."""
    info = data.draw(st.sampled_from([
        service(), service(keys=(("user_id", "INT64"), ("item_id", "INT32")))]))
    models = build_models(info)
    keys, inputs = dict(info.entity_types), dict(info.request_inputs)
    row = {k: _value(t) for k, t in keys.items()}
    optional = {n: _value(t) for n, t in inputs.items()}
    optional["request_time"] = _value("UNIX_TIMESTAMP")
    if data.draw(st.booleans()):
        model = models.rank_request
        fixed = {k: v for k, v in row.items() if k != models.candidate_key}
        fixed["candidates"] = st.lists(row[models.candidate_key], min_size=1, max_size=3)
    else:
        model = models.features_request
        fixed = {"entities": st.lists(st.fixed_dictionaries(row, optional={
            n: _value(t) for n, t in inputs.items()}), min_size=1, max_size=3)}
    body = data.draw(st.fixed_dictionaries(fixed, optional=optional))
    raw = json.dumps(body).encode()  # NaN and Infinity literals included
    fast = _outcome(model.model_validate_json, raw)
    if fast != "refused":
        assert fast == _outcome(lambda b: model.model_validate(json.loads(b)), raw)


def test_json_mode_edge_cases_match_fastapis_or_are_replayed() -> None:
    """Duplicate keys, a float for a strict int, a huge int, a lone surrogate, a byte-order
    mark: JSON mode answers as FastAPI's way does, or refuses (the body is then replayed)."""
    models = build_models(service(keys=(("user_id", "INT64"), ("item_id", "INT64"))))
    model = models.rank_request
    for raw in (b'{"user_id": 1, "candidates": [2], "user_id": 3}',
                b'{"user_id": 1.0, "candidates": [2]}',
                b'{"user_id": 99999999999999999999999, "candidates": [2]}',
                b'{"user_id": 1, "candidates": [2], "channel": "\\ud800"}',
                b'\xef\xbb\xbf{"user_id": 1, "candidates": [2]}',
                b'{"user_id": 1, "candidates": [2], "basket_value": 1e400}'):
        fast = _outcome(model.model_validate_json, raw)
        slow = _outcome(lambda b: model.model_validate(json.loads(b)), raw)
        assert fast in ("refused", slow), raw
