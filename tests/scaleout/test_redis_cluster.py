"""The online path runs unchanged on a Redis Cluster, configured by environment alone
(``SKEWLESS_REDIS_TYPE=redis_cluster`` + a seed node): Feast's materialization spreads the
keys over the three masters, and what the cluster serves equals what one Redis server serves
for the same feature tables — the stored bytes of every key, the raw values and the encoded
vector of every entity of the tiny data (both online readers, at present / expired / future
request times), the offline training-set path's vectors for a sample, and the HTTP app.

The reference is the same pipeline materialized into one server (127.0.0.1:6379, database
``SINGLE_DB``, flushed first). The row-parity suite (``skew/parity.py``) is not used here: it
materializes into a numbered scratch database, which a cluster does not have.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pytest
import redis
from fastapi.testclient import TestClient

from feast_bridge.store import open_store
from materialization.materialize import feast_key_pattern, redis_snapshot
from scoring.train import train
from serving.api import create_app
from serving.online import EXPIRED, FUTURE, MISSING, PRESENT, OnlineEncoder
from serving.settings import Settings
from tests.real_redis import TEST_REDIS_PORT, real_redis

pytestmark = [pytest.mark.scaleout, pytest.mark.redis]
SINGLE_DB = 10  # taken elsewhere: 0-2 materialize tests, 11 online, 12 bench, 13 engine, 14 parity
START = datetime(2023, 12, 1, tzinfo=timezone.utc)
REDIS_VARS = ("SKEWLESS_REDIS_TYPE", "SKEWLESS_REDIS_NODES", "SKEWLESS_REDIS_HOST",
              "SKEWLESS_REDIS_PORT", "SKEWLESS_REDIS_DB")


def _materialized(repo: Any, env: dict[str, str], end: datetime) -> Any:
    """``open_store`` under exactly ``env`` (other Redis variables removed), then Feast's
    ``materialize`` (with the YAML's batch engine) over the whole tiny history."""
    mp = pytest.MonkeyPatch()
    try:
        for name in REDIS_VARS:
            mp.delenv(name, raising=False)
        for name, value in env.items():
            mp.setenv(name, value)
        store = open_store(repo)
        store.materialize(START, end)
    finally:
        mp.undo()
    return store


@pytest.fixture(scope="module")
def stores(pipeline, redis_cluster) -> Iterator[dict[str, Any]]:
    """The pipeline materialized into one Redis server and into the cluster."""
    single = real_redis(SINGLE_DB)
    from pyspark.sql import functions as F

    spark = pipeline["spark"]
    features = pipeline["data"] / "features"
    members = spark.read.parquet(str(features / "member_features"))
    titles = spark.read.parquet(str(features / "title_features"))
    iso = "yyyy-MM-dd'T'HH:mm:ss"
    last, known = members.select("event_timestamp", "created_timestamp").unionByName(
        titles.select("event_timestamp", "created_timestamp")).agg(
        F.date_format(F.max("event_timestamp"), iso),
        F.date_format(F.max("created_timestamp"), iso)).collect()[0]
    # Materialize as of a time when every row (late restatements included) is known, so the
    # online store holds what the offline join sees at any later request time.
    end = datetime.fromisoformat(known).replace(tzinfo=timezone.utc) + timedelta(seconds=1)
    single.flushdb()
    one = _materialized(pipeline["repo"], {"SKEWLESS_REDIS_HOST": "127.0.0.1",
                                           "SKEWLESS_REDIS_PORT": str(TEST_REDIS_PORT),
                                           "SKEWLESS_REDIS_DB": str(SINGLE_DB)}, end)
    many = _materialized(pipeline["repo"], redis_cluster.env(), end)
    yield {"one": one, "many": many, "single": single,
           "cluster": redis.cluster.RedisCluster(host=redis_cluster.host,
                                                 port=redis_cluster.ports[0]),
           "last_snapshot": datetime.fromisoformat(last).replace(tzinfo=timezone.utc),
           "members": sorted(r[0] for r in members.select("member_id").distinct().collect()),
           "titles": sorted(r[0] for r in titles.select("title_id").distinct().collect())}
    single.flushdb()


def test_the_store_is_a_cluster_and_keys_spread_over_every_master(stores) -> None:
    config = stores["many"].config.online_store
    assert config.redis_type.value == "redis_cluster"
    sizes = {n.port: n.redis_connection.dbsize() for n in stores["cluster"].get_primaries()}
    assert len(sizes) == 3 and min(sizes.values()) > 0, sizes


def test_every_stored_byte_equals_the_single_server(stores, pipeline) -> None:
    pattern = feast_key_pattern(stores["one"].config.project)
    one = redis_snapshot(stores["single"], match=pattern)
    many = redis_snapshot(stores["cluster"], match=pattern)
    assert len(one) >= len(stores["members"]) + len(stores["titles"])
    assert many == one


def _every_entity(stores) -> list[dict[str, int]]:
    """Every member and every title of the tiny data at least once, plus an unknown pair."""
    members, titles = stores["members"], stores["titles"]
    n = max(len(members), len(titles))
    rows = [{"member_id": members[i % len(members)], "title_id": titles[i % len(titles)]}
            for i in range(n)]
    return rows + [{"member_id": 1, "title_id": 2}]


@pytest.mark.parametrize("reader", ["redis", "feast"])
def test_every_entity_encodes_identically(stores, pipeline, reader) -> None:
    rows = _every_entity(stores)
    last = stores["last_snapshot"]
    one = OnlineEncoder(stores["one"], pipeline["enc"], reader="feast")
    many = OnlineEncoder(stores["many"], pipeline["enc"], reader=reader)
    seen: set[str] = set()
    for when in (last + timedelta(hours=36), last + timedelta(days=5), last - timedelta(days=1)):
        raw_one, st_one = one.lookup(rows, when)
        raw_many, st_many = many.lookup(rows, when)
        assert raw_many == raw_one and st_many == st_one, when
        got = many.encode(rows, when, {"device": "tv"})
        want = one.encode(rows, when, {"device": "tv"})
        assert [r.values for r in got] == [r.values for r in want], when
        seen |= {s for st in st_many for s in st.values()}
    assert {PRESENT, EXPIRED, FUTURE, MISSING} <= seen


def test_cluster_vectors_equal_the_offline_training_path(stores, pipeline) -> None:
    """The training-set code path (Feast's Spark PIT join + encoders in Spark) on a sample."""
    from pyspark.sql import functions as F

    from spark_jobs.spark_encode import encode_frame
    from spark_jobs.training_set import joined_features

    when = stores["last_snapshot"] + timedelta(hours=36)
    rows = _every_entity(stores)[:100]
    labels = pipeline["spark"].createDataFrame(pd.DataFrame(rows)).withColumn(
        "event_timestamp", F.lit(when)).withColumn("device", F.lit("tv"))
    joined, _ = joined_features(pipeline["store"], labels, "ranker_raw", as_known=False)
    enc = pipeline["enc"]
    offline = encode_frame(joined, enc, ["member_id", "title_id"]).toPandas()
    online = OnlineEncoder(stores["many"], enc).encode(rows, when, {"device": "tv"})
    by_key = {(r["member_id"], r["title_id"]): o for r, o in zip(rows, online)}
    assert len(offline) == len(rows)
    for _, rec in offline.iterrows():
        assert list(by_key[(rec["member_id"], rec["title_id"])].values) == \
            [rec[n] for n in enc.names], (rec["member_id"], rec["title_id"])


def test_http_app_serves_from_the_cluster(stores, pipeline, redis_cluster, tmp_path,
                                          monkeypatch) -> None:
    for name in REDIS_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in redis_cluster.env().items():
        monkeypatch.setenv(name, value)
    train(pipeline["out"], tmp_path / "model.json")
    repo = pipeline["repo"]
    settings = replace(Settings.from_env(), repo=repo, state_path=repo / "encoder_state.json",
                       model_path=tmp_path / "model.json", log_dir=tmp_path / "log",
                       hash_check_seconds=0.0)
    assert (settings.redis_host, settings.redis_port) == (redis_cluster.host,
                                                          redis_cluster.ports[0])
    rows = _every_entity(stores)[:20]
    when = stores["last_snapshot"] + timedelta(hours=36)
    with TestClient(create_app(settings)) as client:
        health = client.get("/health").json()
        # the pipeline's registry is shared with suites that materialize other Redis
        # databases to later ends, so the cluster may be "behind" it; never "empty"
        assert health["redis"] == "ok" and health["online_store"]["error"] is None, health
        assert {v["state"] for v in health["online_store"]["views"]} <= {"current", "behind"}
        resp = client.post("/features", json={"entities": rows, "device": "tv",
                                               "request_time": when.isoformat()})
        assert resp.status_code == 200, resp.text
    want = OnlineEncoder(stores["one"], pipeline["enc"]).encode(rows, when, {"device": "tv"})
    assert resp.json()["vectors"] == [[float(v) for v in r.values] for r in want]


def test_parity_suite_passes_against_the_cluster(stores, pipeline, redis_cluster) -> None:
    """The row-level parity check (Spark training-set path vs materialize-as-of + serving) run
    with the online store on the Redis Cluster, by configuration alone: zero differences over
    the edge-case sample (expired, cold-start, unseen device, ttl boundaries). Last in this
    module: the parity run owns and flushes the cluster's keys."""
    from skew.parity import parity_check
    from skew.pytest_plugin import assert_parity
    from tests.skew.parity_cases import edge_case_pairs

    stores["cluster"].flushall()  # the parity check refuses keys it did not write
    pairs = edge_case_pairs(pipeline["labels"], 600)
    mp = pytest.MonkeyPatch()
    try:
        for name in REDIS_VARS:
            mp.delenv(name, raising=False)
        for name, value in redis_cluster.env().items():
            mp.setenv(name, value)
        report = parity_check(pipeline["repo"], pipeline["enc"], pairs,
                              manifest=pipeline["manifest"], spark=pipeline["spark"])
    finally:
        mp.undo()
    assert report.compared_rows == len(pairs)
    assert report.state_match
    assert_parity(report)
    assert stores["cluster"].dbsize() > 0, "the parity run materialized into the cluster"
