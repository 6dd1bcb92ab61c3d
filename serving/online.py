"""Online encoded vectors: raw features from the online store, then the same encoders.

:class:`OnlineEncoder` reads the raw features of an encoded service (its raw feature service,
found in the registry) from the online store, applies each feature view's ``ttl`` *at the
request time* exactly as the offline point-in-time join does, and encodes the rows with the
published encoder set.

Two readers give the raw features, with identical answers (``tests/online/test_redis_reader.py``
proves it on a real Redis):

* ``reader="redis"`` (default): :class:`serving.redis_reader.RedisReader` reads Feast's Redis
  layout directly — one pipelined round trip for every view and unique entity of the request;
* ``reader="feast"``: Feast ``get_online_features`` — the reference.

As-of rules, identical to the offline join (``spark_jobs/training_set.py``):

* a view's row is **present** when ``T - ttl <= event_timestamp <= T`` (both ends inclusive,
  compared in whole microseconds);
* older than that: **expired** — every feature of that view is treated as missing;
* ``event_timestamp > T`` (a row from the future of the request, e.g. when replaying a past
  request against a newer store): **future** — missing too, as the offline join would not see
  it;
* not in the store: **missing**; **null** when the store reports the row's values as null
  (Feast's ``NULL_VALUE`` status; Feast 0.67's Redis store reports a stored row whose values
  are null as present, with ``None`` values, and so does the direct reader).

Feast alone checks none of this online (it reports every stored value as present, and an
unknown key as present with event time 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

from encoders import EncoderSet, StateError
from encoders.values import as_epoch_micros
from feast_bridge.services import as_of_status, get_service
from serving.redis_reader import (
    NOT_FOUND,
    NULL_VALUE,
    SCALAR_FIELDS,
    RedisReader,
    ViewRows,
    ViewSpec,
    value_decoder,
)

if TYPE_CHECKING:  # pragma: no cover
    from feast import FeatureStore

__all__ = ["EXPIRED", "FUTURE", "MISSING", "NULL", "PRESENT", "EncodedRow", "OnlineEncoder",
           "SERVED_STATUSES", "ServedView", "StateMismatchError", "ViewSpec",
           "check_state_matches", "utc_now"]

PRESENT, NULL, MISSING, EXPIRED, FUTURE = "present", "null", "missing", "expired", "future"
#: The statuses whose values the encoders see (any other blanks the view's features): the one
#: definition, used online, by the served-facts training set and by the replay.
SERVED_STATUSES = (PRESENT, NULL)
READERS = ("redis", "feast")


class StateMismatchError(StateError):
    """The loaded encoder state is not the one published in the Feast registry."""


_BLANK = ("blank",)  # the token of a view's values when the row is not served (all None)


class _Resolved(NamedTuple):
    """One view's rows at the request time: ``index[i]`` is request row ``i``'s unique
    entity; per unique entity its status, its feature values, and (direct reader) a token
    equal for equal values (:class:`serving.redis_reader.ViewRows`), else ``None``; ``raw``:
    the store's answer they were resolved from."""

    index: Sequence[int]
    statuses: list[str]
    dicts: list[dict[str, Any]]
    tokens: list | None
    raw: ViewRows


class ServedView(NamedTuple):
    """What one feature view answered for one request, as the served-facts log records it:
    ``index[i]`` is request row ``i``'s unique entity; per unique entity its status at the
    request time (:data:`PRESENT`, :data:`NULL`, :data:`MISSING`, :data:`EXPIRED`,
    :data:`FUTURE`), its event time in microseconds (0: none in the store) and its feature
    values as read, in the view's feature order (``None`` each when not in the store; an
    expired or future row keeps the values read, which the encoders did not see)."""

    index: Sequence[int]
    statuses: Sequence[str]
    stamps_us: Sequence[int]
    values: Sequence[tuple]


@dataclass(frozen=True)
class EncodedRow:
    """One encoded vector and the status of each feature view for that row."""

    values: tuple
    statuses: Mapping[str, str]


def utc_now() -> datetime:
    """The wall clock, in the serving layer only (encoders never read it)."""
    return datetime.now(timezone.utc)


def status_of(code: int, e_us: int, t_us: int, ttl_us: int | None) -> str:
    """A view row's status at request time ``t_us`` from the reader's Feast field status
    ``code`` and event time ``e_us`` (microseconds; 0 = none)."""
    if code == NOT_FOUND or e_us == 0:
        # Feast 0.67 reports a key that is not in the store as PRESENT with a zero
        # timestamp and an empty value; no real feature row is stamped 1970-01-01 00:00.
        return MISSING
    when = as_of_status(e_us, t_us, ttl_us)  # "future" / "expired" / "present"
    if when != PRESENT:
        return when
    return NULL if code == NULL_VALUE else PRESENT


class OnlineEncoder:
    """Encoded vectors of one encoded service from the online store (see module docstring).

    ``service``: the service's name (the only one of the repo when ``None``); its views, join
    keys, ttl and request inputs come from the registry. ``enc``: the state to encode with,
    default the service's published state. ``reader``: ``"redis"`` (direct pipelined reads,
    the default) or ``"feast"`` (Feast ``get_online_features``); ``cache_size``: the direct
    reader's decoded-value and decoded-reply caches and the encoded-outputs cache of
    :class:`_EncodePlan` (entries each, 0 = off; see :mod:`serving.redis_reader`).
    """

    def __init__(self, store: FeatureStore, enc: EncoderSet | None = None,
                 service: str | None = None, reader: str = "redis",
                 cache_size: int = 50_000) -> None:
        if reader not in READERS:
            raise ValueError(f"reader={reader!r} is not one of {READERS}; use 'redis' (direct "
                             "pipelined reads) or 'feast' (get_online_features, the reference)")
        info = get_service(store, service)
        if enc is None:
            enc = info.load_state()
        self.store = store
        self.enc = enc
        self.info = info
        self.service = info.name
        self.feature_service = info.raw_service
        self.reader = reader
        self.views = tuple(ViewSpec(
            name=v.name, join_keys=v.join_keys, ttl_us=v.ttl_us, features=v.features,
            value_fields=tuple(SCALAR_FIELDS.get(t) for t in v.feature_types))
            for v in info.views)
        self._decoders = {v.name: [value_decoder(f) for f in v.value_fields] for v in self.views}
        self.refs = [f"{v.name}:{f}" for v in self.views for f in v.features]
        self.entity_keys = info.entity_keys
        self.request_inputs = info.request_names
        missing = sorted(set(enc.inputs) - {f for v in self.views for f in v.features}
                         - set(self.request_inputs))
        if missing:
            raise StateError(f"the encoder set reads {missing}, which service {info.name!r} "
                             "neither serves from a view nor declares as request inputs; "
                             "load the state fitted for this service")
        self._redis = RedisReader(store, self.views, cache_size) if reader == "redis" else None
        self._blank = {v.name: dict.fromkeys(v.features) for v in self.views}
        self._plan = _EncodePlan(enc, self.views, self.entity_keys, cache_size)

    # --- reading --------------------------------------------------------------------------------
    def read(self, entity_rows: Sequence[Mapping[str, Any]]) -> list[ViewRows]:
        """Every view's raw answer for ``entity_rows`` (see :class:`ViewRows`), from the
        configured reader; raises ``ValueError`` naming the row when a join key is absent."""
        keys = self.entity_keys
        for i, row in enumerate(entity_rows):
            for k in keys:
                if row.get(k) is None:
                    absent = [k for k in keys if row.get(k) is None]
                    raise ValueError(f"entity row {i} lacks {absent}; every row needs "
                                     f"{list(keys)}")
        if not entity_rows:
            return [ViewRows((), (), (), ()) for _ in self.views]
        if self._redis is not None:
            return self._redis.read(entity_rows)
        return self._read_feast(entity_rows)

    def _read_feast(self, entity_rows: Sequence[Mapping[str, Any]]) -> list[ViewRows]:
        rows = [{k: r[k] for k in self.entity_keys} for r in entity_rows]
        proto = self.store.get_online_features(features=self.refs, entity_rows=rows).proto
        index = {name: j for j, name in enumerate(proto.metadata.feature_names.val)}
        n = len(rows)
        out = []
        for view in self.views:
            cols = [proto.results[index[f]].values for f in view.features]
            first = proto.results[index[view.features[0]]]
            decoders = self._decoders[view.name]
            stamps = [ts.seconds * 1_000_000 + ts.nanos // 1000
                      for ts in first.event_timestamps]
            values = [tuple(decode(col[i]) for col, decode in zip(cols, decoders))
                      for i in range(n)]
            out.append(ViewRows(index=range(n), codes=list(first.statuses),
                                stamps_us=stamps, values=values))
        return out

    def _resolve(self, entity_rows: Sequence[Mapping[str, Any]], t_us: int) -> list[_Resolved]:
        """Per view: row -> unique entity index, and per unique entity its status, its
        feature values (``None`` for every feature unless present or null) and the token of
        those values (:class:`_Resolved`)."""
        out = []
        for view, got in zip(self.views, self.read(entity_rows)):
            blank, features, ttl = self._blank[view.name], view.features, view.ttl_us
            statuses, dicts = [], []
            tokens: list | None = [] if got.tokens is not None else None
            for j, (code, e_us, vals) in enumerate(zip(got.codes, got.stamps_us, got.values)):
                status = status_of(code, e_us, t_us, ttl)
                statuses.append(status)
                if status in SERVED_STATUSES:
                    dicts.append(dict(zip(features, vals)))
                    if tokens is not None:
                        tokens.append(got.tokens[j])
                else:
                    dicts.append(blank)
                    if tokens is not None:
                        tokens.append(_BLANK)
            out.append(_Resolved(got.index, statuses, dicts, tokens, got))
        return out

    def lookup(self, entity_rows: Sequence[Mapping[str, Any]], request_time: datetime
               ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        """Raw feature values per row (expired/future views blanked) and per-view statuses."""
        t_us = self._request_us(request_time)
        if not entity_rows:
            return [], []
        values: list[dict[str, Any]] = [{} for _ in entity_rows]
        statuses: list[dict[str, str]] = [{} for _ in entity_rows]
        for view, (index, st, dicts, _, _) in zip(self.views,
                                                  self._resolve(entity_rows, t_us)):
            name = view.name
            for i, j in enumerate(index):
                statuses[i][name] = st[j]
                values[i].update(dicts[j])
        return values, statuses

    @staticmethod
    def _request_us(request_time: Any) -> int:
        t_us = as_epoch_micros(request_time)  # exact: the ttl check and the encoders agree
        if t_us is None:
            raise ValueError(f"request_time {request_time!r} is not a point in time; pass an "
                             "ISO-8601 timestamp or an aware datetime")
        return t_us

    # --- encoding -------------------------------------------------------------------------------
    def encode(self, entity_rows: Sequence[Mapping[str, Any]],
               request_time: datetime | None = None,
               context: Mapping[str, Any] | None = None) -> list[EncodedRow]:
        """Encoded vectors for ``entity_rows`` at ``request_time`` (default: now).

        ``context`` holds request inputs (e.g. ``channel``) added to every row; a key present in
        an entity row overrides it for that row, and a feature served by a view overrides both.
        Each row's vector is the encoder set applied to that merged row (see
        :class:`_EncodePlan` for how work shared by rows is done once).
        """
        return self.encode_served(entity_rows, request_time, context)[0]

    def encode_served(self, entity_rows: Sequence[Mapping[str, Any]],
                      request_time: datetime | None = None,
                      context: Mapping[str, Any] | None = None
                      ) -> tuple[list[EncodedRow], list[ServedView]]:
        """:meth:`encode`, with what each view answered (:class:`ServedView`, in
        :attr:`views` order; none for no rows) — the raw inputs the served-facts log keeps."""
        when = request_time or utc_now()
        t_us = self._request_us(when)
        if not entity_rows:
            return [], []
        resolved = self._resolve(entity_rows, t_us)
        encoded = self._plan.encode(entity_rows, resolved, t_us, dict(context or {}))
        return encoded, [ServedView(r.index, r.statuses, r.raw.stamps_us, r.raw.values)
                         for r in resolved]


class _EncodePlan:
    """The encoder set applied row by row, with the work that rows share done once.

    Each encoder is compiled from its spec and state (``spec.compile``, the one definition)
    and belongs to one group, by the row keys it reads (``spec.inputs``):

    * **view** ``v``: every input is a feature whose value comes from view ``v`` (the last view
      serving it, as in the merged row) — encoded once per unique entity of ``v`` in the
      request: rows sharing an entity of ``v`` share its encoded outputs;
    * **context**: no input is a view feature (request inputs such as ``channel``, or none:
      request-time encoders) — encoded once per request when no row carries keys of its own,
      else per row;
    * **row**: inputs from several views (crosses) — encoded per row.

    An encoder reads only its inputs and the request time, so each output equals
    ``EncoderSet.encode_values`` on the merged row (``tests/online/test_redis_reader.py``
    checks it against the encoder set on many rows).

    Across requests, a view group none of whose encoders reads the request time
    (``spec.uses_request_time``) keeps its outputs per token of the entity's values (the raw
    reply they were decoded from; :class:`serving.redis_reader.ViewRows`) in a bounded dict
    (``cache_size`` entries per group, cleared when full; 0 = off): the same bytes give the
    same values, and an encoder that does not read the time gives the same outputs for the
    same values. An encoder kind that reads ``now`` must say so with
    ``uses_request_time = True`` (the offline path and the skew classifier rely on it too).
    """

    VIEW, CONTEXT, ROW = 0, 1, 2

    def __init__(self, enc: EncoderSet, views: Sequence[ViewSpec], entity_keys: Sequence[str],
                 cache_size: int = 50_000) -> None:
        owner = {f: vi for vi, v in enumerate(views) for f in v.features}
        self.views = tuple(views)
        self.entity_keys = frozenset(entity_keys)
        self.n_keys = len(self.entity_keys)
        # per segment: group, view index, compiled fns, whether any of them reads the request
        # time, and each input read with the view serving it (-1: a request input)
        segments: list[tuple[int, int, list, bool, dict]] = []
        for e in enc.encoders:
            owners = {owner.get(k) for k in e.spec.inputs}
            if not owners or owners == {None}:
                group, vi = self.CONTEXT, -1
            elif len(owners) == 1:
                group, vi = self.VIEW, owners.pop()
            else:
                group, vi = self.ROW, -1
            if not segments or segments[-1][:2] != (group, vi):
                segments.append((group, vi, [], False, {}))
            g, v, fns, timed, inputs = segments[-1]
            fns.append(e.spec.compile(e.state))
            inputs.update({k: owner.get(k, -1) for k in e.spec.inputs})
            segments[-1] = (g, v, fns, timed or e.spec.uses_request_time, inputs)
        self.segments = tuple((g, vi, tuple(fns)) for g, vi, fns, _, _ in segments)
        self._inputs = tuple(tuple(inputs.items()) for *_, inputs in segments)
        self.names = tuple(v.name for v in views)
        self.cache_size = cache_size
        #: per segment: outputs by values token (a view group without the request time), or None
        self._memo: tuple[dict | None, ...] = tuple(
            {} if g == self.VIEW and not timed and cache_size else None
            for g, _, _, timed, _ in segments)
        self.width = enc.width

    def encode(self, rows: Sequence[Mapping[str, Any]], resolved: list[_Resolved],
               now: int | None, ctx: dict[str, Any]) -> list[EncodedRow]:
        """Every row's :class:`EncodedRow` (rows with equal statuses share one statuses dict:
        do not mutate it)."""
        VIEW, CONTEXT = self.VIEW, self.CONTEXT
        own_keys = any(len(r) > self.n_keys for r in rows)
        shared: list[list | None] = []  # per segment: outputs per unique entity, or once
        for (group, vi, fns), memo in zip(self.segments, self._memo):
            if group == VIEW:
                got = resolved[vi]
                if memo is None or got.tokens is None:
                    shared.append([_run(fns, d, now) for d in got.dicts])
                else:
                    shared.append(self._outputs(memo, fns, got, now))
            elif group == CONTEXT and not own_keys:
                shared.append(_run(fns, ctx, now))
            else:
                shared.append(None)
        plan = [(group, vi, fns, part, inputs) for (group, vi, fns), part, inputs
                in zip(self.segments, shared, self._inputs)]
        names = self.names
        indexes = [r.index for r in resolved]
        view_statuses = [r.statuses for r in resolved]
        view_dicts = [r.dicts for r in resolved]
        by_statuses: dict[tuple, dict[str, str]] = {}  # rows with equal statuses share one dict
        out = []
        for i, row in enumerate(rows):
            js = [index[i] for index in indexes]
            key = tuple(st[j] for st, j in zip(view_statuses, js))
            statuses = by_statuses.get(key)
            if statuses is None:
                statuses = by_statuses[key] = dict(zip(names, key))
            values: list = []
            for group, vi, fns, part, inputs in plan:
                if part is not None:
                    values += part[js[vi]] if group == VIEW else part
                    continue
                # the row this segment reads: a view's value wins, then the row's own
                # request input, then the request's (as in the merged row)
                merged = {}
                for k, owner in inputs:
                    if owner >= 0:
                        merged[k] = view_dicts[owner][js[owner]][k]
                    elif own_keys and k in row:
                        merged[k] = row[k]
                    elif k in ctx:
                        merged[k] = ctx[k]
                values += _run(fns, merged, now)
            out.append(EncodedRow(tuple(values), statuses))
        return out


    def _outputs(self, memo: dict, fns: Sequence[Any], got: _Resolved, now: int | None
                 ) -> list[list]:
        """A request-time-free view group's outputs per unique entity of ``got``, from
        ``memo`` (values token -> outputs) where known (class docstring)."""
        out = []
        for token, d in zip(got.tokens, got.dicts):
            hit = memo.get(token)
            if hit is None:
                hit = _run(fns, d, now)
                if len(memo) >= self.cache_size:
                    memo.clear()
                memo[token] = hit
            out.append(hit)
        return out


def _run(fns: Sequence[Any], row: Mapping[str, Any], now: int | None) -> list:
    out: list = []
    for fn in fns:
        out += fn(row, now)
    return out


def check_state_matches(store: FeatureStore, enc: EncoderSet, service: str | None = None) -> str:
    """Return the hash, or raise :class:`StateMismatchError` naming the fix."""
    info = get_service(store, service)
    published = info.require_fitted()
    if published != enc.content_hash:
        raise StateMismatchError(
            f"the encoder state loaded here ({enc.content_hash}) is not the one published in "
            f"the Feast registry for service {info.name!r} ({published}); load the published "
            f"state ({info.state_path} after `feast apply`) or re-publish with `skewless fit "
            f"--service {info.name}`, and retrain the model on a training set with that hash"
        )
    return published
