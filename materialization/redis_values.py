"""Feast's Redis bytes, column at a time: feature values, entity keys and timestamps.

Feast's engines turn every cell into a ``ValueProto`` object and serialize it, row by row
(``feast.utils._convert_arrow_to_proto`` → ``feast.type_map.python_values_to_proto_values``).
Here a whole Arrow column becomes a list of the same bytes in three ways:

* **fixed width** (``DOUBLE``, ``FLOAT``): the wire format is one tag byte plus 8 (or 4)
  little-endian bytes, so numpy writes all cells at once (``tag || value`` records viewed as
  ``V9`` / ``V5``).
* **varint** (``INT64`` and ``UNIX_TIMESTAMP`` from signed integer or timestamp columns): one
  tag byte plus the value's two's-complement base-128 varint (1-10 bytes), built with numpy
  per byte position. These and the fixed-width ones are the only hand-built bytes;
  ``tests/online/test_redis_engine.py`` checks them against Feast's serializer over nulls,
  NaN, ±inf, ±0.0, subnormals, zero, every varint length boundary and ±2**63 extremes.
* **repeated values** (every other scalar type): Arrow's ``dictionary_encode`` finds the distinct
  values in C++, each distinct value is serialized once by Feast's own
  ``python_values_to_proto_values`` and the bytes are gathered back by index — so strings,
  ints, bools and timestamps are Feast's bytes by construction, and a column of a few distinct
  values (codes, plan names) costs a few protobuf calls.
* **anything else** (lists, maps, JSON, ...): Feast's converter on ``to_pylist()`` per cell.

Value rules (Feast's, kept): a null, and a float NaN, is the empty message ``b""``; ±inf are
stored; ``UnixTimestamp`` keeps whole POSIX seconds, floored (numpy ``datetime64[s]``, as Feast's
engines write it; ``1969-12-31T23:59:59.5`` → ``-1``). Two places where Feast's engines write
wrong bytes and this module does not (the test states both):

* a null ``UnixTimestamp`` cell: Feast's engines pass ``NaT`` on and store
  ``unix_timestamp_val = -2**63``; here it is null (``b""``), what Feast writes for ``None``;
* an int column holding nulls: Feast's ``to_numpy`` turns it into float64, rounding ints beyond
  2**53; here ints stay exact.

Keys, field names and timestamp bytes are Feast's Redis layout, defined in
:mod:`online_store.layout`; :func:`timestamp_micros` only turns Arrow timestamp columns into the
microseconds that module encodes (nulls as its null marker).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from online_store.layout import NULL_MICROS

__all__ = ["timestamp_micros", "value_bytes"]

_FIXED = {  # value type name -> (wire tag byte of the ValueProto field, numpy dtype)
    "DOUBLE": (0x29, "<f8"),  # double_val = 5, wire type 1 (64-bit)
    "FLOAT": (0x35, "<f4"),  # float_val = 6, wire type 5 (32-bit)
}
_VARINT = {  # value type name -> wire tag byte (wire type 0, varint)
    "INT64": 0x20,  # int64_val = 4
    "UNIX_TIMESTAMP": 0x40,  # unix_timestamp_val = 8
}


def value_bytes(column: pa.Array | pa.ChunkedArray, value_type: Any) -> list[bytes]:
    """The serialized ``ValueProto`` of every cell of ``column`` (Feast ``ValueType``).

    Edge cases: an empty column gives ``[]``; a column of nulls gives ``b""`` per cell; a type
    Arrow cannot dictionary-encode falls back to Feast's per-cell converter. Raises
    ``TypeError`` (Feast's) when the Arrow type does not fit the declared feature type.
    """
    column = _one_array(column)
    if len(column) == 0:
        return []
    name = value_type.name
    if name in _FIXED:
        return _fixed_width(column, *_FIXED[name])
    if name == "UNIX_TIMESTAMP" and pa.types.is_timestamp(column.type):
        return _varint(_VARINT[name], _epoch(column, 1), _null_mask(column))
    if name in _VARINT and pa.types.is_signed_integer(column.type):
        values = column.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        return _varint(_VARINT[name], values, _null_mask(column))
    if _dictionary_encodable(column.type):
        return _via_dictionary(column, value_type)
    return _feast_values(column.to_pylist(), value_type)


def timestamp_micros(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Microseconds since the epoch of a timestamp column (any unit, any zone) as int64;
    nulls become ``-2**63`` (older than any real instant)."""
    column = _one_array(column)
    if not pa.types.is_timestamp(column.type):
        raise TypeError(f"expected a timestamp column, got {column.type}")
    micros = _epoch(column, 1_000_000)
    micros[_null_mask(column) if column.null_count else []] = NULL_MICROS
    return micros


# ----------------------------------------------------------------------------- internals
def _one_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


def _null_mask(column: pa.Array) -> np.ndarray | None:
    if not column.null_count:
        return None
    return column.is_null().to_numpy(zero_copy_only=False)


_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def _epoch(column: pa.Array, per_second: int) -> np.ndarray:
    """A timestamp column as int64 counts of ``1/per_second`` s since the epoch, floored (as
    numpy's ``datetime64`` unit casts); null cells hold 0."""
    raw = pc.cast(column, pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    have = _PER_SECOND[column.type.unit]
    if have >= per_second:
        return np.floor_divide(raw, have // per_second)
    return raw * (per_second // have)


def _fixed_width(column: pa.Array, tag: int, dtype: str) -> list[bytes]:
    values = column.cast(pa.float64() if dtype == "<f8" else pa.float32())
    data = values.fill_null(float("nan")).to_numpy(zero_copy_only=False)
    size = 1 + np.dtype(dtype).itemsize
    rows = np.empty(len(data), dtype=[("t", "u1"), ("v", dtype)])
    rows["t"] = tag
    rows["v"] = data
    out = rows.view(f"V{size}").tolist()
    for i in np.flatnonzero(np.isnan(data)).tolist():  # null or NaN: Feast's pd.isnull → b""
        out[i] = b""
    return out


def _varint(tag: int, values: np.ndarray, null: np.ndarray | None) -> list[bytes]:
    """``tag`` + base-128 varint of each int64 (negative: its 64-bit two's complement, ten
    bytes, as protobuf writes ``int64``); ``b""`` where ``null`` is set."""
    raw = values.astype(np.int64).view(np.uint64)
    length = np.ones(len(raw), dtype=np.int64)
    for k in range(1, 10):
        length += (raw >> np.uint64(7 * k)) != 0
    grid = np.zeros((len(raw), 11), dtype=np.uint8)
    grid[:, 0] = tag
    for k in range(10):
        group = ((raw >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        grid[:, 1 + k] = group | np.where(k < length - 1, 0x80, 0).astype(np.uint8)
    out = np.empty(len(raw), dtype=object)
    for size in np.unique(length).tolist():
        rows = np.flatnonzero(length == size)
        cells = np.ascontiguousarray(grid[rows, : 1 + size])
        out[rows] = cells.view(f"V{1 + size}").ravel().tolist()
    if null is not None:
        out[null] = b""
    return out.tolist()


def _dictionary_encodable(arrow_type: pa.DataType) -> bool:
    return (pa.types.is_integer(arrow_type) or pa.types.is_string(arrow_type)
            or pa.types.is_large_string(arrow_type) or pa.types.is_binary(arrow_type)
            or pa.types.is_large_binary(arrow_type) or pa.types.is_boolean(arrow_type))


def _via_dictionary(column: pa.Array, value_type: Any) -> list[bytes]:
    encoded = column.dictionary_encode()
    uniques = _feast_values(encoded.dictionary.to_pylist(), value_type)
    table = np.array([*uniques, b""], dtype=object)
    index = encoded.indices.fill_null(len(uniques)).to_numpy(zero_copy_only=False)
    return table[index].tolist()


def _feast_values(values: Sequence[Any], value_type: Any) -> list[bytes]:
    from feast.type_map import python_values_to_proto_values

    if not values:
        return []
    return [p.SerializeToString() for p in python_values_to_proto_values(list(values),
                                                                        value_type)]
