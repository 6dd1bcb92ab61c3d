"""The hot routes (:mod:`serving.hot_routes`) on a minimal FastAPI app wired as
``serving.api`` wires its routes: a valid body runs the route's function once, outside
FastAPI; a body FastAPI refuses gets FastAPI's 422 without the function running; an error the
function raises is answered by the app's handler and the function is not run a second time
(a hung Redis costs one socket timeout, not two)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict

from serving.api import _endpoint
from serving.hot_routes import HotRoutes


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
