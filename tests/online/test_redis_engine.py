"""The engine's bytes and overwrite rule, without Spark.

* ``materialization.redis_values`` gives Feast's exact bytes for every scalar feature type (nulls,
  NaN, ±inf, ±0.0, subnormals, extreme ints, unicode, timestamps before 1970 and in year 9999),
  compared with Feast's own engine conversion (``feast.utils._columns_to_proto_values``), and
  with Feast's serializer on the right Python value where Feast's engines are wrong (a null
  timestamp, big ints in a column with nulls).
* ``materialization.redis_writer.write_batch`` on a real Redis server (DB 13 of 127.0.0.1:6379,
  flushed): new keys land, an equal pair is rewritten, an older pair is skipped, a restatement
  (same event time, later created time) lands, a key written by Feast (no ``_created_ts``) is
  overwritten by the same event time.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pytest
import redis
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.type_map import python_values_to_proto_values
from feast.utils import _columns_to_proto_values
from feast.value_type import ValueType
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from materialization.redis_values import timestamp_micros, value_bytes
from materialization.redis_writer import (
    SerializedRows,
    ViewWritePlan,
    WriteStats,
    write_batch,
    write_rows,
)
from online_store.layout import EntityKeys, timestamp_bytes
from tests.real_redis import TEST_REDIS_PORT, real_redis


def entity_key_bytes(batch: pa.RecordBatch, join_keys: dict, project: str) -> list[bytes]:
    """The writer's keys for ``batch`` (:meth:`EntityKeys.column_keys`, version 3)."""
    return EntityKeys("v", list(join_keys), list(join_keys.values()), project,
                      3).column_keys(batch)


UTC = timezone.utc
BIG = [2**63 - 1, -(2**63), 2**53 + 1, -(2**53) - 1, 0, -1, 1, 127, 128, 300]
COLUMNS: dict[str, tuple[pa.Array, ValueType]] = {
    "int64": (pa.array(BIG, pa.int64()), ValueType.INT64),
    "int64_small_nulls": (pa.array([5, None, -7, 5, None, 0, 1, 2, 3, 4], pa.int64()),
                          ValueType.INT64),
    "int32": (pa.array([2**31 - 1, -(2**31), 0, -1, None, 1, 2, 3, 4, 5], pa.int32()),
              ValueType.INT32),
    "double": (pa.array([1.5, float("nan"), None, float("inf"), float("-inf"), 0.0, -0.0,
                         5e-324, 1.7976931348623157e308, -2.5], pa.float64()), ValueType.DOUBLE),
    "double_from_int": (pa.array([1, 2, None, -3, 0, 2**40, 7, 8, 9, 10], pa.int64()),
                        ValueType.DOUBLE),
    "float": (pa.array([1.5, float("nan"), None, float("inf"), float("-inf"), 0.0, -0.0,
                        1e-45, 3.4e38, 0.1], pa.float32()), ValueType.FLOAT),
    "string": (pa.array(["", "a", None, "Ünïcödé", "😀 emoji", "a", "x" * 300, "\x00nul",
                         "  spaced ", "日本"]), ValueType.STRING),
    "bytes": (pa.array([b"", b"\x00\xff", None, b"abc", b"abc", b"\x80", b"z" * 200, b"1",
                        b"2", b"3"]), ValueType.BYTES),
    "bool": (pa.array([True, False, None, True, False, True, True, False, None, True]),
             ValueType.BOOL),
    "timestamp": (pa.array([datetime(2024, 1, 1, tzinfo=UTC),
                            datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
                            datetime(1970, 1, 1, tzinfo=UTC),
                            datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                            datetime(1, 1, 1, tzinfo=UTC),
                            datetime(2024, 6, 1, 12, 0, 0, 999999, tzinfo=UTC),
                            datetime(2024, 1, 1, tzinfo=UTC), datetime(2000, 2, 29, tzinfo=UTC),
                            datetime(2024, 3, 31, 1, 30, tzinfo=UTC),
                            datetime(1900, 1, 1, 0, 0, 0, 1, tzinfo=UTC)],
                           pa.timestamp("us", tz="UTC")), ValueType.UNIX_TIMESTAMP),
    "timestamp_ns_other_zone": (pa.array([0, 1_500_000_000, -1, 10**18, 1, 2, 3, 4, 5, 6],
                                         pa.timestamp("ns", tz="Europe/Paris")),
                                ValueType.UNIX_TIMESTAMP),
}


def _feast_engine_bytes(column: pa.Array, value_type: ValueType) -> list[bytes]:
    """What Feast's local and Spark engines write for this column."""
    batch = pa.RecordBatch.from_arrays([column], names=["c"])
    return [p.SerializeToString()
            for p in _columns_to_proto_values(batch, [("c", value_type)])["c"]]


def _feast_python_bytes(values: list, value_type: ValueType) -> list[bytes]:
    """Feast's serializer on Python values, cell by cell (None → the empty message)."""
    return [b"" if v is None else python_values_to_proto_values([v], value_type)[0]
            .SerializeToString() for v in values]


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_value_bytes_equal_feast_engine_bytes(name: str) -> None:
    column, value_type = COLUMNS[name]
    got = value_bytes(column, value_type)
    assert len(got) == len(column)
    assert got == _feast_engine_bytes(column, value_type)
    assert value_bytes(pa.chunked_array([column[:4], column[4:]]), value_type) == got


def test_value_bytes_where_feast_engines_are_wrong() -> None:
    """A null timestamp: Feast's engines store -2**63; the right bytes are Feast's null.
    Big ints next to a null: Feast's engines round them through float64; ours stay exact."""
    stamps = pa.array([datetime(2024, 1, 1, tzinfo=UTC), None], pa.timestamp("us", tz="UTC"))
    assert _feast_engine_bytes(stamps, ValueType.UNIX_TIMESTAMP)[1] != b""  # Feast's bug
    assert value_bytes(stamps, ValueType.UNIX_TIMESTAMP) == _feast_python_bytes(
        [1704067200, None], ValueType.UNIX_TIMESTAMP)
    ints = pa.array([2**62 + 1, None, -(2**63)], pa.int64())
    assert _feast_engine_bytes(ints, ValueType.INT64)[0] != _feast_python_bytes(
        [2**62 + 1], ValueType.INT64)[0]  # Feast's rounding
    assert value_bytes(ints, ValueType.INT64) == _feast_python_bytes(
        [2**62 + 1, None, -(2**63)], ValueType.INT64)


_BOUNDARIES = sorted({v for k in range(10) for b in (2 ** (7 * k), -(2 ** (7 * k)))
                      for v in (b - 1, b, b + 1) if -(2**63) <= v < 2**63})


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1),
                                 st.sampled_from(_BOUNDARIES)), max_size=40),
       arrow_type=st.sampled_from([pa.int64(), pa.int32(), pa.int16(), pa.int8()]),
       value_type=st.sampled_from([ValueType.INT64, ValueType.UNIX_TIMESTAMP]))
def test_varint_values_equal_feast_python_bytes(values, arrow_type, value_type) -> None:
    """Hand-built varints (INT64 / UNIX_TIMESTAMP from signed int columns) are Feast's bytes
    for any int64, every varint length boundary, nulls, and narrower int columns."""
    info = np.iinfo(arrow_type.to_pandas_dtype())
    values = [v if v is None or info.min <= v <= info.max else v % (info.max + 1)
              for v in values]
    assert value_bytes(pa.array(values, arrow_type), value_type) == _feast_python_bytes(
        values, value_type)


def test_value_bytes_edge_shapes() -> None:
    assert value_bytes(pa.array([], pa.float64()), ValueType.DOUBLE) == []
    assert value_bytes(pa.array([None, None], pa.string()), ValueType.STRING) == [b"", b""]
    assert value_bytes(pa.array([None, None], pa.float64()), ValueType.DOUBLE) == [b"", b""]
    lists = pa.array([[1, 2], None, []], pa.list_(pa.int64()))  # fallback: Feast per cell
    assert value_bytes(lists, ValueType.INT64_LIST) == _feast_engine_bytes(
        lists, ValueType.INT64_LIST)


def test_timestamp_bytes_equal_feast_from_datetime() -> None:
    moments = [datetime(2024, 1, 25, tzinfo=UTC), datetime(2024, 1, 25, 0, 0, 0, 1, tzinfo=UTC),
               datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
               datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999,
                                                          tzinfo=UTC)]
    column = pa.array(moments + [None], pa.timestamp("us", tz="UTC"))
    want = []
    for moment in moments:
        ts = Timestamp()
        ts.FromDatetime(moment)  # what Feast's online_write_batch stores in _ts:<view>
        want.append(ts.SerializeToString())
    assert timestamp_bytes(timestamp_micros(column)) == [*want, b""]
    with pytest.raises(TypeError, match="timestamp"):
        timestamp_micros(pa.array([1]))


def test_entity_key_bytes_equal_feast_redis_keys() -> None:
    ids = [0, 1, -1, 2**63 - 1, -(2**63), 1000022]
    batch = pa.RecordBatch.from_pydict({"member_id": pa.array(ids, pa.int64())})
    want = [serialize_entity_key(EntityKey(join_keys=["member_id"], entity_values=[
        python_values_to_proto_values([i], ValueType.INT64)[0]]), 3) + b"skewless" for i in ids]
    assert entity_key_bytes(batch, {"member_id": ValueType.INT64}, "skewless") == want
    both = pa.RecordBatch.from_pydict({"b": ["x", "ü"], "a": pa.array([1, 2], pa.int64())})
    keys = {"b": ValueType.STRING, "a": ValueType.INT64}
    want = [serialize_entity_key(EntityKey(join_keys=["b", "a"], entity_values=[
        python_values_to_proto_values([b], ValueType.STRING)[0],
        python_values_to_proto_values([a], ValueType.INT64)[0]]), 3) + b"p"
        for b, a in [("x", 1), ("ü", 2)]]
    assert entity_key_bytes(both, keys, "p") == want
    with pytest.raises(ValueError, match="member_id.*nulls"):
        entity_key_bytes(pa.RecordBatch.from_pydict({"member_id": pa.array([1, None])}),
                         {"member_id": ValueType.INT64}, "p")


# ----------------------------------------------------------------------------- the rule
PLAN = ViewWritePlan(project="rules", view="v", join_keys=(("id", ValueType.INT64),),
                     features=(("x", ValueType.DOUBLE),), feature_fields=(b"\x01\x02\x03\x04",),
                     event_column="event_timestamp", created_column="created_timestamp",
                     entity_key_version=3, key_ttl_seconds=None, chunk_rows=2)
DAY = datetime(2024, 1, 25, tzinfo=UTC)


@pytest.fixture(params=["script", "pipeline"])
def plan(request: pytest.FixtureRequest) -> ViewWritePlan:
    """The rule tests run for both ways of talking to Redis."""
    return dataclasses.replace(PLAN, method=request.param)


@pytest.fixture()
def client() -> redis.Redis:
    client = real_redis(13)
    client.flushdb()
    yield client
    client.flushdb()


def _batch(rows: list[tuple[int, float, datetime, datetime | None]]) -> pa.RecordBatch:
    ids, xs, events, created = zip(*rows)
    stamp = pa.timestamp("us", tz="UTC")
    return pa.RecordBatch.from_pydict({"id": pa.array(ids, pa.int64()), "x": list(xs),
                                       "event_timestamp": pa.array(events, stamp),
                                       "created_timestamp": pa.array(created, stamp)})


def _x(client: redis.Redis, entity: int) -> bytes | None:
    key = entity_key_bytes(pa.RecordBatch.from_pydict({"id": pa.array([entity], pa.int64())}),
                           {"id": ValueType.INT64}, "rules")[0]
    return client.hget(key, b"\x01\x02\x03\x04")


def test_write_batch_applies_the_created_timestamp_rule(client: redis.Redis,
                                                        plan: ViewWritePlan) -> None:
    one, two = value_bytes(pa.array([1.0, 2.0]), ValueType.DOUBLE)
    first = write_batch(client, plan, _batch([(1, 1.0, DAY, DAY), (2, 1.0, DAY, None),
                                              (3, 1.0, DAY, DAY)]))
    assert (first.rows, first.written, first.stale) == (3, 3, 0) and client.dbsize() == 3
    before = {k: client.hgetall(k) for k in client.keys()}
    again = write_batch(client, plan, _batch([(1, 1.0, DAY, DAY), (2, 1.0, DAY, None),
                                              (3, 1.0, DAY, DAY)]))
    assert again.written == 3 and {k: client.hgetall(k) for k in client.keys()} == before
    later = DAY + timedelta(hours=6)
    mixed = write_batch(client, plan, _batch([
        (1, 2.0, DAY, later),                         # restatement: lands
        (2, 2.0, DAY, DAY),                           # created known vs stored null: lands
        (3, 2.0, DAY - timedelta(days=1), later),     # older event time: skipped
        (4, 2.0, DAY, DAY)]))                         # new key
    assert (mixed.written, mixed.stale) == (3, 1)
    assert [_x(client, i) for i in (1, 2, 3, 4)] == [two, two, one, two]
    older = write_batch(client, plan, _batch([(1, 1.0, DAY, DAY)]))  # the pre-restatement row
    assert (older.written, older.stale) == (0, 1) and _x(client, 1) == two
    empty = _batch([(1, 1.0, DAY, DAY)]).slice(0, 0)
    assert write_batch(client, plan, empty) == WriteStats(0, 0, 0, 0.0)


def test_write_batch_overwrites_a_key_feast_wrote(client: redis.Redis, plan: ViewWritePlan) -> None:
    """A key written by Feast's engine has no _created_ts: the same event time replaces it."""
    key = entity_key_bytes(pa.RecordBatch.from_pydict({"id": pa.array([9], pa.int64())}),
                           {"id": ValueType.INT64}, "rules")[0]
    ts = Timestamp()
    ts.FromDatetime(DAY)
    client.hset(key, mapping={b"_ts:v": ts.SerializeToString(), b"\x01\x02\x03\x04": b"old"})
    stats = write_batch(client, plan, _batch([(9, 2.0, DAY, DAY)]))
    assert (stats.written, stats.stale) == (1, 0)
    assert _x(client, 9) == value_bytes(pa.array([2.0]), ValueType.DOUBLE)[0]
    assert client.hget(key, b"_created_ts:v") == timestamp_bytes(
        timestamp_micros(pa.array([DAY], pa.timestamp("us", tz="UTC"))))[0]
    with pytest.raises(KeyError, match="created_timestamp"):
        write_batch(client, plan, _batch([(9, 2.0, DAY, DAY)]).drop_columns(
            ["created_timestamp"]))
    with pytest.raises(ValueError, match="chunk_rows"):
        ViewWritePlan.for_view(None, None, "e", None, 0)


def test_write_batch_keeps_the_newest_row_of_a_repeated_entity(client: redis.Redis,
                                                               plan: ViewWritePlan) -> None:
    """An entity twice in one batch: only its newest (event, created) row is compared and
    written, wherever it sits in the batch; a tie goes to the later row."""
    later = DAY + timedelta(hours=1)
    stats = write_batch(client, plan, _batch([
        (1, 2.0, DAY, later), (2, 1.0, DAY, DAY), (1, 1.0, DAY, DAY),     # restated first
        (3, 1.0, DAY, None), (3, 2.0, DAY, DAY),                         # null created oldest
        (4, 1.0, DAY, DAY), (4, 2.0, DAY, DAY)]))                        # tie: the later row
    assert (stats.rows, stats.written, stats.stale) == (7, 4, 3)
    two = value_bytes(pa.array([2.0]), ValueType.DOUBLE)[0]
    assert [_x(client, i) for i in (1, 3, 4)] == [two, two, two]


def test_script_and_pipeline_write_the_same_redis(client: redis.Redis) -> None:
    """Many slices (chunk_rows=2: slices of 8 rows) with mixed outcomes and a key ttl: the two
    methods leave byte-identical Redis, including the EXPIRE; the scripts are loaded again
    after SCRIPT FLUSH."""
    rows = [(i, float(i), DAY - timedelta(days=i % 3), DAY if i % 4 else None)
            for i in range(50)]
    newer = [(i, -1.0, DAY - timedelta(days=1), DAY + timedelta(days=1)) for i in range(0, 50, 5)]
    snapshots = []
    for method in ("script", "pipeline"):
        client.flushdb()
        client.script_flush()
        plan = dataclasses.replace(PLAN, method=method, key_ttl_seconds=3600)
        first = write_batch(client, plan, _batch(rows))
        second = write_batch(client, plan, _batch(newer))
        snapshots.append({k: client.hgetall(k) for k in sorted(client.keys())})
        ttls = {client.ttl(k) for k in client.keys()}
        assert (first.written, second.written, second.stale) == (50, 6, 4), method
        assert len(snapshots[-1]) == 50 and ttls and all(3500 < t <= 3600 for t in ttls)
    assert snapshots[0] == snapshots[1]


def test_rows_serialized_once_write_as_write_batch_writes_them(client: redis.Redis,
                                                               plan: ViewWritePlan) -> None:
    """Serialized once, then subsets written (:meth:`SerializedRows.take` + ``write_rows``,
    the parity check's steps): the same Redis bytes and counts as ``write_batch`` of those
    rows, the overwrite rule included."""
    rows = [(i, float(i), DAY - timedelta(days=i % 3), DAY if i % 4 else None)
            for i in range(20)]
    once = SerializedRows.of(plan, _batch(rows))
    newer = [(i, -1.0, DAY - timedelta(days=1), DAY + timedelta(days=1)) for i in range(20)]
    newer_once = SerializedRows.of(plan, _batch(newer))
    picks = ([3, 0, 17, 9], [0, 1, 2, 3, 4, 5, 6])
    snapshots, stats = [], []
    for way in ("write_batch", "write_rows"):
        client.flushdb()
        for pick in picks:
            if way == "write_batch":
                stats.append(write_batch(client, plan, _batch([rows[i] for i in pick])))
                stats.append(write_batch(client, plan, _batch([newer[i] for i in pick])))
            else:
                stats.append(write_rows(client, plan, [once.take(pick)]))
                stats.append(write_rows(client, plan, [newer_once.take(pick)]))
        snapshots.append({k: client.hgetall(k) for k in sorted(client.keys())})
    half = len(stats) // 2
    assert [(s.rows, s.written, s.stale) for s in stats[:half]] == [
        (s.rows, s.written, s.stale) for s in stats[half:]]
    assert sum(s.stale for s in stats[:half]) > 0  # the rule refused some older rows
    assert snapshots[0] == snapshots[1] and len(snapshots[0]) == 9


def test_a_user_without_scripting_gets_an_error_naming_the_fix(client: redis.Redis) -> None:
    """ACLs that deny @scripting: the script method says to use `write_method: pipeline`, which
    then works for the same user."""
    user, password = "skewless_test_noscript", "pw-noscript"
    client.acl_setuser(user, enabled=True, passwords=[f"+{password}"], keys=["*"],
                       commands=["+@all", "-@scripting"], reset=True)
    try:
        limited = redis.Redis(host="127.0.0.1", port=TEST_REDIS_PORT, db=13, username=user,
                              password=password)
        rows = _batch([(1, 1.0, DAY, DAY), (2, 1.0, DAY, DAY)])
        with pytest.raises(RuntimeError, match="write_method: pipeline.*@scripting"):
            write_batch(limited, PLAN, rows)
        assert client.dbsize() == 0
        stats = write_batch(limited, dataclasses.replace(PLAN, method="pipeline"), rows)
        assert stats.written == 2 and client.dbsize() == 2
    finally:
        client.acl_deluser(user)
