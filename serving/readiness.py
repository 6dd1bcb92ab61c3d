"""Does the online store hold what the Feast registry says was materialized? The server's
readiness check, per view of every served service.

For each view the registry's ``most_recent_end_time`` (the latest end of its
``materialization_intervals``) is compared with the view's watermark in Redis
(:mod:`online_store.watermark`, written by skewless' engine after a run's rows):

* ``current`` — the watermark's end is at or after the registry's (or the registry records no
  interval yet the watermark exists), and its probe keys still hold the view's rows;
* ``behind`` — the watermark ends before the registry's interval: Redis holds older rows
  than the registry says (restored from an older snapshot, a run that wrote but whose
  watermark was lost ...). Vectors are still answered (each row's ttl rule at the request time
  applies, statuses say ``expired`` where a row is too old), but the server is not ready;
* ``unchecked`` — the repo's ``batch_engine`` is not skewless' engine, which alone writes
  watermarks (:func:`online_store.watermark.writes_watermarks`): nothing can be said of the
  store, so it neither blocks requests nor fails readiness; ``/health`` lists the view as
  unchecked, naming the engine to configure for the check;
* ``empty`` — no watermark (Redis flushed, lost its data set, or the view was never
  materialized by skewless' engine), an unreadable one, or probe keys without the view's rows
  (the rows were deleted while the watermark stayed). Every vector would be missing this view:
  feature requests of a service with an empty view answer 503 naming the recovery.

The recovery named in every message is ``skewless --repo <repo> materialize --full``: it
re-materializes every view over its whole registered span (earliest start to latest end),
whatever the registry says is done (``feast materialize-incremental`` would not: the registry
says the interval is done).

Cost: one check is two pipelined Redis round trips for all views (watermarks, then probes) and
registry lookups from Feast's cached registry, refreshed at most every ``registry_seconds``.
:class:`OnlineStoreCheck` caches the result for ``interval`` seconds, so load balancers
polling readiness and the per-request gate cost a dictionary look-up between checks. A Redis
error makes a result with ``error`` set (not ready, nothing blocked by the gate: the request's
own read then fails with the usual 503), cached like any other.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feast_bridge.services import ServiceInfo
from online_store.layout import redis_view_name
from online_store.watermark import (
    ENGINE_TYPE,
    StoredWatermark,
    read_watermarks,
    writes_watermarks,
)

__all__ = ["OnlineStoreCheck", "OnlineStoreEmptyError", "OnlineStoreState", "ViewState",
           "check_online_store", "recovery_command"]

CURRENT, BEHIND, EMPTY, UNCHECKED = "current", "behind", "empty", "unchecked"
log = logging.getLogger("skewless.serving")


def recovery_command(repo: Any) -> str:
    """The command that restores every view of ``repo`` (module docstring)."""
    return f"skewless --repo {repo} materialize --full"


class OnlineStoreEmptyError(RuntimeError):
    """A served service has a view the online store does not hold (answered with 503)."""

    def __init__(self, service: str, views: Sequence[ViewState]) -> None:
        self.service, self.views = service, tuple(views)
        super().__init__(f"service {service!r} cannot be served: "
                         + "; ".join(v.detail for v in views))


@dataclass(frozen=True)
class ViewState:
    """One view of one service: ``state`` (``current``/``behind``/``empty``), the registry's
    and the store's end times (``None`` when absent) and a message naming the fix."""

    service: str
    view: str
    state: str
    registry_end: datetime | None
    store_end: datetime | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"service": self.service, "view": self.view, "state": self.state,
                "registry_end": None if self.registry_end is None
                else self.registry_end.isoformat(),
                "store_end": None if self.store_end is None else self.store_end.isoformat(),
                "detail": self.detail}


@dataclass(frozen=True)
class OnlineStoreState:
    """One check: every (service, view), or ``error`` when Redis could not be read;
    ``checked_at`` is ``time.monotonic()`` of the check."""

    views: tuple[ViewState, ...]
    error: str | None
    checked_at: float

    @property
    def ok(self) -> bool:
        return self.error is None and all(v.state in (CURRENT, UNCHECKED) for v in self.views)

    def reasons(self) -> list[str]:
        """A line per problem (empty when :attr:`ok`; an unchecked view is no problem)."""
        head = [f"online store not checked: {self.error}"] if self.error else []
        return head + [v.detail for v in self.views if v.state not in (CURRENT, UNCHECKED)]

    def empty_views(self, service: str) -> list[ViewState]:
        return [v for v in self.views if v.service == service and v.state == EMPTY]

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "error": self.error, "views": [v.to_json() for v in self.views]}


def _state(service: str, view: str, registry_end: datetime | None, stored: StoredWatermark,
           fix: str) -> ViewState:
    where = f"view {view!r} of service {service!r}"
    wm = stored.watermark
    if wm is None:
        if stored.error:
            why = f"its watermark is unreadable ({stored.error})"
        elif registry_end is None:
            why = "it was never materialized"
        else:
            why = (f"the registry says it is materialized up to {registry_end.isoformat()} "
                   "but Redis holds no watermark for it (flushed, lost its data, or written "
                   "by another engine)")
        if registry_end is None and not stored.error:  # --full has no interval to redo
            fix = fix.replace("--full", "--start YYYY-MM-DD --end YYYY-MM-DD")
        return ViewState(service, view, EMPTY, registry_end, None,
                         f"{where}: online store empty ({why}); run `{fix}`")
    if stored.missing_probes:
        return ViewState(service, view, EMPTY, registry_end, wm.end,
                         f"{where}: online store empty ({len(stored.missing_probes)} of "
                         f"{len(wm.probes)} sampled keys lost the view's rows while its "
                         f"watermark stayed); run `{fix}`")
    if registry_end is not None and wm.end < registry_end:
        return ViewState(service, view, BEHIND, registry_end, wm.end,
                         f"{where}: online store behind by {registry_end - wm.end} (Redis holds "
                         f"rows up to {wm.end.isoformat()}, the registry says "
                         f"{registry_end.isoformat()}); run `{fix}`")
    return ViewState(service, view, CURRENT, registry_end, wm.end,
                     f"{where}: current up to {wm.end.isoformat()}")


def check_online_store(store: Any, services: Mapping[str, ServiceInfo], repo: Any,
                       client: Any = None) -> OnlineStoreState:
    """Check every view of ``services`` against the registry (module docstring). ``client``:
    a redis-py client (default the store's own, Feast's). Redis errors propagate."""
    config, project = store.config, store.config.project
    ends: dict[str, datetime | None] = {}
    names: dict[str, str] = {}
    for info in services.values():
        for v in info.views:
            if v.name not in names:
                fv = store.registry.get_feature_view(v.name, project, allow_cache=True)
                ends[v.name], names[v.name] = fv.most_recent_end_time, redis_view_name(fv, config)
    if not writes_watermarks(config):
        return OnlineStoreState(tuple(
            ViewState(s, v.name, UNCHECKED, ends[v.name], None,
                      f"view {v.name!r} of service {s!r}: online store unchecked (the repo's "
                      f"batch_engine writes no watermark; set batch_engine type "
                      f"{ENGINE_TYPE} in feature_store.yaml to have it checked)")
            for s, info in services.items() for v in info.views), None, time.monotonic())
    if client is None:
        client = store._get_provider().online_store._get_client(config.online_store)
    stored = read_watermarks(client, project, list(names.values()))
    fix = recovery_command(repo)
    views = tuple(_state(s, v.name, ends[v.name], stored[names[v.name]], fix)
                  for s, info in services.items() for v in info.views)
    return OnlineStoreState(views, None, time.monotonic())


class OnlineStoreCheck:
    """:func:`check_online_store`, cached for ``interval`` seconds (0: every call), with the
    store's registry refreshed at most every ``registry_seconds``. A check that raises
    (Redis down, registry unreadable) gives a result carrying the error (logged), never an
    exception."""

    def __init__(self, store: Any, services: Mapping[str, ServiceInfo], repo: Any,
                 interval: float, registry_seconds: float) -> None:
        self.store, self.services, self.repo = store, dict(services), repo
        self.interval, self.registry_seconds = interval, registry_seconds
        self._last: OnlineStoreState | None = None
        self._refreshed = time.monotonic()

    def current(self) -> OnlineStoreState:
        now = time.monotonic()
        last = self._last
        if last is not None and now - last.checked_at < self.interval:
            return last
        try:
            if now - self._refreshed >= self.registry_seconds:
                self._refreshed = now
                self.store.refresh_registry()
            last = check_online_store(self.store, self.services, self.repo)
        except Exception as exc:  # a probe reports, never raises
            log.warning("online store check failed: %s: %s", exc.__class__.__name__, exc)
            last = OnlineStoreState((), f"{exc.__class__.__name__}: {exc}", now)
        self._last = last
        return last

    def require(self, service: str) -> None:
        """Raise :class:`OnlineStoreEmptyError` when a view of ``service`` is empty."""
        empty = self.current().empty_views(service)
        if empty:
            raise OnlineStoreEmptyError(service, empty)
