"""The offline side of the parity check: the training-set code path over the pairs.

One Spark job over all pairs: the training set's point-in-time join
(:func:`spark_jobs.training_set.joined_features`, as-known by default) and the encoders in
Spark (:func:`spark_jobs.spark_encode.encode_frame`), plus, for classification, each view's
source row at the as-of time (:func:`skew.sources.source_versions`).

Edge cases: a pair the join drops (a duplicated pair) raises ``RuntimeError``; bad pairs raise
``ValueError`` (:func:`skew.pairs.normalise_pairs`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from encoders import EncoderSet
from feast_bridge.services import as_of_status
from skew.classify import ABSENT, FOUND, TOO_OLD, RowVersion, Side
from skew.pairs import instant, micros, normalise_pairs, pairs_frame
from skew.sources import (
    AS_OF,
    ROW,
    ViewSource,
    keys_and_request_inputs,
    source_versions,
    view_sources,
)

_VERSION = "__skewless_version__"  # prefix of the source-version columns in the union


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
                 service: str | None, as_known: bool, plan: PairsPlan | None = None
                 ) -> OfflineSide:
    """:func:`plan_pairs` (or ``plan``, made already), then :func:`offline_rows` on
    ``offline_store`` (the same store, or the original repo's when the online side runs on a
    private copy)."""
    plan = plan or plan_pairs(views_store, enc, pairs, service)
    offline = offline_rows(spark, offline_store, enc, plan.rows, plan.views,
                           entity_keys=plan.entity_keys, request_inputs=plan.request_inputs,
                           feature_service=plan.feature_service, as_known=as_known)
    return OfflineSide(plan.views, plan.entity_keys, plan.request_inputs, plan.rows, offline)


def offline_rows(spark: Any, store: Any, enc: EncoderSet, pairs: Sequence[Mapping[str, Any]],
                 views: Sequence[ViewSource], *, entity_keys: Sequence[str],
                 request_inputs: Sequence[str], feature_service: str,
                 as_known: bool = True) -> list[OfflineRow]:
    """One Spark job: the training-set join + encoders over all pairs, and each view's
    source row (see module docstring) — the two frames as one union, so Spark runs their
    stages side by side. Returns one :class:`OfflineRow` per pair, in order."""
    from spark_jobs.spark_encode import encode_frame
    from spark_jobs.training_set import joined_features

    labels = pairs_frame(spark, pairs, [*entity_keys, *request_inputs])
    joined, _ = joined_features(store, labels, feature_service, as_known)
    view_inputs = [i for i in enc.inputs if i in joined.columns and i not in request_inputs]
    encoded = encode_frame(joined, enc, [ROW, *view_inputs])
    found = source_versions(spark, views, labels, as_known)
    found = found.select(ROW, *[found[c].alias(_VERSION + c) for c in found.columns if c != ROW])
    versions: dict[int, dict[str, RowVersion]] = {}
    encoded_rows = []
    for rec in encoded.unionByName(found, allowMissingColumns=True).toArrow().to_pylist():
        if rec[_VERSION + "view"] is None:
            encoded_rows.append(rec)
            continue
        versions.setdefault(rec[ROW], {})[rec[_VERSION + "view"]] = RowVersion(
            *(rec[_VERSION + c] for c in ("ev", "cr", "latest", "versions")))
    names = enc.names
    out: list[OfflineRow | None] = [None] * len(pairs)
    for rec in encoded_rows:
        i = rec[ROW]
        t_us = micros(pairs[i][AS_OF])
        found = versions.get(i, {})
        vers: dict[str, RowVersion | None] = {}
        statuses, detail = {}, {}
        for v in views:
            vers[v.name] = found.get(v.name)
            statuses[v.name] = _status(vers[v.name], t_us, v.ttl_us)
            detail[v.name] = statuses[v.name] if vers[v.name] is None else \
                f"{statuses[v.name]} (row of {instant(vers[v.name].event_us).isoformat()})"
        raw = {k: rec[k] for k in view_inputs}
        raw.update({k: pairs[i][k] for k in request_inputs})
        out[i] = OfflineRow(Side({n: rec[n] for n in names}, statuses, raw, detail), vers)
    lost = [i for i, r in enumerate(out) if r is None]
    if lost:
        raise RuntimeError(f"the offline join returned no row for pairs {lost[:5]}; the join "
                           "must keep every entity row (is a pair duplicated?)")
    return out  # type: ignore[return-value]
