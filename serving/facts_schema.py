"""The served-facts schema: one Parquet row per served entity row, per encoded service.

The one definition of the columns the served-facts log (:mod:`serving.facts_log`) writes and
every reader (:mod:`serving.facts_reader`, ``skewless training-set --from-log`` in Spark)
reads. Columns, in this order:

* ``__request_id`` (string), ``__request_time`` (timestamp µs UTC: the time the features were
  served as of), ``__logged_at`` (timestamp µs UTC: when the server queued the row),
  ``__endpoint``, ``__state_hash``, ``__model_id`` (string; null without a model), ``__row``
  (int32: the row's position in its request);
* the service's join keys, then its request inputs, each typed as the registry declares it
  (Feast's value type -> Arrow, :func:`arrow_type`); a row's own request input wins over the
  request's, as in the merged row the encoders read;
* per feature view ``v`` of the service: ``__status__v`` (string: ``present``, ``null``,
  ``missing``, ``expired``, ``future`` at the request time), ``__event_timestamp__v``
  (timestamp µs UTC; null when the store had no row) and its features ``v__<feature>``, typed,
  as read from the online store (an expired or future row keeps the values read; the encoders
  did not see them);
* ``__vector`` (list<double>): the encoded vector served, in the order the file's
  ``skewless.names`` metadata lists; integer outputs (ids, indexes) are stored as exact doubles
  and their positions listed in ``skewless.int_outputs``, so readers give them back as ints.

The file's key-value metadata holds ``skewless.service``, ``skewless.names`` (JSON list) and
``skewless.facts_version``. Files live under
``<log dir>/service=<name>/date=<YYYY-MM-DD>/hour=<HH>/`` (the request time's UTC date and
hour), so Spark and pyarrow read a service's folder as one dataset with ``date`` and ``hour``
partition columns.

Edge cases: a join key, request input or feature whose name starts with ``__`` would shadow
the log's own columns, and two view features can flatten to one name (view ``a`` feature
``b__c`` and view ``a__b`` feature ``c``): both raise ``ValueError`` naming the clash when the
schema is built; a Feast type without an Arrow equivalent raises naming the column.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:  # pragma: no cover
    from feast_bridge.services import ServiceInfo

__all__ = ["FACTS_VERSION", "FactsSchema", "arrow_type", "stamp_column", "status_column",
           "view_column"]

FACTS_VERSION = "1"
REQUEST_ID, REQUEST_TIME, LOGGED_AT = "__request_id", "__request_time", "__logged_at"
ENDPOINT, STATE_HASH, MODEL_ID, ROW, VECTOR = ("__endpoint", "__state_hash", "__model_id",
                                               "__row", "__vector")
META_SERVICE, META_NAMES, META_VERSION, META_LAYOUT, META_INTS = (
    b"skewless.service", b"skewless.names", b"skewless.facts_version", b"skewless.layout",
    b"skewless.int_outputs")
UTC_US = pa.timestamp("us", tz="UTC")
_HEAD = ((REQUEST_ID, pa.string()), (REQUEST_TIME, UTC_US), (LOGGED_AT, UTC_US),
         (ENDPOINT, pa.string()), (STATE_HASH, pa.string()), (MODEL_ID, pa.string()),
         (ROW, pa.int32()))


def view_column(view: str, feature: str) -> str:
    return f"{view}__{feature}"


def status_column(view: str) -> str:
    return f"__status__{view}"


def stamp_column(view: str) -> str:
    return f"__event_timestamp__{view}"


def arrow_type(value_type: str, column: str) -> pa.DataType:
    """The Arrow type of a Feast value-type name (``INT64``, ``UNIX_TIMESTAMP``, ``DOUBLE_LIST``
    …): Feast's own mapping, with timestamps as UTC instants; raises ``ValueError`` naming
    ``column`` for a type Arrow cannot hold."""
    from feast.type_map import feast_value_type_to_pa
    from feast.value_type import ValueType

    try:
        t = feast_value_type_to_pa(ValueType[value_type])
    except (KeyError, ValueError) as exc:
        raise ValueError(f"column {column!r} has Feast type {value_type}, which the served-facts "
                         f"log cannot store ({exc}); declare it with a scalar or list type, or "
                         "log this service as JSON lines (SKEWLESS_LOG_FORMAT=jsonl)") from None
    if pa.types.is_timestamp(t):
        return UTC_US
    if pa.types.is_list(t) and pa.types.is_timestamp(t.value_type):
        return pa.list_(UTC_US)
    return t


@dataclass(frozen=True)
class ViewColumns:
    """One feature view's columns: its name, features and their column names and types."""

    name: str
    features: tuple[str, ...]
    columns: tuple[str, ...]
    types: tuple[pa.DataType, ...]


@dataclass(frozen=True)
class FactsSchema:
    """The served-facts columns of one encoded service (module docstring)."""

    service: str
    entity_keys: tuple[tuple[str, pa.DataType], ...]
    request_inputs: tuple[tuple[str, pa.DataType], ...]
    views: tuple[ViewColumns, ...]

    @classmethod
    def of(cls, info: ServiceInfo) -> FactsSchema:
        """The schema of a service as the registry describes it (raises ``ValueError`` on a
        name clash or an unstorable type: module docstring)."""
        keys = tuple((k, arrow_type(t, k)) for k, t in info.entity_types)
        inputs = tuple((k, arrow_type(t, k)) for k, t in info.request_inputs)
        views = tuple(ViewColumns(
            v.name, v.features, tuple(view_column(v.name, f) for f in v.features),
            tuple(arrow_type(t, view_column(v.name, f))
                  for f, t in zip(v.features, v.feature_types))) for v in info.views)
        out = cls(info.name, keys, inputs, views)
        out.check()
        return out

    def user_columns(self) -> list[str]:
        return ([k for k, _ in self.entity_keys] + [k for k, _ in self.request_inputs]
                + [c for v in self.views for c in v.columns])

    def check(self) -> None:
        user = self.user_columns()
        own = [k for k in user if k.startswith("__")]
        if own:
            raise ValueError(f"service {self.service!r}: {own} start with '__', which the "
                             "served-facts log keeps for its own columns; rename them")
        clash = sorted(c for c, n in Counter(user).items() if n > 1)
        if clash:
            raise ValueError(f"service {self.service!r}: columns {clash} occur twice once view "
                             "and feature names are joined with '__' (or a join key equals a "
                             "request input); rename one of them")

    def arrow(self, names: Sequence[str], int_outputs: Sequence[int] = ()) -> pa.Schema:
        """The Arrow schema of a file whose vectors have the output ``names``, of which those
        at ``int_outputs`` are integers (ids: stored as exact doubles, read back as ints)."""
        fields = [pa.field(n, t) for n, t in _HEAD]
        fields += [pa.field(k, t) for k, t in self.entity_keys + self.request_inputs]
        for v in self.views:
            fields += [pa.field(status_column(v.name), pa.string()),
                       pa.field(stamp_column(v.name), UTC_US)]
            fields += [pa.field(c, t) for c, t in zip(v.columns, v.types)]
        fields.append(pa.field(VECTOR, pa.list_(pa.float64())))
        return pa.schema(fields, metadata={META_SERVICE: self.service.encode(),
                                           META_NAMES: json.dumps(list(names)).encode(),
                                           META_VERSION: FACTS_VERSION.encode(),
                                           META_LAYOUT: json.dumps(self.layout()).encode(),
                                           META_INTS: json.dumps(list(int_outputs)).encode()})

    def layout(self) -> dict[str, Any]:
        """Which columns are join keys, request inputs and each view's features (the file
        metadata ``skewless.layout``, so a reader never parses column names)."""
        return {"entity_keys": [k for k, _ in self.entity_keys],
                "request_inputs": [k for k, _ in self.request_inputs],
                "views": {v.name: dict(zip(v.features, v.columns)) for v in self.views}}


def names_of(schema: pa.Schema) -> list[str]:
    """The vector's output names a facts file records (empty when it records none)."""
    raw: Any = (schema.metadata or {}).get(META_NAMES)
    return list(json.loads(raw)) if raw else []


def int_outputs_of(schema: pa.Schema) -> list[int]:
    """The positions of the vector's integer outputs a facts file records."""
    raw: Any = (schema.metadata or {}).get(META_INTS)
    return list(json.loads(raw)) if raw else []


def layout_of(schema: pa.Schema) -> dict[str, Any]:
    """A facts file's :meth:`FactsSchema.layout`; ``ValueError`` when the file has none."""
    raw: Any = (schema.metadata or {}).get(META_LAYOUT)
    if not raw:
        raise ValueError("not a served-facts file (no skewless.layout metadata)")
    return json.loads(raw)
