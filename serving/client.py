"""Encoded vectors in process, with the shape of Feast's ``get_online_features``.

::

    from serving.client import EncodedFeatures

    features = EncodedFeatures("feature_repo")              # a repo folder or a FeatureStore
    got = features.get_online_features(
        features="recommender",                              # or the encoded FeatureService
        entity_rows=[{"user_id": 1, "item_id": 5, "channel": "web"}],
        request_time=datetime(2024, 2, 5, tzinfo=timezone.utc))   # default: now
    got.vectors[0], got.statuses[0], got.to_dict()

Entity rows are keyed by the service's own join keys (from the registry); its request inputs
(the fields of its RequestSource, e.g. ``channel``) ride in the rows and may be left out (then
missing, as the encoders define). One :class:`serving.online.OnlineEncoder` is built per
service on first use and cached; its state is the service's published one (or the one given
in ``states``, checked to be the published one).

Bad input raises ``ValueError`` naming the problem and the fix: a row that is not a mapping,
a key that is neither a join key nor a request input (the allowed ones are named), a missing
or ``None`` join key, a join key of the wrong type (an ``INT64`` key given a string or a
bool, a ``STRING`` key given a number), ``request_time`` inside a row (pass
``request_time=``), ``features`` that is not a service name or an encoded FeatureService; an
unknown or unfitted service raises :class:`ServiceLookupError` (a ``ValueError`` and a
``LookupError``) listing the known ones. An empty ``entity_rows`` gives an empty answer.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from encoders import EncoderSet
from encoders.columns import REQUEST_TIME
from feast_bridge.services import PY_TYPES, ServiceInfo, get_service, service_names
from feast_bridge.tags import SERVICE_TAG
from serving.online import OnlineEncoder, check_state_matches

__all__ = ["EncodedFeatures", "OnlineVectors", "ServiceLookupError", "check_entity_rows"]


class ServiceLookupError(ValueError, LookupError):
    """The service named is not in the registry, or is not fitted (the message says which)."""


@dataclass(frozen=True)
class OnlineVectors:
    """The answer of :meth:`EncodedFeatures.get_online_features`: one vector per entity row.

    ``names``: the vector's columns (fixed by the state); ``vectors[i]`` and ``statuses[i]``
    (feature view -> ``present`` / ``null`` / ``missing`` / ``expired`` / ``future``) belong
    to ``entity_rows[i]``."""

    service: str
    state_hash: str
    entity_keys: tuple[str, ...]
    names: tuple[str, ...]
    entity_rows: tuple[Mapping[str, Any], ...]
    vectors: tuple[tuple, ...]
    statuses: tuple[Mapping[str, str], ...]

    def __len__(self) -> int:
        return len(self.vectors)

    def to_dict(self, include_statuses: bool = False) -> dict[str, list[Any]]:
        """Column-wise like Feast's ``OnlineResponse.to_dict()``: each join key, then each
        vector column; with ``include_statuses`` also ``<view>__status`` per feature view."""
        out: dict[str, list[Any]] = {k: [r[k] for r in self.entity_rows]
                                     for k in self.entity_keys}
        for j, name in enumerate(self.names):
            out[name] = [v[j] for v in self.vectors]
        if include_statuses and self.statuses:
            for view in self.statuses[0]:
                out[f"{view}__status"] = [s[view] for s in self.statuses]
        return out


def _type_ok(value: Any, py_type: str | None) -> bool:
    if py_type == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if py_type == "str":
        return isinstance(value, str)
    return True  # other key types: Feast checks them


def check_entity_rows(info: ServiceInfo, entity_rows: Sequence[Mapping[str, Any]]
                      ) -> list[dict[str, Any]]:
    """``entity_rows`` as dicts, checked against ``info`` (module docstring); raises
    ``ValueError`` naming the row, the problem and the fix."""
    if isinstance(entity_rows, Mapping | str | bytes):
        raise ValueError("entity_rows must be a list of dicts (one per entity), not "
                         f"{type(entity_rows).__name__}")
    keys, inputs = info.entity_keys, info.request_names
    allowed = frozenset(keys) | frozenset(inputs)
    types = {k: PY_TYPES.get(info.entity_type(k)) for k in keys}
    out = []
    for i, row in enumerate(entity_rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"entity_rows[{i}] is a {type(row).__name__}; pass a dict keyed "
                             f"by the join keys {list(keys)} of service {info.name!r}")
        if REQUEST_TIME in row:
            raise ValueError(f"entity_rows[{i}] carries {REQUEST_TIME!r}; the request time is "
                             "one per call: pass request_time= to get_online_features")
        unknown = [k for k in row if k not in allowed]
        if unknown:
            raise ValueError(f"entity_rows[{i}] has unknown keys {unknown}; service "
                             f"{info.name!r} takes its join keys {list(keys)} and its request "
                             f"inputs {list(inputs)}")
        absent = [k for k in keys if row.get(k) is None]
        if absent:
            raise ValueError(f"entity_rows[{i}] lacks the join keys {absent}; every row of "
                             f"service {info.name!r} needs {list(keys)}")
        for k in keys:
            if not _type_ok(row[k], types[k]):
                raise ValueError(f"entity_rows[{i}][{k!r}] is {row[k]!r}; join key {k!r} of "
                                 f"service {info.name!r} is {info.entity_type(k)}: pass "
                                 f"{'an' if types[k] == 'int' else 'a'} {types[k]}")
        out.append(dict(row))
    return out


class EncodedFeatures:
    """Feast-shaped access to the encoded services of one repo (module docstring).

    ``store``: a ``FeatureStore``, a repo folder, or ``None`` (``SKEWLESS_FEATURE_REPO`` or
    the project's repo). ``states``: service -> :class:`EncoderSet` to encode with instead of
    the published state file (it must be the published state). ``reader`` and
    ``cache_size``: as for :class:`OnlineEncoder`. Safe to share between threads."""

    def __init__(self, store: Any = None, *, states: Mapping[str, EncoderSet] | None = None,
                 reader: str = "redis", cache_size: int = 50_000) -> None:
        if store is None or isinstance(store, str | Path):
            from feast_bridge.store import open_store

            store = open_store(Path(store) if store is not None else None)
        self.store = store
        self._states = dict(states or {})
        self._reader, self._cache_size = reader, cache_size
        self._encoders: dict[str, OnlineEncoder] = {}
        self._lock = threading.Lock()

    def service_names(self) -> tuple[str, ...]:
        """The encoded services the repo declares (fitted or not)."""
        return service_names(self.store)

    def service_name(self, features: Any) -> str:
        """The service ``features`` names: a name, or a FeatureService tagged by
        :func:`feast_bridge.declare.encoded_service` (the encoded or the raw one)."""
        if isinstance(features, str):
            return features
        tags = getattr(features, "tags", None)
        if isinstance(tags, Mapping) and tags.get(SERVICE_TAG):
            return tags[SERVICE_TAG]
        what = getattr(features, "name", None) or type(features).__name__
        raise ValueError(f"features={what!r} is not an encoded service: pass a service name "
                         f"({list(self.service_names())}) or the FeatureService that "
                         "encoded_service(...) declared")

    def encoder(self, service: str | None = None) -> OnlineEncoder:
        """The cached :class:`OnlineEncoder` of ``service`` (built on first use)."""
        key = service or ""
        with self._lock:
            if key not in self._encoders:
                try:
                    info = get_service(self.store, service)
                    info.require_fitted()
                except LookupError as exc:
                    raise ServiceLookupError(str(exc)) from None
                enc = self._states.get(info.name)
                if enc is not None:
                    check_state_matches(self.store, enc, info.name)
                self._encoders[key] = OnlineEncoder(self.store, enc, service=info.name,
                                                    reader=self._reader,
                                                    cache_size=self._cache_size)
            return self._encoders[key]

    def get_online_features(self, features: Any, entity_rows: Sequence[Mapping[str, Any]],
                            request_time: datetime | None = None) -> OnlineVectors:
        """Encoded vectors of ``entity_rows`` at ``request_time`` (default: now), with each
        feature view's status per row (module docstring for the checks)."""
        online = self.encoder(self.service_name(features))
        rows = check_entity_rows(online.info, entity_rows)
        encoded = online.encode(rows, request_time)
        return OnlineVectors(
            service=online.service, state_hash=online.enc.content_hash,
            entity_keys=online.entity_keys, names=tuple(online.enc.names),
            entity_rows=tuple(rows), vectors=tuple(r.values for r in encoded),
            statuses=tuple(r.statuses for r in encoded))
