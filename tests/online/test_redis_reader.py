"""The direct Redis reader against Feast's own reads, on the real Redis of the ``online``
fixture: identical values and statuses for present, null, missing, expired and future rows,
every feature type, member and title rows in one request; Feast's exact key bytes; precise
errors for bad entity values."""

from __future__ import annotations

import math
from datetime import timedelta
from types import SimpleNamespace

import pandas as pd
import pytest
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType

from encoders import load
from online_store.layout import EntityKeys
from serving.online import EXPIRED, FUTURE, MISSING, PRESENT, OnlineEncoder
from serving.redis_reader import NOT_FOUND, RedisReader

NEW_MEMBER, NEW_TITLE = 1_999_999_000, 1_999_999_500  # ids the tiny data never uses


def _same(a: object, b: object) -> bool:
    """Equal, NaN equal to NaN, and of the same type (1 is not 1.0 here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def _feast_key(join_keys, values, types, project="skewless") -> bytes:
    protos = [python_values_to_proto_values([v], t)[0] for v, t in zip(values, types)]
    return serialize_entity_key(EntityKey(join_keys=list(join_keys), entity_values=protos),
                                entity_key_serialization_version=3) + project.encode()


@pytest.mark.parametrize("join_keys, types, entities", [
    (("member_id",), (ValueType.INT64,), [(0,), (1,), (-1,), (2**63 - 1,), (-(2**63),),
                                          (1000022,)]),
    (("k",), (ValueType.INT32,), [(0,), (-5,), (2**31 - 1,)]),
    (("s",), (ValueType.STRING,), [("",), ("abc",), ("Télénovela ✓",)]),
    (("title_id", "member_id"), (ValueType.INT64, ValueType.INT64), [(1, 2), (500000, 1000022)]),
    (("zeta", "alpha"), (ValueType.STRING, ValueType.INT64), [("x", 7), ("ü", -3)]),
    (("b",), (ValueType.BYTES,), [(b"\x00\xff",)]),  # Feast's own serialization path
])
def test_keys_are_feasts_bytes(join_keys, types, entities) -> None:
    builder = EntityKeys("v", join_keys, types, "skewless", 3)
    got = builder.keys(entities, list(range(len(entities))))
    assert got == [_feast_key(join_keys, e, types) for e in entities]


@pytest.mark.parametrize("kind, value, message", [
    (ValueType.INT64, "12", "is not an integer"),
    (ValueType.INT64, True, "is not an integer"),
    (ValueType.INT64, 1.5, "is not an integer"),
    (ValueType.INT64, 2**63, "outside the INT64 range"),
    (ValueType.INT32, 2**31, "outside the INT32 range"),
    (ValueType.STRING, 5, "is not a string"),
])
def test_bad_entity_values_name_row_key_and_fix(kind, value, message) -> None:
    builder = EntityKeys("member_features", ("member_id",), (kind,), "skewless", 3)
    with pytest.raises(ValueError, match=message) as info:
        builder.keys([("a",) if kind == ValueType.STRING else (1,), (value,)], [0, 3])
    assert "entity row 3" in str(info.value) and "member_id" in str(info.value)


@pytest.fixture(scope="module")
def readers(online):
    enc = load(online["settings"].state_path)
    return (OnlineEncoder(online["store"], enc, reader="redis"),
            OnlineEncoder(online["store"], enc, reader="feast"))


@pytest.fixture(scope="module")
def extra_rows(online, readers):
    """Rows Feast itself writes beside the materialized ones, removed afterwards: null values
    (every type), a row from the future of the request and one already expired."""
    last, ttl = online["last_snapshot"], online["ttl"]
    store = online["store"]
    member_df = pd.DataFrame({
        "member_id": [NEW_MEMBER, NEW_MEMBER + 1, NEW_MEMBER + 2],
        "event_timestamp": [last, last + timedelta(days=1), last - ttl - timedelta(days=1)],
        "created_timestamp": [last] * 3,
        "watch_minutes_7d": [None, 12.5, 3.0], "watch_minutes_28d": [None, 40.0, 9.0],
        "titles_started_7d": pd.array([None, 3, 1], dtype="Int64"),
        "completion_rate_28d": [None, 0.5, 0.2], "top_genre_28d": [None, "Drama", "Kids"],
        "last_watch_ts": [None, last, last - ttl],
        "thumbs_up_ratio": [None, 0.9, 0.1], "country": [None, "US", "BR"],
        "plan": [None, "basic", "premium"],
        "tenure_days": pd.array([None, 30, 300], dtype="Int64"),
    })
    title_df = pd.DataFrame({
        "title_id": [NEW_TITLE, NEW_TITLE + 1], "event_timestamp": [last, last],
        "created_timestamp": [last, last],
        "title_plays_7d": pd.array([None, 5], dtype="Int64"),
        "title_completion_rate_28d": [None, 0.7], "title_thumbs_up_rate": [None, 0.8],
        "title_genre": [None, "Comedy"], "release_year": pd.array([None, 2001], dtype="Int64"),
        "maturity_rating": [None, "PG"], "runtime_minutes": pd.array([None, 95], dtype="Int64"),
    })
    store.write_to_online_store("member_features", member_df)
    store.write_to_online_store("title_features", title_df)
    yield
    keys = [_feast_key(("member_id",), (m,), (ValueType.INT64,)) for m in member_df.member_id]
    keys += [_feast_key(("title_id",), (t,), (ValueType.INT64,)) for t in title_df.title_id]
    online["redis"].delete(*keys)


def _request_rows(online) -> list[dict]:
    labels = online["labels"].select("member_id", "title_id").distinct()
    rows = [{"member_id": r["member_id"], "title_id": r["title_id"]}
            for r in labels.orderBy("member_id", "title_id").limit(150).collect()]
    member = rows[0]["member_id"]
    rows += [{"member_id": member, "title_id": 500000 + i} for i in range(100)]  # 1 x 100
    rows += [{"member_id": NEW_MEMBER + i, "title_id": NEW_TITLE + i % 2} for i in range(3)]
    rows += [{"member_id": 999_999_999, "title_id": rows[0]["title_id"]},  # unknown member
             {"member_id": member, "title_id": 999_999_999},  # unknown title
             {"member_id": 999_999_998, "title_id": 999_999_998}]
    return rows + rows[:5]  # duplicates in one request


def test_direct_reader_equals_feast_reader(online, readers, extra_rows) -> None:
    direct, feast = readers
    rows = _request_rows(online)
    last, ttl = online["last_snapshot"], online["ttl"]
    seen: set[str] = set()
    kinds: set[type] = set()
    for when in (last - timedelta(microseconds=1), last, last + timedelta(hours=12),
                 last + ttl, last + ttl + timedelta(microseconds=1)):
        d_values, d_status = direct.lookup(rows, when)
        f_values, f_status = feast.lookup(rows, when)
        assert d_status == f_status, when
        assert len(d_values) == len(f_values) == len(rows)
        for i, (dv, fv) in enumerate(zip(d_values, f_values)):
            assert list(dv) == list(fv), (when, i)
            bad = [k for k in dv if not _same(dv[k], fv[k])]
            assert not bad, (when, rows[i], {k: (dv[k], fv[k]) for k in bad})
            kinds.update(type(v) for v in dv.values())
        seen.update(s for st in d_status for s in st.values())
        d_enc = direct.encode(rows, when, {"device": "tv"})
        f_enc = feast.encode(rows, when, {"device": "tv"})
        assert [r.statuses for r in d_enc] == [r.statuses for r in f_enc]
        assert all(len(a.values) == len(b.values) and all(map(_same, a.values, b.values))
                   for a, b in zip(d_enc, f_enc))
    assert {PRESENT, MISSING, EXPIRED, FUTURE} <= seen
    assert {int, float, str, type(None)} <= kinds and any("datetime" in k.__name__
                                                          for k in kinds)
    at_noon, _ = direct.lookup(rows, last + timedelta(hours=12))
    nulls = at_noon[-8]  # NEW_MEMBER, written with null values of every type
    assert all(nulls[f] is None for f in direct.views[0].features)


def test_one_request_mixes_every_status(online, readers, extra_rows) -> None:
    direct, _ = readers
    when = online["last_snapshot"] + timedelta(hours=12)
    rows = [{"member_id": NEW_MEMBER + i, "title_id": NEW_TITLE} for i in range(3)]
    rows.append({"member_id": 999_999_999, "title_id": NEW_TITLE + 1})
    _, statuses = direct.lookup(rows, when)
    assert [s["member_features"] for s in statuses] == [PRESENT, FUTURE, EXPIRED, MISSING]
    assert {s["title_features"] for s in statuses} == {PRESENT}
    raw = direct.read(rows)
    assert raw[0].codes[raw[0].index[3]] == NOT_FOUND  # Feast would say PRESENT, stamp 0


def test_encode_equals_encoder_set_on_lookup_output(online, readers, extra_rows) -> None:
    """encode() is the encoder set applied to lookup()'s rows (context, then the row's own
    keys, then the features): no second implementation of the encoders. Checked with rows
    that carry no keys of their own (shared work done once per request) and with a row that
    overrides the context."""
    direct, _ = readers
    plain = _request_rows(online)
    mixed = list(plain)
    mixed[1] = {**mixed[1], "device": "mobile"}  # a row's own key overrides the context
    when = online["last_snapshot"] + timedelta(hours=6)
    for rows in (plain, mixed):
        values, statuses = direct.lookup(rows, when)
        encoded = direct.encode(rows, when, {"device": "tv"})
        for row, vals, st, got in zip(rows, values, statuses, encoded):
            extra = {k: v for k, v in row.items() if k not in direct.entity_keys}
            expected = direct.enc.encode_values({"device": "tv", **extra, **vals}, when)
            assert got.statuses == st
            assert len(got.values) == len(expected) and all(map(_same, got.values, expected))
    assert encoded[1].values != direct.encode(plain[1:2], when, {"device": "tv"})[0].values


def test_cache_never_changes_an_answer(online, readers) -> None:
    direct, _ = readers
    rows = _request_rows(online)
    small = RedisReader(online["store"], direct.views, cache_size=7)
    none = RedisReader(online["store"], direct.views, cache_size=0)
    a, b, c = direct._redis.read(rows), small.read(rows), none.read(rows)
    assert len(small._values) <= 7 and all(len(c) <= 7 for c in small._rows)
    assert not none._values and not any(none._rows)
    for x, y, z in zip(a, b, c):
        assert list(x.codes) == list(y.codes) == list(z.codes)
        assert list(x.stamps_us) == list(y.stamps_us) == list(z.stamps_us)
        assert all(all(map(_same, p, q)) and all(map(_same, p, r))
                   for p, q, r in zip(x.values, y.values, z.values))
    with pytest.raises(ValueError, match="cache_size"):
        RedisReader(online["store"], direct.views, cache_size=-1)


def test_bad_input_is_named(online, readers) -> None:
    direct, _ = readers
    with pytest.raises(ValueError, match=r"entity row 1: member_id='7' is not an integer"):
        direct.encode([{"member_id": 1, "title_id": 2}, {"member_id": "7", "title_id": 2}],
                      online["last_snapshot"])
    with pytest.raises(ValueError, match=r"entity row 1: member_id=1.0 is not an integer"):
        direct.encode([{"member_id": 1, "title_id": 2}, {"member_id": 1.0, "title_id": 2}],
                      online["last_snapshot"])
    with pytest.raises(ValueError, match="lacks"):
        direct.encode([{"member_id": 1}], online["last_snapshot"])
    with pytest.raises(ValueError, match="reader="):
        OnlineEncoder(online["store"], direct.enc, reader="fast")
    not_redis = SimpleNamespace(config=online["store"].config,
                                _get_provider=lambda: SimpleNamespace(online_store=object()))
    with pytest.raises(ValueError, match="reader='feast'"):
        RedisReader(not_redis, direct.views)
    assert direct.encode([], online["last_snapshot"]) == []


def _same_rows(a, b) -> bool:
    return all(list(x.index) == list(y.index) and list(x.codes) == list(y.codes)
               and list(x.stamps_us) == list(y.stamps_us) and list(x.tokens) == list(y.tokens)
               and all(all(map(_same, p, q)) for p, q in zip(x.values, y.values))
               for x, y in zip(a, b))


def test_script_and_pipeline_transports_read_the_same(online, readers, extra_rows) -> None:
    """One EVALSHA and the pipelined HMGETs give identical replies (nulls, unknown keys,
    duplicates included); a bad transport is named."""
    direct, _ = readers
    rows = _request_rows(online)
    script = RedisReader(online["store"], direct.views, cache_size=0, transport="script")
    pipeline = RedisReader(online["store"], direct.views, cache_size=0, transport="pipeline")
    assert direct._redis.transport == "script"  # the default on one Redis server
    assert _same_rows(script.read(rows), pipeline.read(rows))
    assert _same_rows(script.read(rows[:1]), pipeline.read(rows[:1]))
    with pytest.raises(ValueError, match="transport='lua'.*'script'.*'pipeline'"):
        RedisReader(online["store"], direct.views, transport="lua")


def test_a_server_refusing_scripts_is_read_by_pipeline(online, readers, caplog) -> None:
    """A Redis user without scripting rights (ACL ``-@scripting`` on the real server): the
    first read warns once and falls back to the pipeline, with the same answer."""
    import redis

    direct, _ = readers
    rows = _request_rows(online)[:20]
    admin = online["redis"]
    user = "skewless_test_noscript"
    admin.acl_setuser(user, enabled=True, passwords=["+pw"], keys=["*"],
                      commands=["+@all", "-@scripting"])
    try:
        kwargs = admin.connection_pool.connection_kwargs
        limited = redis.Redis(host=kwargs["host"], port=kwargs["port"], db=kwargs["db"],
                              username=user, password="pw")
        reader = RedisReader(online["store"], direct.views, cache_size=0, transport="script")
        expected = reader.read(rows)
        reader.client = limited
        reader._script = limited.register_script(reader._script.script)
        with caplog.at_level("WARNING", logger="skewless.serving"):
            got = reader.read(rows)
        assert reader.transport == "pipeline" and reader._script is None
        assert "refused the read script" in caplog.text and "EVALSHA" in caplog.text
        assert _same_rows(got, expected)
        limited.close()
    finally:
        admin.acl_deluser(user)


def test_encoded_outputs_cache_never_changes_an_answer(online, readers, extra_rows) -> None:
    """Outputs kept per values token (view groups without the request time) equal a fresh
    encode, over requests at several times and with a cache small enough to be cleared."""
    direct, _ = readers
    rows = _request_rows(online)
    last, ttl = online["last_snapshot"], online["ttl"]
    fresh = OnlineEncoder(online["store"], direct.enc, cache_size=0)
    small = OnlineEncoder(online["store"], direct.enc, cache_size=5)
    assert any(m is not None for m in direct._plan._memo)
    assert all(m is None for m in fresh._plan._memo)
    for when in (last, last + timedelta(hours=5), last + ttl + timedelta(microseconds=1)):
        expected = fresh.encode(rows, when, {"device": "tv"})
        for online_encoder in (direct, small, direct):  # the second pass reads the cache
            got = online_encoder.encode(rows, when, {"device": "tv"})
            assert [r.statuses for r in got] == [r.statuses for r in expected]
            assert all(all(map(_same, a.values, b.values)) for a, b in zip(got, expected))
    assert all(m is None or len(m) <= 5 for m in small._plan._memo)
