"""How far each feature view is materialized in this Redis: the watermark skewless' engine
writes after a run's rows, and the read behind the server's readiness check.

A watermark is one hash per project and view (key :func:`online_store.layout.watermark_key`):

* ``end`` — ISO-8601 UTC instant: the latest end time of a materialization run whose rows are
  all in this Redis. It never moves back: a run over an older interval after a newer one keeps
  the later end (the rows' overwrite rule keeps the newer rows too);
* ``rows`` — entity rows the run that set ``end`` offered (written, or already newer in Redis);
* ``probe:0`` .. ``probe:<PROBES-1>`` — the smallest Redis keys (bytes order) the latest run
  with rows offered, ``b""`` when there were fewer. Each held the view's event field when the
  watermark was written, so a probe key without it means the rows were deleted while the
  watermark stayed (``feast teardown``, a ``DEL`` by pattern, eviction). Smallest, not
  random: two runs over the same rows write the same bytes.

Edge cases: the watermark is written after the rows, so a run that fails midway leaves the
previous watermark (re-running is safe under the rows' rule); ``FLUSHDB``/``FLUSHALL`` or a
Redis that lost its data set loses the watermark with the rows (the point); a Redis restored
from an older snapshot holds that snapshot's watermark (behind the registry's interval). A
watermark whose fields cannot be parsed is reported as unreadable by :func:`read_watermarks`
and replaced by the next :func:`advance`. With the online store's ``key_ttl_seconds`` the
watermark expires with the rows it describes. Feast's own engines (``batch_engine: local``)
write no watermark: :func:`writes_watermarks` tells whether a repo's configured engine does, so
a store filled by another engine is reported as unchecked rather than empty.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from online_store.layout import event_field, watermark_key

__all__ = ["ENGINE_TYPE", "PROBES", "StoredWatermark", "Watermark", "advance", "batch_engine_type",
           "delete_watermarks", "read_watermarks", "smallest_keys", "writes_watermarks"]

#: ``batch_engine.type`` of skewless' engine, the only writer of watermarks.
ENGINE_TYPE = "materialization.redis_engine.RedisMaterializationEngine"

#: How many probe keys a watermark keeps.
PROBES = 3
_END, _ROWS = b"end", b"rows"


def batch_engine_type(config: Any) -> str:
    """The engine a Feast ``RepoConfig`` selects: ``batch_engine`` is a mapping with a
    ``type``, a type string, or unset (Feast's ``local``)."""
    engine = getattr(config, "batch_engine_config", None)
    kind = engine.get("type", "local") if isinstance(engine, Mapping) else engine
    return str(kind or "local")


def writes_watermarks(config: Any) -> bool:
    """Whether the selected engine (:func:`batch_engine_type`) is skewless' own, which writes
    watermarks. Another engine (``local``, ``spark.engine``, a custom one) fills Redis with no
    watermark, so the absence of one says nothing about that store."""
    return batch_engine_type(config) == ENGINE_TYPE


def _probe_field(i: int) -> bytes:
    return f"probe:{i}".encode()


def smallest_keys(keys: Iterable[bytes], n: int = PROBES) -> tuple[bytes, ...]:
    """The ``n`` smallest distinct keys in bytes order (the probes of a run; deterministic
    whatever the order or partitioning the rows came in)."""
    return tuple(heapq.nsmallest(n, set(keys)))


@dataclass(frozen=True)
class Watermark:
    """``end``: aware UTC instant; ``rows``: rows offered by the run that set it; ``probes``:
    up to :data:`PROBES` keys of the view's rows."""

    end: datetime
    rows: int
    probes: tuple[bytes, ...] = ()

    def fields(self) -> dict[bytes, bytes]:
        """The hash fields (every probe field, empty ones too, so one ``HSET`` replaces a
        previous watermark whole)."""
        out = {_END: self.end.astimezone(timezone.utc).isoformat().encode(),
               _ROWS: str(self.rows).encode()}
        for i in range(PROBES):
            out[_probe_field(i)] = self.probes[i] if i < len(self.probes) else b""
        return out

    @classmethod
    def parse(cls, raw: Mapping[bytes, bytes]) -> Watermark | None:
        """The watermark of a ``HGETALL`` answer; ``None`` for ``{}`` (no watermark).
        Raises ``ValueError`` naming the field when one is missing or malformed."""
        if not raw:
            return None
        try:
            end = datetime.fromisoformat(raw[_END].decode())
            rows = int(raw[_ROWS])
        except (KeyError, ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"watermark fields {sorted(raw)} are not end/rows/probe:N "
                             f"({exc.__class__.__name__}: {exc})") from None
        if end.tzinfo is None:
            raise ValueError(f"watermark end {end.isoformat()} has no UTC offset")
        probes = tuple(raw[f] for i in range(PROBES) if raw.get(f := _probe_field(i)))
        return cls(end.astimezone(timezone.utc), rows, probes)


def advance(client: Any, project: str, view: str, end: datetime, rows: int,
            probes: Sequence[bytes], ttl_seconds: int | None = None) -> Watermark:
    """Record that a run over ``view`` (Redis view name) up to ``end`` has written its rows.

    ``end`` becomes the watermark's end unless the stored one is later (then the stored end,
    rows and probes stay); ``probes`` (from :func:`smallest_keys`) replace the stored ones
    unless the run had no rows. One ``HGETALL`` then one ``HSET`` (plus ``EXPIRE`` with
    ``ttl_seconds``): run one materialization per view at a time, as for the rows. Returns
    the watermark now stored. ``end`` must be aware (``ValueError`` otherwise)."""
    if end.tzinfo is None or end.utcoffset() is None:
        raise ValueError(f"watermark end {end.isoformat()} is naive; pass an aware datetime")
    key = watermark_key(project, view)
    try:
        old = Watermark.parse(client.hgetall(key))
    except ValueError:
        old = None  # unreadable: replaced
    end = end.astimezone(timezone.utc)
    if old is not None and old.end > end:
        new = old
    else:
        new = Watermark(end, rows, tuple(probes) or (old.probes if old else ()))
    client.hset(key, mapping=new.fields())
    if ttl_seconds:
        client.expire(key, ttl_seconds)
    return new


def delete_watermarks(client: Any, project: str, views: Iterable[str]) -> None:
    """Delete the watermarks of ``views`` (Redis view names), e.g. of views removed from the
    registry; missing ones are ignored."""
    for view in views:
        client.delete(watermark_key(project, view))


@dataclass(frozen=True)
class StoredWatermark:
    """What :func:`read_watermarks` found for one view: the watermark (``None``: none
    stored), the probe keys that no longer hold the view's rows, and ``error`` when the
    watermark could not be parsed (then ``watermark`` is ``None``)."""

    watermark: Watermark | None
    missing_probes: tuple[bytes, ...] = ()
    error: str | None = None


def read_watermarks(client: Any, project: str, views: Sequence[str]
                    ) -> dict[str, StoredWatermark]:
    """The watermark of each of ``views`` (Redis view names) and whether its probe keys still
    hold the view's event field: two pipelined round trips (every ``HGETALL``, then every
    ``HEXISTS``), whatever the number of views. Redis errors propagate."""
    views = list(dict.fromkeys(views))
    with client.pipeline(transaction=False) as pipe:
        for view in views:
            pipe.hgetall(watermark_key(project, view))
        raws = pipe.execute()
    found: dict[str, Watermark | None] = {}
    errors: dict[str, str] = {}
    for view, raw in zip(views, raws):
        try:
            found[view] = Watermark.parse(raw)
        except ValueError as exc:
            found[view], errors[view] = None, str(exc)
    checks = [(view, key) for view in views if found[view] is not None
              for key in found[view].probes]  # type: ignore[union-attr]
    present: list[bool] = []
    if checks:
        with client.pipeline(transaction=False) as pipe:
            for view, key in checks:
                pipe.hexists(key, event_field(view))
            present = pipe.execute()
    missing: dict[str, list[bytes]] = {view: [] for view in views}
    for (view, key), ok in zip(checks, present):
        if not ok:
            missing[view].append(key)
    return {view: StoredWatermark(found[view], tuple(missing[view]), errors.get(view))
            for view in views}
