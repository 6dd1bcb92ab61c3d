"""HTTP service for every fitted encoded service of a Feast repo (FastAPI; docs at /docs).

Start: ``uvicorn serving.api:app`` (configuration from the environment, see
:class:`serving.settings.Settings`) or ``create_app(settings)`` in code.

Routes, per served service ``<name>`` (bodies generated from the registry, so ``/docs`` shows
each service's join keys, request inputs and their types — :mod:`serving.request_models`):

* ``POST /services/<name>/features`` — ``{"entities": [{<join keys>, <request inputs>?}, ...],
  "request_time"?, <request inputs>?}`` -> names, vectors, per-view statuses;
* ``POST /services/<name>/rank`` (when a model is attached) — ``{<join keys but the candidate
  key>, "candidates": [...], "request_time"?, <request inputs>?}`` -> the candidates ranked
  by score, each ``{<candidate key>: value, "score": s}``; without a model: 409 naming
  ``SKEWLESS_MODELS``;
* ``POST /features`` and ``POST /rank`` — the same for the default service (``SKEWLESS_SERVICE``,
  or the only one served; ``/rank``: else the only one with a model); with no default a 409
  names the per-service routes;
* ``GET /health`` — per service (state hash, registry hash, model id, online-store state)
  plus Redis and the online store's check; the default service's figures also at the top
  level; 200 when ``ok``, else 503 with ``reasons``;
* ``GET /health/live`` — 200 while the process answers (liveness: touches neither Redis nor
  the registry);
* ``GET /health/ready`` — 200 only when Redis answers, every served state is the published
  one and the online store holds what the registry says was materialized
  (:mod:`serving.readiness`); else 503 with ``reasons``, each naming its fix.

Guarantees:

* it refuses to start when an encoder state it loads is not the one published in the Feast
  registry, or when a model was trained on another state — the error names the fix
  (:mod:`serving.runtime`);
* while running it re-checks the registry every ``hash_check_seconds`` and answers 503 (with the
  fix) instead of serving vectors from a state that is no longer the published one;
* a feature request for a service one of whose views the online store does not hold (Redis
  flushed or lost its data; never materialized) answers 503 ``{"cause":
  "online_store_empty", "views": [...], "detail": <the recovery command>}`` instead of
  vectors with that view missing for every row; a view only *behind* the registry is served
  (its rows are the latest Redis holds, each checked against the ttl at the request time)
  while readiness says 503;
* bad input gets a 422 naming the field (pydantic) or a 413 for oversized batches; an
  unreachable Redis gets a 503 naming the cause; nothing takes the process down;
* oversized bodies (413), non-JSON bodies (415) and oversized heads (431) are refused before
  they are read (:mod:`serving.limits`); a path with a trailing slash is a 404 naming the
  route, never a redirect; ``/docs`` and ``/redoc`` load their assets from this server
  (:mod:`serving.docs`);
* under overload it sheds: beyond ``SKEWLESS_MAX_IN_FLIGHT`` ``POST`` requests in flight per
  process, a 503 with ``Retry-After`` names the setting (:mod:`serving.admission`);
* every served vector is written to the served-vector log (:mod:`serving.vector_log`) with the
  name of the service that served it — queued once the answer is sent (also when sending
  failed), so the log's writer thread does not hold the GIL before the answer is out; a
  request that fails before its answer is built logs nothing, as nothing was served.

Cost (``bench/bench_online.py``, ``HTTP /rank`` vs the in-process encoded call): the answers
are built as bytes with one ``pydantic_core.to_json`` of plain lists, not through
``response_model`` (kept for the OpenAPI document only); the endpoints are ``async def``
(:func:`_endpoint`); request bodies are validated by the generated pydantic models, a valid
one without FastAPI's request machinery (:mod:`serving.hot_routes`; everything else goes
through FastAPI); a ranking is scored as one batch
(:meth:`scoring.linear_model.LinearModel.bind_many`, exactly the per-vector scores).
"""

from __future__ import annotations

import gc
import inspect
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic_core import to_json

from serving.admission import AdmissionMiddleware
from serving.docs import install_docs
from serving.errors import install_error_handlers
from serving.hot_routes import HotRoutes, raise_failed
from serving.limits import InputLimits
from serving.online import utc_now
from serving.readiness import OnlineStoreEmptyError
from serving.request_models import FeaturesResponse
from serving.runtime import ServedService, Server, StaleStateError
from serving.settings import Settings

__all__ = ["create_app"]


class _ServedJSON(Response):
    """A pre-encoded JSON answer whose vectors are logged once it is sent.

    ``after`` runs when sending is done — also when it failed or the request was cancelled
    (``finally``), so every vector that may have reached the client is logged."""

    media_type = "application/json"

    def __init__(self, content: bytes, after: Callable[[], None]) -> None:
        super().__init__(content)
        self._after = after

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._after()


def _json(content: Any) -> bytes:
    """Compact UTF-8 JSON of plain values (Rust ``to_json``); a non-finite float is ``null``,
    as pydantic's ``response_model`` serialization wrote it."""
    return to_json(content, inf_nan_mode="null")


def _endpoint(fn: Callable[[Any], Response], body_model: type) -> Callable[..., Any]:
    """``fn(body)`` as a FastAPI endpoint whose body is ``body_model`` (a generated model:
    FastAPI reads the type from the signature and validates the body with it).

    An ``async def``, run on the event loop: the work is short (a few ms of CPU, one pipelined
    Redis round trip) and FastAPI's threadpool hop for a ``def`` endpoint cost more than the
    overlap it allowed (measured side by side, 100 candidates: the same p50 for one client,
    p99 38 vs 53 ms and 106 vs 90 requests/s for 8 clients on 2 loaded cores — the GIL
    leaves little to overlap). Edge case: the Redis read blocks the loop, so while Redis
    hangs every request (``/health`` too) waits up to ``SKEWLESS_REDIS_SOCKET_TIMEOUT``
    (then 503)."""

    async def endpoint(request: Request, body: Any) -> Any:
        raise_failed(request.scope)  # the hot path's error, if it met one (serving.hot_routes)
        return fn(body)

    endpoint.__signature__ = inspect.Signature([
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          annotation=Request),
        inspect.Parameter("body", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          annotation=body_model)])
    return endpoint


def _refuse(status: int, detail: str) -> Callable[..., Any]:
    """An endpoint answering ``status`` with ``detail`` whatever the body (not in OpenAPI)."""

    def endpoint() -> Any:
        raise HTTPException(status, detail)

    return endpoint


def _features(server: Server, svc: ServedService, path: str) -> Callable[[Any], Response]:
    """The ``/features`` answer, its JSON built here with one ``to_json`` of plain lists
    (``FeaturesResponse`` only documents it: FastAPI validated a returned dict against it,
    then serialized it — for a ``def`` endpoint after a second threadpool hop)."""
    limit = server.settings.max_batch
    models = svc.models
    head = {"service": svc.name, "state_hash": svc.state_hash, "names": svc.names}

    def features(body: Any) -> Response:
        if len(body.entities) > limit:
            raise HTTPException(413, f"entities has {len(body.entities)} rows; the limit is "
                                     f"{limit} (SKEWLESS_MAX_BATCH): split the batch")
        rows, context = models.feature_rows(body)
        served = server.serve(svc, path, rows, context, body.request_time or utc_now())
        encoded = served.encoded
        return _ServedJSON(_json({
            "request_id": served.request_id, **head,
            "vectors": [list(r.values) for r in encoded],  # int outputs stay ints
            "statuses": [r.statuses for r in encoded]}), served.log)

    return features


def _rank(server: Server, svc: ServedService, path: str) -> Callable[[Any], Response]:
    """The ``/rank`` answer, built here like ``/features``' (``rank_response`` documents it)."""
    limit = server.settings.max_candidates
    models, key, score = svc.models, svc.models.candidate_key, svc.score
    head = {"service": svc.name, "state_hash": svc.state_hash, "model_id": svc.model_id}

    def rank(body: Any) -> Response:
        if len(body.candidates) > limit:
            raise HTTPException(413, f"candidates has {len(body.candidates)} {key} values; "
                                     f"the limit is {limit} (SKEWLESS_MAX_CANDIDATES)")
        rows, context = models.rank_rows(body)
        served = server.serve(svc, path, rows, context, body.request_time or utc_now(),
                              model_id=svc.model_id)
        scores = score([r.values for r in served.encoded])
        # best first, ties by candidate; scores are probabilities (never -0.0): -(-s) == s
        ranked = sorted(zip([-s for s in scores], [r[key] for r in rows]))
        return _ServedJSON(_json({
            "request_id": served.request_id, **head,
            "ranking": [{key: c, "score": -s} for s, c in ranked]}), served.log)

    return rank


def _no_model(name: str) -> str:
    return (f"service {name!r} has no model, so it cannot rank: attach one with "
            f"SKEWLESS_MODELS={name}=path/to/model.json (trained on its published state) and "
            "restart; POST /features works without a model")


def _add_post(app: FastAPI, hot: dict, path: str, fn: Callable[[Any], Response],
              body_model: type, **route: Any) -> None:
    """Register ``fn`` at ``POST path``: a FastAPI route (OpenAPI, and the answer to every
    body it refuses) and the same function in the hot routes (:mod:`serving.hot_routes`)."""
    app.add_api_route(path, _endpoint(fn, body_model), methods=["POST"], **route)
    hot[path] = (fn, body_model)


def _add_routes(app: FastAPI, hot: dict, server: Server, svc: ServedService, features_path: str,
                rank_path: str) -> None:
    m, tag = svc.models, [svc.name]
    _add_post(app, hot, features_path, _features(server, svc, features_path),
              m.features_request, response_model=FeaturesResponse, tags=tag,
              summary=f"Encoded vectors of service {svc.name}")
    if svc.model is None:
        app.add_api_route(rank_path, _refuse(409, _no_model(svc.name)), methods=["POST"],
                          include_in_schema=False)
        return
    _add_post(app, hot, rank_path, _rank(server, svc, rank_path), m.rank_request,
              response_model=m.rank_response, tags=tag,
              summary=f"Rank {m.candidate_key} candidates with {svc.model_id}")


def _add_aliases(app: FastAPI, hot: dict, server: Server) -> None:
    served = list(server.services)
    routes = ", ".join(f"POST /services/{n}/features" for n in served)
    if server.default is None:
        app.add_api_route("/features", _refuse(409, (
            f"several services are served ({served}) and none is the default: set "
            f"SKEWLESS_SERVICE, or use {routes}")), methods=["POST"], include_in_schema=False)
    else:
        svc = server.services[server.default]
        _add_post(app, hot, "/features", _features(server, svc, "/features"),
                  svc.models.features_request, response_model=FeaturesResponse,
                  tags=["default service"],
                  summary=f"Encoded vectors of the default service ({svc.name})")
    rank = server.services.get(server.rank_default) if server.rank_default else None
    if rank is None or rank.model is None:
        detail = _no_model(rank.name) if rank is not None else (
            f"no default service with a model among {served}: attach one with "
            "SKEWLESS_MODELS=service=path.json (and SKEWLESS_SERVICE when several have one)")
        app.add_api_route("/rank", _refuse(409, detail), methods=["POST"],
                          include_in_schema=False)
    else:
        _add_post(app, hot, "/rank", _rank(server, rank, "/rank"), rank.models.rank_request,
                  response_model=rank.models.rank_response, tags=["default service"],
                  summary=f"Rank with the default model ({rank.model_id})")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI app; building it fails (with the fix) on a state or model mismatch."""
    settings = settings or Settings.from_env()
    server = Server.start(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        server.open_log()
        gc.collect()
        gc.freeze()  # start-up objects (Feast registry, encoders) leave the GC's scans
        yield
        server.close()

    app = FastAPI(title="skewless", version="0.2.0", lifespan=lifespan,
                  description="Encoded feature vectors and rankings, computed with exactly the "
                              "encoder state each model was trained on. Services: "
                              + ", ".join(server.services),
                  redirect_slashes=False, docs_url=None, redoc_url=None)
    app.state.service = server  # errors.py reads the store's Redis address from it
    install_error_handlers(app)  # 503 for Redis failures, 400/422 naming the field, JSON 500
    hot: dict[str, tuple[Callable[[Any], Response], type]] = {}  # filled with the routes below
    app.add_middleware(HotRoutes, routes=hot)  # innermost: valid bodies skip FastAPI's work
    app.add_middleware(InputLimits, max_body_bytes=settings.body_limit)  # 413/415 unread
    install_docs(app)  # Swagger UI and ReDoc with local assets
    app.add_middleware(AdmissionMiddleware, admission=server.admission)  # 503 past the bound

    async def stale(request: Request, exc: StaleStateError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    app.add_exception_handler(StaleStateError, stale)

    async def empty(request: Request, exc: OnlineStoreEmptyError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "cause": "online_store_empty",
                             "views": [v.to_json() for v in exc.views]}, status_code=503)

    app.add_exception_handler(OnlineStoreEmptyError, empty)
    for svc in server.services.values():
        _add_routes(app, hot, server, svc, f"/services/{svc.name}/features",
                    f"/services/{svc.name}/rank")
    _add_aliases(app, hot, server)

    @app.get("/health")
    def health() -> JSONResponse:
        out = server.health()
        return JSONResponse(out, status_code=200 if out["ok"] else 503)

    @app.get("/health/live")
    def live() -> dict[str, Any]:
        return {"live": True}

    @app.get("/health/ready")
    def ready() -> JSONResponse:
        reasons = server.ready()
        return JSONResponse({"ready": not reasons, "reasons": reasons},
                            status_code=503 if reasons else 200)

    @app.post("/services/{name}/{action}", include_in_schema=False)
    def unknown_service(name: str, action: str) -> None:
        raise HTTPException(404, f"no route POST /services/{name}/{action}; served services: "
                                 f"{list(server.services)} (routes /services/<name>/features "
                                 "and /services/<name>/rank; see SKEWLESS_SERVICES)")

    return app


def __getattr__(name: str) -> Any:  # ``uvicorn serving.api:app`` builds the app lazily
    if name == "app":
        return create_app()
    raise AttributeError(name)
