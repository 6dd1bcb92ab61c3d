"""The per-view watermark (``online_store/watermark.py``) on a real Redis server: what
``advance`` stores, that it never moves back, and what ``read_watermarks`` reports when the
rows under it are gone or the hash is unreadable."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from online_store.layout import event_field, watermark_key
from online_store.watermark import (
    ENGINE_TYPE,
    PROBES,
    Watermark,
    advance,
    batch_engine_type,
    delete_watermarks,
    read_watermarks,
    smallest_keys,
    writes_watermarks,
)
from tests.real_redis import real_redis

DB = 8
T = datetime(2024, 2, 5, tzinfo=timezone.utc)


@pytest.fixture()
def client():
    c = real_redis(DB)
    c.flushdb()
    yield c
    c.flushdb()


def _rows(client, view: str, keys: list[bytes]) -> None:
    for key in keys:
        client.hset(key, event_field(view), b"\x08\x01")


def test_smallest_keys_are_distinct_sorted_and_order_free() -> None:
    keys = [b"k5", b"k1", b"k3", b"k1", b"k9", b"k2"]
    assert smallest_keys(keys) == (b"k1", b"k2", b"k3")
    assert smallest_keys(reversed(keys)) == smallest_keys(keys)
    assert smallest_keys([b"a"]) == (b"a",) and smallest_keys([]) == ()


def test_advance_stores_end_rows_and_probes_and_read_finds_them(client) -> None:
    _rows(client, "v", [b"a", b"b", b"c"])
    stored = advance(client, "proj", "v", T, 3, smallest_keys([b"c", b"b", b"a"]))
    assert stored == Watermark(T, 3, (b"a", b"b", b"c"))
    raw = client.hgetall(watermark_key("proj", "v"))
    assert raw[b"end"] == b"2024-02-05T00:00:00+00:00" and raw[b"rows"] == b"3"
    got = read_watermarks(client, "proj", ["v", "other"])
    assert got["v"].watermark == stored and got["v"].missing_probes == ()
    assert got["other"].watermark is None and got["other"].error is None


def test_an_older_interval_never_moves_the_watermark_back(client) -> None:
    advance(client, "proj", "v", T, 3, (b"a",))
    kept = advance(client, "proj", "v", T - timedelta(days=3), 9, (b"z",))
    assert kept == Watermark(T, 3, (b"a",))
    assert read_watermarks(client, "proj", ["v"])["v"].watermark == kept


def test_a_run_without_rows_moves_the_end_and_keeps_the_probes(client) -> None:
    advance(client, "proj", "v", T, 3, (b"a", b"b"))
    later = T + timedelta(days=1)
    assert advance(client, "proj", "v", later, 0, ()) == Watermark(later, 0, (b"a", b"b"))
    fewer = advance(client, "proj", "v", later, 1, (b"c",))
    assert fewer.probes == (b"c",)  # the stale probe fields are emptied, not left behind
    assert client.hget(watermark_key("proj", "v"), f"probe:{PROBES - 1}") == b""


def test_probe_keys_without_the_views_rows_are_reported(client) -> None:
    _rows(client, "v", [b"a", b"b"])
    client.hset(b"c", event_field("other_view"), b"x")  # the key exists, not for this view
    advance(client, "proj", "v", T, 3, (b"a", b"b", b"c"))
    client.delete(b"a")
    got = read_watermarks(client, "proj", ["v"])["v"]
    assert got.missing_probes == (b"a", b"c")


def test_an_unreadable_watermark_is_reported_then_replaced(client) -> None:
    client.hset(watermark_key("proj", "v"), mapping={"end": "yesterday", "rows": "3"})
    got = read_watermarks(client, "proj", ["v"])["v"]
    assert got.watermark is None and "end" in got.error
    client.hset(watermark_key("proj", "v"), "end", "2024-02-05T00:00:00")  # no offset
    assert "UTC offset" in read_watermarks(client, "proj", ["v"])["v"].error
    assert advance(client, "proj", "v", T, 1, ()) == Watermark(T, 1)
    assert read_watermarks(client, "proj", ["v"])["v"].error is None


def test_naive_end_ttl_and_delete(client) -> None:
    with pytest.raises(ValueError, match="naive"):
        advance(client, "proj", "v", datetime(2024, 2, 5), 1, ())
    advance(client, "proj", "v", T, 1, (), ttl_seconds=100)
    assert 0 < client.ttl(watermark_key("proj", "v")) <= 100
    delete_watermarks(client, "proj", ["v", "never_written"])
    assert not client.exists(watermark_key("proj", "v"))


def test_the_key_names_project_and_view_and_is_not_a_project_key() -> None:
    from online_store.layout import key_pattern

    key = watermark_key("grocery", "store_ops")
    assert key == b"skewless:watermark:grocery:store_ops"
    assert not key.endswith(key_pattern("grocery")[1:])


@pytest.mark.parametrize(("engine", "writes"), [
    ({"type": "materialization.redis_engine.RedisMaterializationEngine", "chunk_rows": 500}, True),
    ("materialization.redis_engine.RedisMaterializationEngine", True),
    ("local", False), (None, False), ({"type": "spark.engine"}, False)])
def test_only_skewless_engine_is_said_to_write_watermarks(engine, writes) -> None:
    from materialization.redis_engine import RedisMaterializationEngine

    cls = RedisMaterializationEngine
    assert ENGINE_TYPE == f"{cls.__module__}.{cls.__qualname__}"
    assert writes_watermarks(SimpleNamespace(batch_engine_config=engine)) is writes
    kind = engine.get("type") if isinstance(engine, dict) else engine
    assert batch_engine_type(SimpleNamespace(batch_engine_config=engine)) == (kind or "local")


def test_a_store_filled_by_another_engine_is_unchecked_not_empty(client) -> None:
    """With Feast's own engine no watermark exists whatever Redis holds: every view reads
    ``unchecked`` (ready, nothing blocked, the fix named) rather than ``empty``."""
    from feast_bridge.services import ServiceInfo, ViewInfo
    from serving.readiness import UNCHECKED, check_online_store

    view = ViewInfo("shop_stats", ("shop_id",), None, ("price",), ("DOUBLE",))
    info = ServiceInfo("pricing", "pricing_raw", "pricing_encoded", (), Path("state.json"),
                       (view,), ("shop_id",), (("shop_id", "STRING"),), None, (), None)
    fv = SimpleNamespace(name="shop_stats", most_recent_end_time=T, current_version_number=None)
    store = SimpleNamespace(
        config=SimpleNamespace(project="p", batch_engine_config="local", online_store=None,
                               registry=SimpleNamespace(
                                   enable_online_feature_view_versioning=False)),
        registry=SimpleNamespace(get_feature_view=lambda name, project, allow_cache: fv))
    got = check_online_store(store, {"pricing": info}, "repo", client=client)
    assert [v.state for v in got.views] == [UNCHECKED]
    assert got.ok and got.reasons() == []
    assert ENGINE_TYPE in got.views[0].detail
    store.config.batch_engine_config = {"type": ENGINE_TYPE}
    empty = check_online_store(store, {"pricing": info}, "repo", client=client)
    assert [v.state for v in empty.views] == ["empty"] and not empty.ok
