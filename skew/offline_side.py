"""The offline side of the parity check: the training-set code path over the pairs.

One Spark job over all pairs: the training set's point-in-time join
(:func:`spark_jobs.training_set.joined_features`, as-known by default) and the encoders in
Spark (:func:`spark_jobs.spark_encode.encode_frame`), plus, for classification, the pairs'
entities' source rows (:class:`skew.sources.ViewPull`), from whose event and created times
:func:`row_version` picks each view's source row at the as-of time.

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
from skew.pairs import instant, micros, normalise_pairs, pairs_frame
from skew.sources import (
    AS_OF,
    ROW,
    ViewPull,
    ViewSource,
    keys_and_request_inputs,
    pulled_times,
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
    the original repo's when the online side runs on a private copy) and the views' source rows
    (:class:`skew.sources.ViewPull` on ``views_store``), collected in one job."""
    from spark_jobs.collect import collect_together

    plan = plan_pairs(views_store, enc, pairs, service)
    frames = offline_frames(spark, offline_store, enc, plan, as_known)
    pulls = ViewPull.of_views(spark, views_store, plan.views, plan.rows)
    tables = collect_together([frames.encoded, *[p.frame for p in pulls]])
    offline = offline_rows(enc, plan, frames, tables[0], pulls, tables[1:], as_known)
    return OfflineSide(plan.views, plan.entity_keys, plan.request_inputs, plan.rows, offline)


@dataclass(frozen=True)
class OfflineFrames:
    """The offline side's lazy Spark frame ``encoded`` (``_parity_row``, the encoded outputs,
    the views' raw inputs ``view_inputs``)."""

    encoded: Any
    view_inputs: tuple[str, ...]


def offline_frames(spark: Any, store: Any, enc: EncoderSet, plan: PairsPlan,
                   as_known: bool = True) -> OfflineFrames:
    """The training-set join + encoders over all pairs (see the module docstring), lazy."""
    from spark_jobs.spark_encode import encode_frame
    from spark_jobs.training_set import joined_features

    labels = pairs_frame(spark, plan.rows, [*plan.entity_keys, *plan.request_inputs])
    joined, _ = joined_features(store, labels, plan.feature_service, as_known)
    view_inputs = tuple(i for i in enc.inputs
                        if i in joined.columns and i not in plan.request_inputs)
    return OfflineFrames(encode_frame(joined, enc, [ROW, *view_inputs]), view_inputs)


def offline_rows(enc: EncoderSet, plan: PairsPlan, frames: OfflineFrames, encoded: pa.Table,
                 pulls: Sequence[ViewPull], pulled: Sequence[pa.Table], as_known: bool = True
                 ) -> list[OfflineRow]:
    """One :class:`OfflineRow` per pair, in order: ``encoded`` is ``frames.encoded``
    collected, ``pulled`` the ``pulls`` (one per view of ``plan``, same order) collected.
    Raises ``RuntimeError`` when the join lost a pair."""
    pairs, views, request_inputs = plan.rows, plan.views, plan.request_inputs
    names = enc.names
    history = [_times_by_entity(p, t) for p, t in zip(pulls, pulled)]
    out: list[OfflineRow | None] = [None] * len(pairs)
    for rec in encoded.to_pylist():
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


def _times_by_entity(pull: ViewPull, table: pa.Table
                     ) -> dict[tuple, list[tuple[int | None, int | None]]]:
    """Entity -> its rows' (event, created) in POSIX microseconds (created = event without a
    created column; a null time is ``None``)."""
    from online_store.layout import NULL_MICROS

    plan = pull.plan
    keys = [table.column(k).to_pylist() for k, _ in plan.join_keys]
    event_us, created_us = pulled_times(plan, table)
    events = event_us.tolist()
    created = events if created_us is None else created_us.tolist()
    out: dict[tuple, list[tuple[int | None, int | None]]] = {}
    for ent, ev, cr in zip(zip(*keys), events, created):
        out.setdefault(ent, []).append((None if ev == NULL_MICROS else ev,
                                        None if cr == NULL_MICROS else cr))
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
