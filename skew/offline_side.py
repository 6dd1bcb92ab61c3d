"""The offline side of the parity check: the training-set code path over the pairs.

One Spark job over all pairs: the training set's point-in-time join
(:func:`spark_jobs.training_set.joined_features`, as-known by default) and the encoders in
Spark (:func:`spark_jobs.spark_encode.encode_frame`), plus, for classification, the event and
created times of the pairs' entities' source rows (:func:`skew.sources.source_times`), from
which :func:`row_version` picks each view's source row at the as-of time.

Edge cases: a pair the join drops (a duplicated pair) raises ``RuntimeError``; bad pairs raise
``ValueError`` (:func:`skew.pairs.normalise_pairs`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from encoders import EncoderSet
from feast_bridge.services import as_of_status
from skew.classify import ABSENT, FOUND, TOO_OLD, RowVersion, Side
from skew.pairs import entities_frame, instant, micros, normalise_pairs, pairs_frame
from skew.sources import (
    AS_OF,
    ROW,
    ViewSource,
    keys_and_request_inputs,
    source_times,
    view_sources,
)

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa


@dataclass(frozen=True)
class OfflineRow:
    """The offline side of one pair."""

    side: Side
    versions: Mapping[str, RowVersion | None]



def _status(version: RowVersion | None, t_us: int, ttl_us: int | None) -> str:
    if version is None:
        return ABSENT
    # the source row is at or before T by construction: present or expired (same strings)
    return TOO_OLD if as_of_status(version.event_us, t_us, ttl_us) == TOO_OLD else FOUND


@dataclass(frozen=True)
class PairsPlan:
    """The pairs against a feature service: its views, their join keys, the request inputs and
    the normalised pairs."""

    feature_service: str
    views: tuple[ViewSource, ...]
    entity_keys: tuple[str, ...]
    request_inputs: tuple[str, ...]
    rows: list[dict[str, Any]]


def plan_pairs(views_store: Any, enc: EncoderSet, pairs: Any, service: str | None) -> PairsPlan:
    """Views of ``service`` (the only one when ``None``) from ``views_store`` and the pairs
    normalised against their keys and ``enc``'s request inputs (bad pairs raise
    ``ValueError`` naming the fix)."""
    from feast_bridge.services import get_service

    feature_service = get_service(views_store, service).raw_service
    views = view_sources(views_store, feature_service)
    entity_keys, request_inputs = keys_and_request_inputs(views, enc.inputs)
    rows = normalise_pairs(pairs, entity_keys, request_inputs)
    return PairsPlan(feature_service, tuple(views), tuple(entity_keys), tuple(request_inputs),
                     rows)


@dataclass(frozen=True)
class OfflineSide:
    """The pairs as the offline path sees them: the views, their join keys, the request
    inputs, the normalised pairs and one :class:`OfflineRow` per pair (same order)."""

    views: tuple[ViewSource, ...]
    entity_keys: tuple[str, ...]
    request_inputs: tuple[str, ...]
    rows: list[dict[str, Any]]
    offline: list[OfflineRow]


def offline_side(spark: Any, views_store: Any, offline_store: Any, enc: EncoderSet, pairs: Any,
                 service: str | None, as_known: bool) -> OfflineSide:
    """:func:`plan_pairs`, then :func:`offline_frames` on ``offline_store`` (the same store, or
    the original repo's when the online side runs on a private copy) collected in one job."""
    from spark_jobs.collect import collect_together

    plan = plan_pairs(views_store, enc, pairs, service)
    frames = offline_frames(spark, offline_store, enc, plan, as_known)
    offline = offline_rows(enc, plan, frames, collect_together(frames.all), as_known)
    return OfflineSide(plan.views, plan.entity_keys, plan.request_inputs, plan.rows, offline)


@dataclass(frozen=True)
class OfflineFrames:
    """The offline side's Spark frames, not yet collected: ``encoded`` (``_parity_row``, the
    encoded outputs, the views' raw inputs) and, per view, its source rows' times for the
    pairs' entities (:func:`skew.sources.source_times`)."""

    encoded: Any
    view_inputs: tuple[str, ...]
    times: tuple[Any, ...]

    @property
    def all(self) -> list[Any]:
        return [self.encoded, *self.times]


def offline_frames(spark: Any, store: Any, enc: EncoderSet, plan: PairsPlan,
                   as_known: bool = True) -> OfflineFrames:
    """The training-set join + encoders over all pairs, and each view's source times (see the
    module docstring), as lazy frames."""
    from spark_jobs.spark_encode import encode_frame
    from spark_jobs.training_set import joined_features

    labels = pairs_frame(spark, plan.rows, [*plan.entity_keys, *plan.request_inputs])
    joined, _ = joined_features(store, labels, plan.feature_service, as_known)
    view_inputs = tuple(i for i in enc.inputs
                        if i in joined.columns and i not in plan.request_inputs)
    encoded = encode_frame(joined, enc, [ROW, *view_inputs])
    times = tuple(source_times(spark, v, entities_frame(spark, plan.rows, v.join_keys))
                  for v in plan.views)
    return OfflineFrames(encoded, view_inputs, times)


def offline_rows(enc: EncoderSet, plan: PairsPlan, frames: OfflineFrames,
                 tables: Sequence[pa.Table], as_known: bool = True) -> list[OfflineRow]:
    """One :class:`OfflineRow` per pair, in order, from ``tables``: ``frames.all`` collected.
    Raises ``RuntimeError`` when the join lost a pair."""
    pairs, views, request_inputs = plan.rows, plan.views, plan.request_inputs
    names = enc.names
    history = [_times_by_entity(v, t) for v, t in zip(views, tables[1:])]
    out: list[OfflineRow | None] = [None] * len(pairs)
    for rec in tables[0].to_pylist():
        i = rec[ROW]
        t_us = micros(pairs[i][AS_OF])
        vers: dict[str, RowVersion | None] = {}
        statuses, detail = {}, {}
        for v, times in zip(views, history):
            found = times.get(tuple(pairs[i][k] for k in v.join_keys), ())
            vers[v.name] = row_version(found, t_us, as_known)
            statuses[v.name] = _status(vers[v.name], t_us, v.ttl_us)
            detail[v.name] = statuses[v.name] if vers[v.name] is None else \
                f"{statuses[v.name]} (row of {instant(vers[v.name].event_us).isoformat()})"
        raw = {k: rec[k] for k in frames.view_inputs}
        raw.update({k: pairs[i][k] for k in request_inputs})
        out[i] = OfflineRow(Side({n: rec[n] for n in names}, statuses, raw, detail), vers)
    lost = [i for i, r in enumerate(out) if r is None]
    if lost:
        raise RuntimeError(f"the offline join returned no row for pairs {lost[:5]}; the join "
                           "must keep every entity row (is a pair duplicated?)")
    return out  # type: ignore[return-value]


def _times_by_entity(view: ViewSource, table: pa.Table
                     ) -> dict[tuple, list[tuple[int, int | None]]]:
    keys = [table.column(k).to_pylist() for k in view.join_keys]
    out: dict[tuple, list[tuple[int, int | None]]] = {}
    for ent, ev, cr in zip(zip(*keys), table.column("ev").to_pylist(),
                           table.column("cr").to_pylist()):
        out.setdefault(ent, []).append((ev, cr))
    return out


def row_version(times: Sequence[tuple[int | None, int | None]], t_us: int,
                as_known: bool = True) -> RowVersion | None:
    """The source row the point-in-time rule picks at ``t_us`` among an entity's rows
    ``(event, created)`` (POSIX microseconds): the latest ``event <= t_us`` among rows known
    then (:func:`spark_jobs.as_known.latest_as_known_rows`: with ``as_known``, ``created <=
    t_us``, a null created time never known), ignoring the ttl; plus the latest created time
    and the number of distinct created times of that event time's versions (rows at or
    before ``t_us``, known or not). ``None`` when no row counts."""
    from spark_jobs.as_known import latest_as_known_rows

    rows = [{"ev": ev, "cr": cr} for ev, cr in times if ev is not None and ev <= t_us]
    picked = latest_as_known_rows(rows, (), "ev", "cr", t_us if as_known else None)
    if not picked:
        return None
    ev = picked[0]["ev"]
    created = {r["cr"] for r in rows if r["ev"] == ev and r["cr"] is not None}
    return RowVersion(ev, picked[0]["cr"], max(created, default=None), len(created))
