"""What the HTTP server holds: every served encoded service, checked once at start-up.

:meth:`Server.start` opens the repo's store and, for each service it serves, loads the state,
checks it is the published one, attaches its model (if any) and builds its request models.
It raises — so the server does not start — naming the fix when:

* ``SKEWLESS_SERVICES`` names a service the registry lacks (the known ones are listed) or one
  not fitted yet; with no ``SKEWLESS_SERVICES``, unfitted services are skipped and a repo with
  no fitted service at all is an error;
* ``SKEWLESS_SERVICE`` is not a served service;
* a state is not the published one (:class:`serving.online.StateMismatchError`), or is
  missing or corrupted (the loader's error);
* a model was trained on another state than its service's published one, a model names a
  service that is not served, or ``SKEWLESS_MODEL_PATH`` fits no service and there is no
  default service to hold it;
* a service's keys or request inputs cannot be exposed over HTTP
  (:class:`serving.request_models.UnsupportedServiceError`).

Models (see :mod:`serving.settings`): ``SKEWLESS_MODELS`` first, then ``SKEWLESS_MODEL_PATH``
(attached to the service whose published state hash is the model's ``state_hash``), then
``<data>/models/<service>.json`` when it exists. The default service of the ``/features``
alias is ``SKEWLESS_SERVICE`` or the only served one; the ``/rank`` alias ranks with
``SKEWLESS_SERVICE``, else the only served service that has a model (with no model at all,
the default service: its ``/rank`` says how to attach one).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from encoders import EncoderSet, load
from feast_bridge.services import (
    ServiceInfo,
    get_service,
    registry_bytes,
    registry_state_hash,
    service_names,
)
from feast_bridge.store import open_store
from online_store.connection import RedisAddress
from scoring.linear_model import LinearModel
from serving.admission import Admission
from serving.errors import redis_status
from serving.facts_log import FactsLog
from serving.facts_schema import FactsSchema
from serving.log_queue import QueuedLog
from serving.online import EncodedRow, OnlineEncoder, StateMismatchError, check_state_matches
from serving.readiness import BEHIND, CURRENT, EMPTY, UNCHECKED, OnlineStoreCheck
from serving.request_models import ServiceModels, build_models
from serving.settings import Settings
from serving.vector_log import VectorLog
from serving.workers import log_dir_of_worker

__all__ = ["Served", "ServedService", "Server", "StaleStateError"]

log = logging.getLogger("skewless.serving")


@dataclass(frozen=True)
class Served:
    """One request's answer: its id, its encoded rows, and ``log()`` to queue its line in the
    served-vector log (call it once; it never blocks on the disk)."""

    request_id: str
    encoded: list[EncodedRow]
    log: Callable[[], None]


UNAVAILABLE = "unavailable:"  # prefix of ServedService.published() when the registry fails


def _registry_unreadable(service: str, why: str) -> str:
    return (f"the published encoder state changed for service {service!r}: the Feast registry "
            f"publishes none now ({why}). Either the service awaits a fit (`skewless fit` "
            "re-publishes a state) or the registry cannot be read (check its path in the "
            "repo's feature_store.yaml); restart the server once a state is published")


def _nothing() -> None:
    """The log call of a server started without a log (``Server.open_log`` not called)."""


class StaleStateError(RuntimeError):
    """The registry now publishes another state than the one this server holds."""


class ServedService:
    """One service as served: its registry entry, state, encoder, model and request models.

    ``guard`` re-reads the published hash every ``hash_check_seconds`` and raises
    :class:`StaleStateError` while it differs from the state held (a registry that cannot
    be read counts as different: nothing is served unchecked)."""

    def __init__(self, store: Any, info: ServiceInfo, enc: EncoderSet,
                 model: LinearModel | None, candidate_key: str | None,
                 hash_check_seconds: float) -> None:
        self.name = info.name
        self.info = info
        self.enc = enc
        self.store = store
        self.state_hash = check_state_matches(store, enc, info.name)
        if model is not None and model.state_hash != self.state_hash:
            raise StateMismatchError(
                f"model {model.model_id} was trained on state {model.state_hash}, but the "
                f"published state of service {info.name!r} is {self.state_hash}; retrain it on "
                "a training set built with the published state (scripts/train_model.py)")
        self.model = model
        #: the model's scores of a batch of encoded vectors (exactly its per-vector scores)
        self.score = model.bind_many(enc.names) if model is not None else None
        self.models: ServiceModels = build_models(info, candidate_key)
        self.online = OnlineEncoder(store, enc, service=info.name)
        self.names = list(enc.names)
        self._interval = hash_check_seconds
        self._checked = time.monotonic()
        self._stale: str | None = None
        #: (the registry's bytes, what :meth:`published` found in them), or None
        self._published: tuple[bytes, str] | None = None

    @property
    def model_id(self) -> str | None:
        return None if self.model is None else self.model.model_id

    def published(self) -> str:
        """The hash the registry publishes now, or ``unavailable: <why>`` (an unknown or
        unfitted service). The registry is re-read on every call; the service's entry is
        rebuilt from it only when its bytes changed since the last call (rebuilding costs
        ~9 ms of Feast's object conversions, the whole of ``/health`` before; re-reading and
        comparing ~50 µs). An answer is kept only when the registry did not change while it
        was computed. Errors reading the registry itself propagate."""
        snapshot = registry_bytes(self.store)
        kept = self._published
        if snapshot is not None and kept is not None and kept[0] == snapshot:
            return kept[1]
        try:
            value = registry_state_hash(self.store, self.name)
        except LookupError as exc:
            value = f"{UNAVAILABLE} {exc}"
        if snapshot is not None and registry_bytes(self.store, refresh=False) == snapshot:
            self._published = (snapshot, value)  # one assignment: /health runs on a thread
        return value

    def guard(self) -> None:
        """Raise :class:`StaleStateError` naming the fix when the registry (re-read at most
        every ``hash_check_seconds``; the verdict is cached in between) publishes another
        state than the one served, or can no longer be read or describe the service."""
        now = time.monotonic()
        if now - self._checked >= self._interval:
            self._checked = now
            published = self.published()  # re-reads the registry
            self._stale = None if published == self.state_hash else published
        if self._stale and self._stale.startswith(UNAVAILABLE):
            raise StaleStateError(_registry_unreadable(
                self.name, self._stale[len(UNAVAILABLE):].strip()))
        if self._stale:
            raise StaleStateError(
                f"the published encoder state changed to {self._stale} for service "
                f"{self.name!r}; this server holds {self.state_hash}. Restart it with the "
                "published state and a model trained on it")

    def health(self) -> dict[str, Any]:
        registry = self.published()
        return {"state_hash": self.state_hash, "registry_state_hash": registry,
                "model_id": self.model_id,
                "model_state_hash": None if self.model is None else self.model.state_hash,
                "candidate_key": self.models.candidate_key, "ok": registry == self.state_hash}


class Server:
    """Every served service, the shared store and the served-vector log (module docstring)."""

    def __init__(self, settings: Settings, store: Any, services: Mapping[str, ServedService],
                 default: str | None, rank_default: str | None,
                 skipped: Sequence[str] = ()) -> None:
        self.settings = settings
        self.store = store
        self.services = dict(services)
        self.default = default
        self.rank_default = rank_default
        self.skipped = tuple(skipped)
        self.log: QueuedLog | None = None
        self.online_store = OnlineStoreCheck(
            store, {n: s.info for n, s in self.services.items()}, settings.repo,
            settings.ready_check_seconds, settings.hash_check_seconds)
        self.admission = Admission(settings.max_in_flight)  # serving.admission: load shedding

    @classmethod
    def start(cls, settings: Settings) -> Server:
        address = RedisAddress(settings.redis_host, settings.redis_port, settings.redis_db)
        store = open_store(settings.repo, address.or_else(RedisAddress.from_env()))
        infos, skipped = _served_infos(store, settings.services)
        default = _default(settings.default_service, infos)
        models = _models(settings, infos, default)
        key = settings.rank_candidate_key
        if key and not any(key in i.entity_keys for i in infos.values()):
            raise ValueError(f"SKEWLESS_RANK_CANDIDATE_KEY={key!r} is a join key of no served "
                             f"service ({ {n: list(i.entity_keys) for n, i in infos.items()} })")
        services = {}
        for name, info in infos.items():
            state = settings.state_path if name == _override_target(settings, infos, default) \
                else info.state_path
            services[name] = ServedService(
                store, info, load(state), models.get(name),
                key if key in info.entity_keys else None, settings.hash_check_seconds)
        with_model = [n for n, s in services.items() if s.model is not None]
        if settings.default_service or not with_model:
            rank_default = default  # no model anywhere: /rank names the default's fix
        else:
            rank_default = with_model[0] if len(with_model) == 1 else None
        for name in skipped:
            log.warning("service %r is declared but not fitted: not served (run `skewless fit "
                        "--service %s`)", name, name)
        return cls(settings, store, services, default, rank_default, skipped)

    def open_log(self) -> None:
        """Open the served log in the configured format (:mod:`serving.settings`): Parquet
        served facts in the log folder (a worker's files carry its name), or JSON lines in a
        worker's own folder."""
        s = self.settings
        if self.log is not None or s.log_format == "off":
            return
        folder = log_dir_of_worker(s.log_dir, s.workers)
        if s.log_format == "jsonl":
            self.log = VectorLog(folder, max_queued_rows=s.log_queue_max,
                                 sample_rate=s.log_sample)
            return
        self.log = FactsLog(
            s.log_dir, {n: FactsSchema.of(svc.info) for n, svc in self.services.items()},
            worker=folder.name if folder != s.log_dir else "w0",
            max_queued_rows=s.log_queue_max, sample_rate=s.log_sample,
            file_rows=s.log_file_rows, file_seconds=s.log_file_seconds)

    def log_health(self) -> dict[str, Any] | None:
        """The served-vector log's counters (queued, written, dropped per service); ``None``
        before the log is opened. Drops never make the server unhealthy: logging must not
        block a request, so a writer that falls behind drops, counted here."""
        return None if self.log is None else self.log.stats().to_json()

    def close(self) -> None:
        if self.log is not None:
            self.log.close()

    def serve(self, svc: ServedService, endpoint: str, rows: list[dict[str, Any]],
              context: dict[str, Any], when: datetime, model_id: str | None = None) -> Served:
        """Guard, then encode ``rows`` at ``when`` with the top-level request inputs
        ``context`` (a row's own value wins). The vectors are logged when the caller calls
        :meth:`Served.log` — once they are sent, so the log's writer thread does not compete
        with the request for the GIL before the answer is out; a request that fails after
        encoding (nothing served) is not logged. Neither ``rows`` nor ``context`` may be
        mutated afterwards (the log reads them on its writer thread)."""
        svc.guard()
        self.online_store.require(svc.name)  # a view lost from Redis: 503 naming the recovery
        encoded, views = svc.online.encode_served(rows, when, context)  # Redis -> 503 (errors.py)
        rid = uuid.uuid4().hex
        if self.log is None:
            return Served(rid, encoded, _nothing)
        return Served(rid, encoded, partial(
            self.log.write_encoded, request_id=rid, request_time=when, endpoint=endpoint,
            service=svc.name, state_hash=svc.state_hash, model_id=model_id, names=svc.names,
            keys=rows, context=context, encoded=encoded, views=views))

    def ready(self) -> list[str]:
        """Why the server is not ready (empty: ready): Redis does not answer ``PING``, a
        service's published state changed (the guard's cached check, re-read every
        ``hash_check_seconds``), or the online store lacks what the registry says
        (:class:`serving.readiness.OnlineStoreCheck`, cached ``ready_check_seconds``). Cheaper
        than :meth:`health`, which re-reads every service from the registry."""
        redis = redis_status(self.store)
        reasons = [] if redis == "ok" else [f"redis {redis}"]
        for svc in self.services.values():
            try:
                svc.guard()
            except StaleStateError as exc:
                reasons.append(str(exc))
            except Exception as exc:  # a probe reports, never raises (registry unreadable)
                reasons.append(_registry_unreadable(svc.name, f"{type(exc).__name__}: {exc}"))
        return reasons + self.online_store.current().reasons()

    def health(self) -> dict[str, Any]:
        """Per service (state, registry and model hashes, its views' online-store state),
        Redis, the online store's check (:mod:`serving.readiness`) and the default service's
        figures at the top level; ``ok`` when Redis answers, every service is current and
        the online store holds what the registry says; ``reasons`` lists what is not."""
        per = {name: svc.health() for name, svc in self.services.items()}
        stored = self.online_store.current()
        for name, entry in per.items():
            states = {v.state for v in stored.views if v.service == name}
            entry["online_store"] = next((s for s in (EMPTY, BEHIND, UNCHECKED) if s in states),
                                         UNCHECKED if stored.error else CURRENT)
            entry["ok"] = entry["ok"] and not stored.error and entry["online_store"] in (
                CURRENT, UNCHECKED)
        main = per.get(self.default) or {}
        out: dict[str, Any] = {
            "service": self.default, "rank_service": self.rank_default,
            "state_hash": main.get("state_hash"), "model_id": main.get("model_id"),
            "model_state_hash": main.get("model_state_hash"),
            "registry_state_hash": main.get("registry_state_hash"),
            "redis": redis_status(self.store),  # the store's own client; never raises
            "services": per, "unfitted_services": list(self.skipped),
            "online_store": stored.to_json(), "vector_log": self.log_health()}
        reasons = [] if out["redis"] == "ok" else [f"redis {out['redis']}"]
        for n, s in per.items():
            published = s["registry_state_hash"]
            if published.startswith(UNAVAILABLE):
                reasons.append(_registry_unreadable(n, published[len(UNAVAILABLE):].strip()))
            elif published != s["state_hash"]:
                reasons.append(f"service {n!r}: the registry publishes state {published}, this "
                               f"server holds {s['state_hash']}; restart it with the published "
                               "state")
        out["reasons"] = reasons + stored.reasons()
        out["ok"] = not out["reasons"]
        out["admission"] = self.admission.health()  # this worker's in-flight bound, shed count
        return out


def _served_infos(store: Any, wanted: Sequence[str]
                  ) -> tuple[dict[str, ServiceInfo], list[str]]:
    known = service_names(store)
    if not known:
        get_service(store)  # raises: no encoded service, naming encoded_service(...)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise LookupError(f"SKEWLESS_SERVICES names {unknown}, which the registry lacks; "
                          f"known services: {list(known)}")
    infos, skipped = {}, []
    for name in wanted or known:
        info = get_service(store, name)
        if info.state_hash is None:
            if wanted:
                info.require_fitted()  # raises naming `skewless fit`
            skipped.append(name)
            continue
        infos[name] = info
    if not infos:
        raise LookupError(f"no encoded service of the repo is fitted ({list(known)}); run "
                          "`skewless fit --service NAME` first")
    return infos, skipped


def _default(name: str | None, infos: Mapping[str, ServiceInfo]) -> str | None:
    if name and name not in infos:
        raise LookupError(f"SKEWLESS_SERVICE={name!r} is not a served service; served: "
                          f"{list(infos)} (see SKEWLESS_SERVICES)")
    return name or (next(iter(infos)) if len(infos) == 1 else None)


def _override_target(settings: Settings, infos: Mapping[str, ServiceInfo],
                     default: str | None) -> str | None:
    """The service ``SKEWLESS_STATE_PATH`` is for: the default one, else the service that
    declares that path; ``None`` when it is unset."""
    path = settings.state_path
    if path is None:
        return None
    if default is not None:
        return default
    for name, info in infos.items():
        if Path(info.state_path).resolve() == Path(path).resolve():
            return name
    raise ValueError(f"SKEWLESS_STATE_PATH={path} is the state of which service? Several are "
                     f"served ({list(infos)}) and none declares that path: set SKEWLESS_SERVICE")


def _models(settings: Settings, infos: Mapping[str, ServiceInfo], default: str | None
            ) -> dict[str, LinearModel]:
    """The model of each service that has one (precedence in the module docstring)."""
    out: dict[str, LinearModel] = {}
    for name, path in settings.models:
        if name not in infos:
            raise LookupError(f"SKEWLESS_MODELS names service {name!r}, which is not served; "
                              f"served: {list(infos)} (see SKEWLESS_SERVICES)")
        out[name] = LinearModel.load(path)
    legacy = settings.model_path
    if legacy is not None and legacy.exists():
        model = LinearModel.load(legacy)
        fits = [n for n, i in infos.items() if i.state_hash == model.state_hash and n not in out]
        target = fits[0] if fits else (default if default not in out else None)
        if target is None:
            raise StateMismatchError(
                f"the model at SKEWLESS_MODEL_PATH={legacy} was trained on state "
                f"{model.state_hash}, which no served service publishes "
                f"({ {n: i.state_hash for n, i in infos.items()} }); retrain it, or attach it "
                "with SKEWLESS_MODELS=service=path.json")
        out[target] = model  # a mismatch is refused by ServedService, naming the fix
    elif legacy is not None:
        log.warning("no model at SKEWLESS_MODEL_PATH=%s: /rank is off for services without "
                    "a model (set SKEWLESS_MODELS)", legacy)
    if settings.models_dir is not None:
        for name in infos:
            path = settings.models_dir / f"{name}.json"
            if name not in out and path.is_file():
                out[name] = LinearModel.load(path)
    return out
