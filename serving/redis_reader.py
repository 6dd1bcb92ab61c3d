"""Direct reads of Feast's Redis layout: every view of a request in one pipelined round trip.

Feast's Redis online store keeps one Redis hash per entity key: the key is
``serialize_entity_key(entity_key, entity_key_serialization_version) + project`` (UTF-8), and
each feature view stores its features under ``murmur3_32("<view>:<feature>")`` (4 bytes,
serialized ``ValueProto``) plus its event time under ``"_ts:<view>"`` (a serialized protobuf
``Timestamp``). :class:`RedisReader` reads exactly those fields — one ``HMGET`` per unique
(view, entity) of the request, all in one round trip — and decodes them the way Feast's
``get_online_features`` does.

The round trip (``transport``):

* ``"script"`` (default on a single Redis server, plain or behind Sentinel): one ``EVALSHA``
  of a read-only Lua script (:data:`READ_SCRIPT`, registered with redis-py's ``Script``,
  which loads it again after a server restart) that runs every ``HMGET`` on the server and
  returns their replies in order. The replies are exactly the ``HMGET`` replies (a nil field
  stays nil), and the client packs and parses one command instead of one per entity:
  measured 0.21 vs 0.63 ms of client CPU per read of 1 + 100 entities with the caches on
  (``bench/bench_read_transport.py``);
* ``"pipeline"`` (a Redis Cluster, whose keys live in many slots; or a server that refuses
  scripts — ACL ``NOPERM``, scripting disabled — which switches the reader to it for good,
  with a warning): ``pipeline(transaction=False)`` of the ``HMGET`` s, each routed to its
  slot's node by a ``RedisCluster`` pipeline. Keys and field names come from
:mod:`online_store.layout` (the one definition the materialization engine writes with), and the
client is Feast's own (``RedisOnlineStore._get_client`` on the store's config), so the connection
string, password/ssl options and ``redis_type: redis | redis_cluster | redis_sentinel`` behave
as for Feast.

Edge cases, each as Feast 0.67 answers them unless noted:

* **Unknown key** (no hash, or no ``_ts:<view>`` field): Feast reports the row as *present*
  with event time 0 and empty values; this reader reports it as not found (status code 3,
  event time 0), which the online encoder turns into ``missing`` — exactly what it does with
  Feast's answer.
* **Stored null** (an empty ``ValueProto``) and a feature field absent from an existing hash:
  value ``None``, row found.
* **Event time**: Feast turns ``seconds + nanos / 1e9`` into a ``datetime`` (microseconds) and
  back; this reader does the same, so both give identical microseconds for any stored stamp.
* **Entity values** must have the join key's type: ``int`` (not ``bool``; anything with
  ``__index__``, e.g. numpy integers) for INT64/INT32 keys within their range, ``str`` for
  STRING keys; anything else raises ``ValueError`` naming the row, the key and the fix. Other
  join-key types go through Feast's own conversion and serialization.
* **Decoded values** are cached by their serialized bytes, and whole decoded replies by the
  reply's bytes (immutable scalars and datetimes only; lists and maps are decoded afresh), in
  bounded dicts cleared when full (``cache_size`` entries each; 0 disables both). The same
  bytes always decode to the same answer, so the caches cannot change one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from online_store.connection import is_cluster
from online_store.layout import EntityKeys, parse_event_us, redis_view_name, view_read_fields

if TYPE_CHECKING:  # pragma: no cover
    from feast import FeatureStore

#: Feast's ``FieldStatus`` numbers, as the readers report them.
FOUND, NULL_VALUE, NOT_FOUND = 1, 2, 3

#: Feast value types whose proto field maps 1:1 to a Python scalar (read directly, which is
#: what ``feast_value_type_to_python_type`` does for them, ~10x cheaper per value).
SCALAR_FIELDS = {"DOUBLE": "double_val", "FLOAT": "float_val", "INT64": "int64_val",
                 "INT32": "int32_val", "STRING": "string_val", "BOOL": "bool_val"}
_IMMUTABLE = (int, float, str, bool, bytes, datetime, type(None))
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
_MISS = object()
TRANSPORTS = ("script", "pipeline")
log = logging.getLogger("skewless.serving")

#: ``ARGV``: the number of groups, then per group its field count, its fields and its key
#: count; ``KEYS``: every group's keys in order. Returns one ``HMGET`` reply per key, in order.
READ_SCRIPT = """
local out, a, k = {}, 2, 1
for _ = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a])
  local fields = {unpack(ARGV, a + 1, a + n)}
  a = a + n + 1
  for _ = 1, tonumber(ARGV[a]) do
    out[k] = redis.call('HMGET', KEYS[k], unpack(fields))
    k = k + 1
  end
  a = a + 1
end
return out
"""
#: fields per view above which a group goes through the pipeline (Lua's ``unpack`` limit)
_MAX_SCRIPT_FIELDS = 4000


@dataclass(frozen=True)
class ViewSpec:
    """A feature view as the online path needs it: name, join keys, ttl, feature names and
    the proto field each feature's value is stored in."""

    name: str
    join_keys: tuple[str, ...]
    ttl_us: int | None
    features: tuple[str, ...]
    value_fields: tuple[str | None, ...]


@dataclass(frozen=True)
class ViewRows:
    """One view's answer for one request, per unique entity.

    ``index[i]`` is the unique entity of request row ``i``; for unique entity ``j``:
    ``codes[j]`` is a Feast field status (:data:`FOUND`, :data:`NULL_VALUE`,
    :data:`NOT_FOUND`), ``stamps_us[j]`` the event time in microseconds since the epoch (0 when
    not found) and ``values[j]`` the decoded feature values in view feature order.
    ``tokens[j]`` (direct reader only, else ``None``) is the raw reply the values were decoded
    from: equal tokens mean equal values, types included (the same bytes decode alike).
    """

    index: Sequence[int]
    codes: Sequence[int]
    stamps_us: Sequence[int]
    values: Sequence[tuple]
    tokens: Sequence[tuple] | None = None


def value_decoder(field: str | None) -> Callable[[Any], Any]:
    """Proto value -> Python value, as Feast's own conversion gives it (``field``: the proto
    field the feature's type stores, or ``None`` for Feast's general conversion)."""
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
class _ViewPlan:
    spec: ViewSpec
    fields: tuple[bytes | str, ...]  # the feature fields, then "_ts:<view>"
    decoders: tuple[Callable[[Any], Any], ...]
    keys: EntityKeys


class RedisReader:
    """Reads the raw features of ``views`` straight from Feast's Redis online store.

    ``store`` must use Feast's ``redis`` online store (``ValueError`` naming the fix
    otherwise). ``cache_size`` bounds the decoded-value and decoded-reply caches (entries
    each; 0 disables both). ``transport``: ``"script"``, ``"pipeline"`` or ``None`` (the
    default: the script, except on a Redis Cluster or for a view with more than 4,000
    features); see the module docstring.
    """

    def __init__(self, store: FeatureStore, views: Sequence[ViewSpec],
                 cache_size: int = 50_000, transport: str | None = None) -> None:
        from feast.infra.online_stores.redis import RedisOnlineStore

        if cache_size < 0:
            raise ValueError(f"cache_size={cache_size} must be >= 0 (0 disables the cache)")
        if transport not in (None, *TRANSPORTS):
            raise ValueError(f"transport={transport!r} is not one of {TRANSPORTS}; use "
                             "'script' (one EVALSHA per request) or 'pipeline' (one HMGET per "
                             "entity, pipelined), or leave it unset")
        config = store.config
        online_store = store._get_provider().online_store
        if not isinstance(online_store, RedisOnlineStore):
            raise ValueError(
                f"the direct Redis reader needs Feast's redis online store, but this store uses "
                f"{type(online_store).__name__}; set online_store.type: redis in "
                "feature_store.yaml or use OnlineEncoder(..., reader='feast')")
        self.client = online_store._get_client(config.online_store)
        self.cache_size = cache_size
        self._values: dict[bytes, Any] = {}  # serialized ValueProto -> decoded value
        plans = []
        for spec in views:
            fv = store.get_feature_view(spec.name)
            name = redis_view_name(fv, config)
            fields = view_read_fields(name, spec.features)
            types = {c.name: c.dtype.to_value_type() for c in fv.entity_columns}
            plans.append(_ViewPlan(
                spec=spec, fields=tuple(fields),
                decoders=tuple(value_decoder(f) for f in spec.value_fields),
                keys=EntityKeys(spec.name, spec.join_keys,
                                 [types[k] for k in spec.join_keys], config.project,
                                 config.entity_key_serialization_version)))
        self._plans = tuple(plans)
        #: per view: a whole HMGET reply -> its decoded answer
        self._rows: tuple[dict[tuple, tuple], ...] = tuple({} for _ in plans)
        if transport is None:
            wide = any(len(p.fields) > _MAX_SCRIPT_FIELDS for p in plans)
            transport = "pipeline" if wide or is_cluster(config.online_store) else "script"
        self.transport = transport
        self._script = self.client.register_script(READ_SCRIPT) if transport == "script" \
            else None

    def read(self, rows: Sequence[Mapping[str, Any]]) -> list[ViewRows]:
        """Every view's answer for ``rows`` (each row holds every view's join keys; the
        caller checks that), in view order, from one pipelined round trip."""
        plan_keys: list[tuple[list[int], list[bytes]]] = []
        commands: list[tuple[tuple, list[bytes]]] = []  # per view: its fields, its keys
        for plan in self._plans:
            jk = plan.spec.join_keys
            # unique entities by value *and* type: 1, 1.0 and True are equal dict keys, but
            # only an int is a valid INT64 value (the others must raise, whichever comes first)
            first: dict[tuple, int] = {}
            index = []
            if len(jk) == 1:
                k0 = jk[0]
                for r in rows:
                    v = r[k0]
                    index.append(first.setdefault((v, v.__class__), len(first)))
                entities = [(v,) for v, _ in first]
            else:
                for r in rows:
                    vs = tuple(r[k] for k in jk)
                    index.append(first.setdefault((vs, tuple(map(type, vs))), len(first)))
                entities = [vs for vs, _ in first]
            holders = [0] * len(first)
            for i in range(len(index) - 1, -1, -1):
                holders[index[i]] = i
            keys = plan.keys.keys(entities, holders)
            commands.append((plan.fields, keys))
            plan_keys.append((index, keys))
        replies = self._fetch(commands)

        out = []
        at = 0
        limit = self.cache_size
        for plan, rows_cache, (index, keys) in zip(self._plans, self._rows, plan_keys):
            decoders = plan.decoders
            codes, stamps, values, tokens = [], [], [], []
            for reply in replies[at:at + len(keys)]:
                key = tuple(reply)
                tokens.append(key)
                hit = rows_cache.get(key)
                if hit is None:
                    hit, cacheable = self._decode(reply, decoders)
                    if limit and cacheable:
                        if len(rows_cache) >= limit:
                            rows_cache.clear()
                        rows_cache[key] = hit
                codes.append(hit[0])
                stamps.append(hit[1])
                values.append(hit[2])
            at += len(keys)
            out.append(ViewRows(index=index, codes=codes, stamps_us=stamps, values=values,
                                tokens=tokens))
        return out

    def _fetch(self, commands: Sequence[tuple[tuple, Sequence[bytes]]]) -> list:
        """One ``HMGET`` reply per key of ``commands`` (per view: its fields, its keys), in
        order, from one round trip of the configured transport."""
        if self._script is not None:
            import redis

            keys: list[bytes] = []
            args: list[Any] = [len(commands)]
            for fields, group in commands:
                args += (len(fields), *fields, len(group))
                keys += group
            try:
                return self._script(keys=keys, args=args)
            except redis.exceptions.ResponseError as exc:
                if "unauthenticated" in str(exc):  # Redis 7 on a long command without AUTH
                    raise redis.exceptions.AuthenticationError(
                        f"Redis refused an unauthenticated request ({exc})") from exc
                if not _refused(exc):
                    raise  # e.g. WRONGTYPE: what the pipeline would raise too
                log.warning("Redis refused the read script (%s); reading with pipelined "
                            "HMGETs from now on (allow EVALSHA/EVAL to this client's user "
                            "to read with one command per request)", exc)
                self._script = None
                self.transport = "pipeline"
        with self.client.pipeline(transaction=False) as pipe:
            for fields, group in commands:
                for key in group:
                    pipe.hmget(key, fields)
            return pipe.execute()

    def _decode(self, reply: Sequence[bytes | None], decoders: Sequence[Callable[[Any], Any]]
                ) -> tuple[tuple[int, int, tuple], bool]:
        """``((code, event time µs, values), cacheable)`` of one HMGET reply (the features'
        fields, then the event time's)."""
        from feast.protos.feast.types.Value_pb2 import Value

        ts = reply[-1]
        if not ts:
            return (NOT_FOUND, 0, (None,) * len(decoders)), True
        cache, limit = self._values, self.cache_size
        cacheable = True
        row = []
        for raw, decode in zip(reply, decoders):
            if not raw:
                row.append(None)
                continue
            v = cache.get(raw, _MISS)
            if v is _MISS:
                v = decode(Value.FromString(raw))
                if not isinstance(v, _IMMUTABLE):
                    cacheable = False
                elif limit:
                    if len(cache) >= limit:
                        cache.clear()
                    cache[raw] = v
            row.append(v)
        return (FOUND, parse_event_us(ts), tuple(row)), cacheable


def _refused(exc: BaseException) -> bool:
    """Whether a Redis error says this client may not run scripts (ACL ``NOPERM``, scripting
    disabled or renamed away), rather than a failure of the read itself."""
    import redis

    if isinstance(exc, redis.exceptions.NoPermissionError):
        return True
    text = str(exc).lower()
    return "noperm" in text or "unknown command" in text or "disabled" in text
