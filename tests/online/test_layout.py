"""``online_store.layout`` is Feast's Redis layout: checked against Feast's own code.

* keys: :class:`EntityKeys` (row-wise for the reader, column-wise for the writer) against
  Feast's ``_redis_key`` (``serialize_entity_key`` + project) on generated join keys, types,
  values and project names;
* field names: ``view_read_fields`` / ``event_field`` / ``feature_fields`` against Feast's
  ``RedisOnlineStore._generate_hset_keys_for_features`` on generated view and feature names;
* timestamps: ``timestamp_bytes`` against Feast's writer (``Timestamp.FromDatetime``), and
  ``parse_event_us`` against Feast's reader (``_get_features_for_entity``);
* a round trip on a real Redis server (DB 10): a hash written with the layout's key, fields and
  timestamp bytes reads back through Feast's own ``online_read`` with the written values and
  event time.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.infra.online_stores.helpers import _redis_key
from feast.infra.online_stores.redis import RedisOnlineStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from feast.repo_config import RepoConfig
from feast.type_map import python_values_to_proto_values
from feast.types import Float64, String
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from online_store.layout import (
    EntityKeys,
    created_field,
    event_field,
    feature_fields,
    key_pattern,
    parse_event_us,
    timestamp_bytes,
    view_read_fields,
)
from tests.real_redis import TEST_REDIS_PORT, real_redis

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NAMES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
                max_size=12)
KINDS = {
    ValueType.INT64: st.integers(-(2**63), 2**63 - 1),
    ValueType.INT32: st.integers(-(2**31), 2**31 - 1),
    ValueType.STRING: st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)),
                              max_size=20),
}
ARROW = {ValueType.INT64: pa.int64(), ValueType.INT32: pa.int32(), ValueType.STRING: pa.string()}


@st.composite
def keyed_rows(draw):
    """(join keys, their value types, entity tuples, project)."""
    keys = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
    types = [draw(st.sampled_from(list(KINDS))) for _ in keys]
    rows = draw(st.lists(st.tuples(*[KINDS[t] for t in types]), min_size=1, max_size=5))
    return keys, types, rows, draw(NAMES)


def feast_key(keys, types, row, project: str) -> bytes:
    values = [python_values_to_proto_values([v], t)[0] for v, t in zip(row, types)]
    return _redis_key(project, EntityKey(join_keys=list(keys), entity_values=values), 3)


@settings(max_examples=150, deadline=None)
@given(keyed_rows())
def test_keys_are_feasts(case) -> None:
    keys, types, rows, project = case
    layout = EntityKeys("v", keys, types, project, 3)
    want = [feast_key(keys, types, r, project) for r in rows]
    assert layout.keys(rows) == want
    batch = pa.table({k: pa.array([r[i] for r in rows], ARROW[t])
                      for i, (k, t) in enumerate(zip(keys, types))})
    assert layout.column_keys(batch) == want


def _view(name: str, features: list[str]) -> FeatureView:
    entity = Entity(name="e", join_keys=["e_id"], value_type=ValueType.INT64)
    source = FileSource(path="unused.parquet", timestamp_field="event_timestamp")
    return FeatureView(name=name, entities=[entity], ttl=timedelta(days=1), source=source,
                       schema=[Field(name=f, dtype=Float64) for f in features])


@settings(max_examples=60, deadline=None)
@given(NAMES, st.lists(NAMES, min_size=1, max_size=4, unique=True))
def test_field_names_are_feasts(view: str, features: list[str]) -> None:
    _, fields = RedisOnlineStore()._generate_hset_keys_for_features(
        _view("fv", features), list(features), fv_name_override=view)
    want = [f.encode() if isinstance(f, str) else f for f in fields]
    assert list(view_read_fields(view, features)) == want
    assert event_field(view) == want[-1] and list(feature_fields(view, features)) == want[:-1]
    assert created_field(view) == f"_created_ts:{view}".encode()


@settings(max_examples=200, deadline=None)
@given(st.integers(-(2**40), 2**42))  # µs from 1934 to 2109
def test_timestamp_bytes_are_feasts_and_read_back_as_feast_reads(us: int) -> None:
    when = EPOCH + timedelta(microseconds=us)
    ts = Timestamp()
    ts.FromDatetime(when)  # what Feast's online_write_batch stores
    assert timestamp_bytes([us]) == [ts.SerializeToString()]
    got, _ = RedisOnlineStore()._get_features_for_entity(
        [b"", ts.SerializeToString()], "v", ["x", "_ts:v"])
    assert parse_event_us(ts.SerializeToString()) == (got - EPOCH) // timedelta(microseconds=1)


def test_key_pattern_escapes_globs() -> None:
    assert key_pattern("a*b[1]") == rb"*a\*b\[1\]"


@pytest.fixture()
def redis10():
    client = real_redis(10)
    client.flushdb()
    yield client
    client.flushdb()


def test_written_with_the_layout_feast_reads_it(redis10, tmp_path) -> None:
    view = FeatureView(
        name="shop_stats", ttl=timedelta(days=1),
        entities=[Entity(name="shop", join_keys=["shop_id"], value_type=ValueType.STRING)],
        source=FileSource(path="unused.parquet", timestamp_field="event_timestamp"),
        schema=[Field(name="shop_id", dtype=String), Field(name="price", dtype=Float64),
                Field(name="label", dtype=String)])
    config = RepoConfig(project="layout_test", provider="local",
                        registry=str(tmp_path / "registry.db"),
                        online_store={"type": "redis",
                                      "connection_string": f"127.0.0.1:{TEST_REDIS_PORT},db=10"},
                        entity_key_serialization_version=3)
    shops = ["Zürich-1", "berlin"]
    keys = EntityKeys("shop_stats", ["shop_id"], [ValueType.STRING], "layout_test", 3)
    when = [datetime(2024, 3, 1, 0, 0, 0, 123456, tzinfo=UTC), datetime(1999, 12, 31, tzinfo=UTC)]
    stamps = timestamp_bytes([(t - EPOCH) // timedelta(microseconds=1) for t in when])
    prices, labels = [1.5, -0.0], ["ü", ""]
    fields = view_read_fields("shop_stats", ["price", "label"])
    for key, stamp, price, label in zip(keys.keys([(s,) for s in shops]), stamps, prices, labels):
        redis10.hset(key, mapping={fields[0]: Value(double_val=price).SerializeToString(),
                                   fields[1]: Value(string_val=label).SerializeToString(),
                                   fields[2]: stamp})
    entity_keys = [EntityKey(join_keys=["shop_id"], entity_values=[Value(string_val=s)])
                   for s in shops]
    got = RedisOnlineStore().online_read(config, view, entity_keys, ["price", "label"])
    assert [t for t, _ in got] == when
    assert [(v["price"].double_val, v["label"].string_val) for _, v in got] == list(
        zip(prices, labels))
