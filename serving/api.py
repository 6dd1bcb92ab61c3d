"""HTTP service: ``POST /features``, ``POST /rank``, ``GET /health`` (FastAPI; docs at /docs).

Start: ``uvicorn serving.api:app`` (configuration from the environment, see
:class:`serving.settings.Settings`) or ``create_app(settings)`` in code.

Guarantees:

* it refuses to start when the encoder state it loads is not the one published in the Feast
  registry, or when the model was trained on another state — the error names the fix;
* while running it re-checks the registry every ``hash_check_seconds`` and answers 503 (with the
  fix) instead of serving vectors from a state that is no longer the published one;
* bad input gets a 422 naming the field (pydantic) or a 413 for oversized batches; an
  unreachable Redis gets a 503 naming the cause; nothing takes the process down;
* every served vector is written to the served-vector log (:mod:`serving.vector_log`).
"""

from __future__ import annotations

import gc
import time
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from encoders import load
from feast_bridge.services import registry_state_hash
from feast_bridge.store import open_store
from scoring.linear_model import LinearModel
from serving.errors import install_error_handlers, redis_status
from serving.online import OnlineEncoder, StateMismatchError, check_state_matches, utc_now
from serving.settings import Settings
from serving.vector_log import VectorLog

EntityId = Annotated[int, Field(ge=0, le=2**63 - 1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class EntityRow(_Strict):
    member_id: EntityId
    title_id: EntityId


class _Context(_Strict):
    request_time: datetime | None = Field(
        None, description="When the features are wanted (ISO-8601; naive = UTC). Default: now.")
    device: str | None = Field(None, max_length=64, description="The member's device")

    @field_validator("request_time")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        if v is None:
            return None
        try:
            v = v.replace(tzinfo=timezone.utc) if v.tzinfo is None else v.astimezone(timezone.utc)
        except OverflowError:  # e.g. 9999-12-31T23:59-05:00 lies past datetime's range in UTC
            v = datetime.max.replace(tzinfo=timezone.utc)
        if not 1970 <= v.year <= 2200:
            raise ValueError("request_time must be between 1970 and 2200")
        return v


class FeaturesRequest(_Context):
    entities: list[EntityRow] = Field(..., min_length=1,
                                      description="Entity rows; at most max_batch")


class RankRequest(_Context):
    member_id: EntityId
    candidates: list[EntityId] = Field(..., min_length=1, description="Title ids to rank")


class FeaturesResponse(BaseModel):
    request_id: str
    state_hash: str
    names: list[str]
    vectors: list[list[float]]
    statuses: list[dict[str, str]]


class Ranked(BaseModel):
    title_id: int
    score: float


class RankResponse(BaseModel):
    request_id: str
    state_hash: str
    model_id: str
    ranking: list[Ranked]


class _Service:
    """Everything a request needs, built once at start-up (and checked there)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = open_store(settings.repo)
        self.enc = load(settings.state_path)
        self.state_hash = check_state_matches(self.store, self.enc)
        self.model = LinearModel.load(settings.model_path)
        if self.model.state_hash != self.enc.content_hash:
            raise StateMismatchError(
                f"model {self.model.model_id} was trained on state {self.model.state_hash}, "
                f"but the published state is {self.enc.content_hash}; retrain it on a training "
                "set built with the published state (scripts/train_model.py)")
        self.score = self.model.bind(self.enc.names)
        self.online = OnlineEncoder(self.store, self.enc)
        self.log = VectorLog(settings.log_dir)
        self._checked = time.monotonic()
        self._stale: str | None = None

    def guard(self) -> None:
        """503 when the registry's published state is no longer ours (checked periodically)."""
        now = time.monotonic()
        if now - self._checked >= self.settings.hash_check_seconds:
            self._checked = now
            try:
                self.store.refresh_registry()
                published = registry_state_hash(self.store)
            except LookupError as exc:
                published = f"none ({exc})"
            self._stale = None if published == self.state_hash else published
        if self._stale:
            raise HTTPException(503, f"the published encoder state changed to {self._stale}; "
                                     f"this server holds {self.state_hash}. Restart it with "
                                     "the published state and a model trained on it")

    def encode(self, rows: list[dict[str, Any]], when: datetime, device: str | None):
        # Redis errors (whichever reader raised them) become a 503: serving/errors.py
        return self.online.encode(rows, when, {"device": device})

    def serve(self, endpoint: str, rows: list[dict[str, Any]], body: _Context,
              model_id: str | None) -> tuple[str, list]:
        """Guard, encode at the request time, log every vector; return (request id, rows)."""
        self.guard()
        when = body.request_time or utc_now()
        encoded = self.encode(rows, when, body.device)
        rid = uuid.uuid4().hex
        self.log.write(request_id=rid, request_time=when, endpoint=endpoint,
                       state_hash=self.state_hash, model_id=model_id, names=self.enc.names,
                       rows=[{**row, "device": body.device, "statuses": r.statuses,
                              "values": list(r.values)} for row, r in zip(rows, encoded)])
        return rid, encoded


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI app; start-up fails (with the fix) on a state or model mismatch."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.service = _Service(settings)
        gc.collect()
        gc.freeze()  # start-up objects (Feast registry, encoders) leave the GC's scans
        yield
        app.state.service.log.close()

    app = FastAPI(title="skewless", version="0.1.0", lifespan=lifespan,
                  description="Encoded feature vectors and rankings, computed with exactly the "
                              "encoder state the model was trained on.")
    install_error_handlers(app)  # 503 for Redis failures, 400/422 naming the field, JSON 500

    def service(request: Request) -> _Service:
        return request.app.state.service

    @app.post("/features", response_model=FeaturesResponse)
    def features(body: FeaturesRequest, request: Request) -> FeaturesResponse:
        svc = service(request)
        if len(body.entities) > settings.max_batch:
            raise HTTPException(413, f"entities has {len(body.entities)} rows; the limit is "
                                     f"{settings.max_batch} (SKEWLESS_MAX_BATCH): split the batch")
        rows = [e.model_dump() for e in body.entities]
        rid, encoded = svc.serve("/features", rows, body, model_id=None)
        vectors = [[float(v) for v in r.values] for r in encoded]
        return FeaturesResponse(request_id=rid, state_hash=svc.state_hash,
                                names=list(svc.enc.names), vectors=vectors,
                                statuses=[dict(r.statuses) for r in encoded])

    @app.post("/rank", response_model=RankResponse)
    def rank(body: RankRequest, request: Request) -> RankResponse:
        svc = service(request)
        if len(body.candidates) > settings.max_candidates:
            raise HTTPException(413, f"candidates has {len(body.candidates)} titles; the limit "
                                     f"is {settings.max_candidates} (SKEWLESS_MAX_CANDIDATES)")
        rows = [{"member_id": body.member_id, "title_id": t} for t in body.candidates]
        rid, encoded = svc.serve("/rank", rows, body, model_id=svc.model.model_id)
        scores = [svc.score(r.values) for r in encoded]
        order = sorted(range(len(rows)), key=lambda i: (-scores[i], rows[i]["title_id"]))
        return RankResponse(request_id=rid, state_hash=svc.state_hash,
                            model_id=svc.model.model_id,
                            ranking=[Ranked(title_id=rows[i]["title_id"], score=scores[i])
                                     for i in order])

    @app.get("/health")
    def health(request: Request) -> dict[str, Any]:
        svc = service(request)
        out: dict[str, Any] = {"state_hash": svc.state_hash, "model_id": svc.model.model_id,
                               "model_state_hash": svc.model.state_hash}
        out["redis"] = redis_status(svc.store)  # the store's own client; never raises
        try:
            out["registry_state_hash"] = registry_state_hash(svc.store)
        except LookupError as exc:
            out["registry_state_hash"] = f"unavailable: {exc}"
        out["ok"] = out["redis"] == "ok" and out["registry_state_hash"] == svc.state_hash
        return out

    return app


def __getattr__(name: str) -> Any:  # ``uvicorn serving.api:app`` builds the app lazily
    if name == "app":
        return create_app()
    raise AttributeError(name)
