"""Online encoded vectors: Feast ``get_online_features`` for raw values, then the same encoders.

:class:`OnlineEncoder` reads the raw features of a feature service (default ``ranker_raw``)
from the online store, applies each feature view's ``ttl`` *at the request time* exactly as the
offline point-in-time join does, and encodes the rows with the published encoder set.

As-of rules, identical to the offline join (``offline/training_set.py``):

* a view's row is **present** when ``T - ttl <= event_timestamp <= T`` (both ends inclusive,
  compared in whole microseconds);
* older than that: **expired** — every feature of that view is treated as missing;
* ``event_timestamp > T`` (a row from the future of the request, e.g. when replaying a past
  request against a newer store): **future** — missing too, as the offline join would not see
  it;
* not in the store: **missing**; stored as null: **null** (missing to the encoders).

Feast alone checks none of this online (it reports every stored value as present).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from encoders import EncoderSet, StateError
from encoders.feast_adapter import registry_state_hash
from encoders.values import as_epoch_seconds

if TYPE_CHECKING:  # pragma: no cover
    from feast import FeatureStore

PRESENT, NULL, MISSING, EXPIRED, FUTURE = "present", "null", "missing", "expired", "future"
_FEAST_PRESENT, _FEAST_NULL, _FEAST_NOT_FOUND = 1, 2, 3


class StateMismatchError(StateError):
    """The loaded encoder state is not the one published in the Feast registry."""


@dataclass(frozen=True)
class ViewSpec:
    """A feature view as the online path needs it: name, join keys, ttl, feature names and
    the proto field each feature's value is stored in."""

    name: str
    join_keys: tuple[str, ...]
    ttl_us: int | None
    features: tuple[str, ...]
    value_fields: tuple[str | None, ...]


#: Feast value types whose proto field maps 1:1 to a Python scalar (read directly, which is
#: what ``feast_value_type_to_python_type`` does for them, ~10x cheaper per value).
_SCALAR_FIELDS = {"DOUBLE": "double_val", "FLOAT": "float_val", "INT64": "int64_val",
                  "INT32": "int32_val", "STRING": "string_val", "BOOL": "bool_val"}


def _decoder(field: str | None):
    """Proto value -> Python value, as Feast's own conversion gives it."""
    from feast.type_map import feast_value_type_to_python_type as to_python

    if field is None:
        return to_python

    def decode(v: Any) -> Any:
        kind = v.WhichOneof("val")
        if kind is None:
            return None
        return getattr(v, field) if kind == field else to_python(v)

    return decode


@dataclass(frozen=True)
class EncodedRow:
    """One encoded vector and the status of each feature view for that row."""

    values: tuple
    statuses: Mapping[str, str]


def utc_now() -> datetime:
    """The wall clock, in the serving layer only (encoders never read it)."""
    return datetime.now(timezone.utc)


def _epoch_us(value: Any) -> int | None:
    seconds = as_epoch_seconds(value)
    return None if seconds is None else round(seconds * 1_000_000)


class OnlineEncoder:
    """Encoded vectors from the online store (see module docstring)."""

    def __init__(self, store: FeatureStore, enc: EncoderSet,
                 feature_service: str = "ranker_raw") -> None:
        self.store = store
        self.enc = enc
        self.feature_service = feature_service
        service = store.get_feature_service(feature_service)
        views: list[ViewSpec] = []
        for proj in service.feature_view_projections:
            fv = store.get_feature_view(proj.name)
            ttl = fv.ttl.total_seconds() if fv.ttl else 0
            views.append(ViewSpec(
                name=proj.name,
                join_keys=tuple(e.name for e in fv.entity_columns),
                ttl_us=round(ttl * 1_000_000) if ttl > 0 else None,
                features=tuple(f.name for f in proj.features),
                value_fields=tuple(_SCALAR_FIELDS.get(f.dtype.to_value_type().name)
                                   for f in proj.features),
            ))
        self.views = tuple(views)
        self._decoders = {v.name: [_decoder(f) for f in v.value_fields] for v in self.views}
        self.refs = [f"{v.name}:{f}" for v in self.views for f in v.features]
        self.entity_keys = tuple(dict.fromkeys(k for v in self.views for k in v.join_keys))
        missing = sorted(set(enc.inputs) - {f for v in self.views for f in v.features}
                         - {"device"})
        if missing:
            raise StateError(f"the encoder set reads {missing}, which feature service "
                             f"{feature_service!r} does not serve; publish a matching state")

    def lookup(self, entity_rows: Sequence[Mapping[str, Any]], request_time: datetime
               ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        """Raw feature values per row (expired/future views blanked) and per-view statuses."""
        if not entity_rows:
            return [], []
        for i, row in enumerate(entity_rows):
            absent = [k for k in self.entity_keys if row.get(k) is None]
            if absent:
                raise ValueError(f"entity row {i} lacks {absent}; every row needs "
                                 f"{list(self.entity_keys)}")
        rows = [{k: r[k] for k in self.entity_keys} for r in entity_rows]
        response = self.store.get_online_features(features=self.refs, entity_rows=rows)
        t_us = _epoch_us(request_time)
        if t_us is None:
            raise ValueError(f"request_time {request_time!r} is not a point in time; pass an "
                             "ISO-8601 timestamp or an aware datetime")
        proto = response.proto
        index = {name: j for j, name in enumerate(proto.metadata.feature_names.val)}
        values: list[dict[str, Any]] = [{} for _ in rows]
        statuses: list[dict[str, str]] = [{} for _ in rows]
        for view in self.views:
            cols = [proto.results[index[f]].values for f in view.features]
            first = proto.results[index[view.features[0]]]
            named = list(zip(view.features, cols, self._decoders[view.name]))
            for i in range(len(rows)):
                status = self._status(first, i, t_us, view.ttl_us)
                statuses[i][view.name] = status
                out = values[i]
                if status in (PRESENT, NULL):
                    for name, col, decode in named:
                        out[name] = decode(col[i])
                else:
                    for name in view.features:
                        out[name] = None
        return values, statuses

    @staticmethod
    def _status(col: Any, i: int, t_us: int, ttl_us: int | None) -> str:
        code = col.statuses[i]
        ts = col.event_timestamps[i]
        e_us = ts.seconds * 1_000_000 + ts.nanos // 1000
        if code == _FEAST_NOT_FOUND or e_us == 0:
            # Feast 0.67 reports a key that is not in the store as PRESENT with a zero
            # timestamp and an empty value; no real feature row is stamped 1970-01-01 00:00.
            return MISSING
        if e_us > t_us:
            return FUTURE
        if ttl_us is not None and t_us - e_us > ttl_us:
            return EXPIRED
        return NULL if code == _FEAST_NULL else PRESENT

    def encode(self, entity_rows: Sequence[Mapping[str, Any]],
               request_time: datetime | None = None,
               context: Mapping[str, Any] | None = None) -> list[EncodedRow]:
        """Encoded vectors for ``entity_rows`` at ``request_time`` (default: now).

        ``context`` holds request inputs (e.g. ``device``) added to every row; a key present in
        an entity row overrides it for that row.
        """
        when = request_time or utc_now()
        raw, statuses = self.lookup(entity_rows, when)
        ctx = dict(context or {})
        encode = self.enc.encode_values
        out = []
        for row, values, st in zip(entity_rows, raw, statuses):
            merged = {**ctx, **{k: v for k, v in row.items() if k not in self.entity_keys},
                      **values}
            out.append(EncodedRow(tuple(encode(merged, when)), st))
        return out


def check_state_matches(store: FeatureStore, enc: EncoderSet) -> str:
    """Return the hash, or raise :class:`StateMismatchError` naming the fix."""
    published = registry_state_hash(store)
    if published != enc.content_hash:
        raise StateMismatchError(
            f"the encoder state loaded here ({enc.content_hash}) is not the one published in "
            f"the Feast registry ({published}); load the published state "
            "(feature_repo/encoder_state.json after `feast apply`) or re-publish with "
            "scripts/fit_publish.py, and retrain the model on a training set with that hash"
        )
    return published


def vector_floats(row: EncodedRow) -> list[float]:
    """The model input as floats (int outputs become floats)."""
    return [float(v) for v in row.values]


def finite(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in values)
