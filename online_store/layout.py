"""Feast's Redis online-store layout, defined once: keys, hash field names, timestamp bytes.

Feast's Redis store keeps one Redis hash per entity key. The key is
``serialize_entity_key(EntityKey, entity_key_serialization_version) + project`` (UTF-8). For
each feature view the hash holds ``murmur3_32("<view>:<feature>")`` (4 bytes) → a serialized
``ValueProto`` per feature, and ``"_ts:<view>"`` → the row's event time as a serialized
``google.protobuf.Timestamp``; ``<view>`` is the versioned view name when the registry enables
online feature-view versioning. skewless' engine adds ``"_created_ts:<view>"`` (the row's created
time, same encoding; ``b""`` when the view has no created column) so a restatement can be told
from an older row.

The materialization engine (``materialization/``) writes these bytes and the direct reader
(``serving/redis_reader.py``) reads them; both call this module, and
``tests/online/test_layout.py`` checks it against Feast's own serializer, field names and
reader. Value bytes (``ValueProto`` per type) are not layout: ``materialization/redis_values.py``
serializes them and Feast's proto classes parse them.

Edge cases: a null join key cannot be keyed (``ValueError`` naming the column); an entity value
of the wrong type for its key raises ``ValueError`` naming the row, the key and the fix (an
``INT64`` key takes an ``int`` — not a ``bool`` — within range, a ``STRING`` key a ``str``);
join keys other than INT64/INT32/STRING go through Feast's own conversion; timestamps are
microsecond precision, the null marker ``-2**63`` encodes as ``b""`` and ``b""`` / ``None``
decode as "older than anything".
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pyarrow as pa

EVENT_FIELD_PREFIX = "_ts:"
CREATED_FIELD_PREFIX = "_created_ts:"
NULL_MICROS = -(2**63)  # timestamp_bytes' marker for a null timestamp
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)


# --- field names -----------------------------------------------------------------------------
def redis_view_name(feature_view: Any, repo_config: Any) -> str:
    """The view name Feast uses inside Redis field names (versioned when enabled)."""
    from feast.infra.online_stores.redis import _versioned_fv_name

    return _versioned_fv_name(feature_view, repo_config)


def event_field(view: str) -> bytes:
    """``_ts:<view>``: the field holding a view's event time."""
    return f"{EVENT_FIELD_PREFIX}{view}".encode()


def created_field(view: str) -> bytes:
    """``_created_ts:<view>``: skewless' field holding a view's created time."""
    return f"{CREATED_FIELD_PREFIX}{view}".encode()


def feature_fields(view: str, features: Sequence[str]) -> tuple[bytes, ...]:
    """The murmur3 field name of each feature of ``view`` (Redis view name), in order."""
    from feast.infra.online_stores.helpers import _mmh3

    return tuple(_mmh3(f"{view}:{name}") for name in features)


def key_pattern(project: str) -> bytes:
    """A ``SCAN MATCH`` glob for the Redis keys of a Feast project (they end with its name).

    Glob characters in the name (``* ? [ ] \\``) are escaped. Another project whose name ends
    with this one (``myskewless`` for ``skewless``) matches too: use a database of its own.
    """
    return b"*" + re.sub(rb"([*?\[\]\\])", rb"\\\1", project.encode("utf-8"))


WATERMARK_PREFIX = "skewless:watermark:"


def watermark_key(project: str, view: str) -> bytes:
    """``skewless:watermark:<project>:<view>`` (``view``: the Redis view name): the hash
    holding how far ``view`` is materialized in this Redis. Feast project names hold no
    ``:``, so the key is unambiguous; it ends with the view name, so a ``SCAN`` for a
    project's keys (:func:`key_pattern`) does not find it unless the view's name ends with
    the project's."""
    return f"{WATERMARK_PREFIX}{project}:{view}".encode()


# --- keys ------------------------------------------------------------------------------------
def _entity_key(names: Sequence[str], values: Sequence[Any], types: Sequence[Any]) -> Any:
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.type_map import python_values_to_proto_values

    protos = [python_values_to_proto_values([v], t)[0] for v, t in zip(values, types)]
    return EntityKey(join_keys=list(names), entity_values=protos)


class EntityKeys:
    """Entity values → Feast's Redis keys for one view's join keys.

    ``join_keys`` in the view's order with their Feast ``ValueType``; keys are built by hand for
    INT64/INT32/STRING join keys at serialization version ≥ 3 (the bytes Feast's
    ``serialize_entity_key`` gives: key names sorted, each value tagged with its type) and by
    Feast's own serializer otherwise.
    """

    _PACK = {"INT64": ("<q", 8, -(2**63), 2**63 - 1), "INT32": ("<i", 4, -(2**31), 2**31 - 1)}

    def __init__(self, view: str, join_keys: Sequence[str], value_types: Sequence[Any],
                 project: str, version: int) -> None:
        self.view = view
        self.join_keys = tuple(join_keys)
        self.value_types = tuple(value_types)
        self.project = project.encode("utf-8")
        self.version = version
        names = [t.name for t in self.value_types]
        self.fast = version >= 3 and all(n in ("INT64", "INT32", "STRING") for n in names)
        order = sorted(range(len(self.join_keys)), key=lambda i: self.join_keys[i])
        self.order = tuple(order)
        header = [struct.pack("<I", len(order))]
        for i in order:
            k = self.join_keys[i].encode("utf-8")
            header += [struct.pack("<I", 2), struct.pack("<I", len(k)), k]  # 2 = STRING
        self.header = b"".join(header)
        self.names = tuple(names)

    def _part(self, row: int, key: str, kind: str, value: Any) -> bytes:
        if kind == "STRING":
            if type(value) is not str:
                raise ValueError(f"entity row {row}: {key}={value!r} is not a string; view "
                                 f"{self.view!r} has STRING join key {key!r}: pass a str")
            b = value.encode("utf-8")
            return struct.pack("<II", 2, len(b)) + b
        fmt, size, low, high = self._PACK[kind]
        if type(value) is not int:
            if isinstance(value, bool) or not hasattr(value, "__index__"):
                raise ValueError(f"entity row {row}: {key}={value!r} is not an integer; view "
                                 f"{self.view!r} has {kind} join key {key!r}: pass an int")
            value = value.__index__()
        if not low <= value <= high:
            raise ValueError(f"entity row {row}: {key}={value} is outside the {kind} range "
                             f"[{low}, {high}]; pass a valid {key}")
        return struct.pack("<II", 4 if kind == "INT64" else 3, size) + struct.pack(fmt, value)

    def keys(self, entities: Sequence[tuple], rows: Sequence[int] | None = None) -> list[bytes]:
        """The Redis key of each entity tuple (values in ``join_keys`` order); ``rows[j]`` is
        a request row holding entity ``j`` (for error messages; default ``j``)."""
        rows = range(len(entities)) if rows is None else rows
        if not self.fast:
            return self._feast_keys(entities)
        parts = [(i, self.join_keys[i], self.names[i]) for i in self.order]
        head, tail = self.header, self.project
        if len(parts) == 1 and parts[0][2] == "INT64":
            int64 = struct.Struct("<IIq").pack
            out = []
            for ent, r in zip(entities, rows):
                v = ent[0]
                if type(v) is int and -(2**63) <= v < 2**63:
                    out.append(head + int64(4, 8, v) + tail)
                else:
                    out.append(head + self._part(r, parts[0][1], "INT64", v) + tail)
            return out
        return [head + b"".join(self._part(r, k, kind, ent[i]) for i, k, kind in parts) + tail
                for ent, r in zip(entities, rows)]

    def _feast_keys(self, entities: Sequence[tuple]) -> list[bytes]:
        from feast.infra.key_encoding_utils import serialize_entity_key

        return [serialize_entity_key(_entity_key(self.join_keys, ent, self.value_types),
                                     entity_key_serialization_version=self.version)
                + self.project for ent in entities]

    def column_keys(self, batch: pa.RecordBatch | pa.Table) -> list[bytes]:
        """The key of every row of an Arrow batch holding the join-key columns.

        One INT64 key (the common case) is vectorized with numpy; anything else goes row by
        row through :meth:`keys`. A null key raises ``ValueError`` naming the column.
        """
        import numpy as np

        for name in self.join_keys:
            if batch.column(name).null_count:
                raise ValueError(f"join key column {name!r} holds nulls: Feast cannot key "
                                 "them; filter them out of the source")
        if batch.num_rows == 0:
            return []
        if self.fast and self.names == ("INT64",):
            prefix, suffix = self.header + struct.pack("<II", 4, 8), self.project
            values = _one_array(batch.column(self.join_keys[0])).cast("int64").to_numpy()
            rows = np.empty(len(values), dtype=[("p", f"V{len(prefix)}"), ("v", "<i8"),
                                                ("s", f"V{len(suffix)}")])
            rows["p"] = np.frombuffer(prefix, dtype=f"V{len(prefix)}")[0]
            rows["v"] = values
            if suffix:
                rows["s"] = np.frombuffer(suffix, dtype=f"V{len(suffix)}")[0]
            return rows.view(f"V{rows.dtype.itemsize}").tolist()
        columns = [_one_array(batch.column(n)).to_pylist() for n in self.join_keys]
        return self.keys(list(zip(*columns)))


def entity_keys_for(feature_view: Any, repo_config: Any) -> EntityKeys:
    """:class:`EntityKeys` of a Feast feature view under ``repo_config``."""
    cols = list(feature_view.entity_columns)
    return EntityKeys(feature_view.name, [c.name for c in cols],
                      [c.dtype.to_value_type() for c in cols], repo_config.project,
                      repo_config.entity_key_serialization_version)


def _one_array(column: Any) -> Any:
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks()
    return column


# --- timestamps ------------------------------------------------------------------------------
def timestamp_bytes(micros: np.ndarray | Sequence[int]) -> list[bytes]:
    """``Timestamp`` protobuf bytes per microsecond value (``FromMicroseconds``: the bytes of
    Feast's ``FromDatetime``); the null marker :data:`NULL_MICROS` gives ``b""``."""
    import numpy as np
    from google.protobuf.timestamp_pb2 import Timestamp

    micros = np.asarray(micros, dtype=np.int64)
    if len(micros) == 0:
        return []
    uniques, inverse = np.unique(micros, return_inverse=True)
    table = []
    for us in uniques.tolist():
        if us == NULL_MICROS:
            table.append(b"")
        else:
            ts = Timestamp()
            ts.FromMicroseconds(us)
            table.append(ts.SerializeToString())
    return np.array(table, dtype=object)[inverse.reshape(-1)].tolist()


def timestamp_nanos(raw: bytes | None, cache: dict[bytes, int] | None = None) -> int | None:
    """Nanoseconds since the epoch of stored ``Timestamp`` bytes; ``None`` for ``None`` or
    ``b""`` (no timestamp stored). ``cache`` memoizes parsed bytes."""
    if not raw:
        return None
    found = cache.get(raw) if cache is not None else None
    if found is None:
        from google.protobuf.timestamp_pb2 import Timestamp

        ts = Timestamp.FromString(raw)
        found = ts.seconds * 1_000_000_000 + ts.nanos
        if cache is not None:
            cache[raw] = found
    return found


def timestamp_us(seconds: int, nanos: int) -> int:
    """Microseconds since the epoch of a stored event time, rounded as Feast's reader rounds
    it (``datetime.fromtimestamp(seconds + nanos / 1e9)``); 0 for the zero timestamp."""
    if not seconds and not nanos:
        return 0
    return (datetime.fromtimestamp(seconds + nanos / 1e9, tz=timezone.utc) - _EPOCH) // _US


def parse_event_us(raw: bytes) -> int:
    """:func:`timestamp_us` of stored ``Timestamp`` bytes (what the reader reports)."""
    from google.protobuf.timestamp_pb2 import Timestamp

    ts = Timestamp.FromString(raw)
    return timestamp_us(ts.seconds, ts.nanos)


def view_read_fields(view: str, features: Sequence[str]) -> tuple[bytes, ...]:
    """What the reader ``HMGET``s for a view: the feature fields, then the event field (the
    order of Feast's ``_generate_hset_keys_for_features``)."""
    return (*feature_fields(view, features), event_field(view))


__all__ = ["CREATED_FIELD_PREFIX", "EVENT_FIELD_PREFIX", "NULL_MICROS", "WATERMARK_PREFIX",
           "EntityKeys",
           "created_field", "entity_keys_for", "event_field", "feature_fields", "key_pattern",
           "parse_event_us", "redis_view_name", "timestamp_bytes", "timestamp_nanos",
           "timestamp_us", "view_read_fields", "watermark_key"]

