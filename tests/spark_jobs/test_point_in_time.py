"""skewless' own point-in-time join equals Feast's Spark join (as known) and an independent
DuckDB oracle on hand-made edge cases: a label exactly at ttl and 1 µs past it, restatements
created after the label, ties on event time, a late row, an expired best row, entities without
rows, duplicate labels, null created times, a null key and a null label time, a view without
a created column (string keys, a projection of its features) and a view without ttl.

The repo is built in-process over three small Parquet tables (one Feast ``apply``, no CLI)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spark_jobs.point_in_time import point_in_time_join, service_views
from spark_jobs.training_set import JOINS, check_join, joined_features

UTC = timezone.utc
D = datetime(2024, 3, 10, tzinfo=UTC)
H, DAY, US = timedelta(hours=1), timedelta(days=1), timedelta(microseconds=1)
TS = pa.timestamp("us", "UTC")

# (acct_id, event, created, amount, tier): view "acct", ttl 2 days, created column
ACCT = [
    (1, D, D, 1.0, "a"),
    (2, D, D, 2.0, "b"), (2, D, D + 5 * H, 2.5, "b2"),  # restated 5 h later
    (3, D, D + H, 3.0, "c"), (3, D, D + 2 * H, 3.5, "c2"),  # tie on event time
    (4, D, D, 4.0, "d"), (4, D + DAY, D + 3 * DAY, 4.5, "d2"),  # arrives 2 days late
    (5, D - DAY, D - DAY, 5.5, "e"), (5, D, None, 5.0, "e0"),  # null created, alone
    (5, D + DAY, None, 5.7, "e1"), (5, D + DAY, D + DAY, 5.8, "e2"),  # null beside a real one
    (7, D + DAY, D + DAY, 7.0, "g"),
]
# (shop, event, score, unused): view "shop", ttl 1 day, no created column; the service
# selects ``score`` only
SHOP = [("s-1", D, 10, "x"), ("s-1", D + 12 * H, 11, "y"), ("s-3", D - 3 * DAY, 30, "z")]
# (acct_id, event, created, lifetime): view "forever", no ttl
FOREVER = [(1, D - 300 * DAY, D - 300 * DAY, 100), (4, D - 10 * DAY, D - 10 * DAY, 400)]
# (acct_id, shop, event_timestamp): the labels; label_id is the position
LABELS = [
    (1, "s-1", D + 2 * DAY),  # acct 1 exactly at ttl
    (1, "s-1", D + 2 * DAY + US),  # 1 µs past: expired
    (2, "s-1", D + H),  # before the restatement: 2.0
    (2, "s-1", D + 6 * H),  # after it: 2.5
    (3, "s-2", D + 3 * H),  # tie: the later created wins (3.5); shop without rows
    (4, "s-1", D + DAY + H),  # the late row is not known yet: 4.0
    (4, "s-1", D + 2 * DAY + 12 * H),  # best known row (D) expired, late one unknown: null
    (4, "s-1", D + 3 * DAY),  # the late row is known: 4.5
    (5, "s-1", D + H),  # the null-created row is never known: 5.5
    (5, "s-1", D + DAY + H),  # the real created time beats the null one: 5.8
    (6, "s-3", D),  # no acct rows; shop row expired
    (1, "s-1", D + DAY), (1, "s-1", D + DAY),  # duplicate labels, both kept
    (7, "s-1", D), (7, "s-1", D + DAY),  # a row in the future, then exactly at it
    (1, "s-1", D + 12 * H + DAY),  # shop exactly at ttl
    (1, "s-1", D + 12 * H + DAY + US),  # shop 1 µs past ttl
    (None, None, D + H),  # null keys
    (2, "s-1", None),  # null label time
]
FEATURES = ("amount", "tier", "score", "lifetime")


def _write(folder: Path, rows: list[tuple], schema: pa.Schema) -> None:
    folder.mkdir(parents=True)
    table = pa.Table.from_pylist([dict(zip(schema.names, r)) for r in rows], schema)
    pq.write_table(table, folder / "part-0.parquet")


@pytest.fixture(scope="module")
def edge(spark, tmp_path_factory) -> dict:
    """A Feast repo of three views over the tables above, applied in-process, and labels."""
    from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, ValueType
    from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
    from feast.types import Float64, Int64, String

    base = tmp_path_factory.mktemp("pit_edge")
    _write(base / "acct", ACCT, pa.schema([("acct_id", pa.int64()), ("event_ts", TS),
                                           ("created_ts", TS), ("amount", pa.float64()),
                                           ("tier", pa.string())]))
    _write(base / "shop", SHOP, pa.schema([("shop", pa.string()), ("event_ts", TS),
                                           ("score", pa.int64()), ("unused", pa.string())]))
    _write(base / "forever", FOREVER, pa.schema([("acct_id", pa.int64()), ("event_ts", TS),
                                                 ("created_ts", TS), ("lifetime", pa.int64())]))
    _write(base / "labels", [(*r, i, float(i)) for i, r in enumerate(LABELS)], pa.schema([
        ("acct_id", pa.int64()), ("shop", pa.string()), ("event_timestamp", TS),
        ("label_id", pa.int64()), ("y", pa.float64())]))
    repo = base / "repo"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text(
        "project: pit_edge\nprovider: local\n"
        f"registry: {base / 'registry.db'}\n"
        "offline_store:\n  type: spark\n"
        f"online_store:\n  type: sqlite\n  path: {base / 'online.db'}\n"
        "entity_key_serialization_version: 3\n", encoding="utf-8")
    acct = Entity(name="acct", join_keys=["acct_id"], value_type=ValueType.INT64)
    shop = Entity(name="shop", join_keys=["shop"], value_type=ValueType.STRING)

    def source(name: str, created: str | None) -> SparkSource:
        return SparkSource(name=f"{name}_src", path=str(base / name), file_format="parquet",
                           timestamp_field="event_ts", created_timestamp_column=created or "")

    acct_view = FeatureView(name="acct", entities=[acct], ttl=timedelta(days=2),
                            schema=[Field(name="amount", dtype=Float64),
                                    Field(name="tier", dtype=String)],
                            source=source("acct", "created_ts"))
    shop_view = FeatureView(name="shop", entities=[shop], ttl=timedelta(days=1),
                            schema=[Field(name="score", dtype=Int64),
                                    Field(name="unused", dtype=String)],
                            source=source("shop", None))
    forever = FeatureView(name="forever", entities=[acct], ttl=timedelta(0),
                          schema=[Field(name="lifetime", dtype=Int64)],
                          source=source("forever", "created_ts"))
    service = FeatureService(name="edge", features=[acct_view, shop_view[["score"]], forever])
    store = FeatureStore(repo_path=str(repo))
    store.apply([acct, shop, acct_view, shop_view, forever, service])
    labels = spark.read.parquet(str(base / "labels"))
    return {"store": store, "labels": labels, "base": base}


def _rows(df) -> list[dict]:
    return sorted(df.toArrow().to_pylist(), key=lambda r: r["label_id"])


def _oracle(base: Path, as_known: bool) -> list[dict]:
    """The DuckDB join: per label and view, the latest usable row by (event, created)."""
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    views = {"acct": ("acct_id", 2 * 86400, "created_ts", ("amount", "tier")),
             "shop": ("shop", 86400, None, ("score",)),
             "forever": ("acct_id", None, "created_ts", ("lifetime",))}
    ctes, cols, joins = [], [], []
    for name, (key, ttl, created, feats) in views.items():
        rules = [f"f.{key} = l.{key}", "f.event_ts <= l.event_timestamp"]
        rules += [f"f.event_ts >= l.event_timestamp - INTERVAL {ttl} SECOND"] if ttl else []
        rules += [f"f.{created} <= l.event_timestamp"] if created and as_known else []
        order = "f.event_ts DESC" + (f", f.{created} DESC NULLS LAST" if created else "")
        ctes.append(f"""{name} AS (SELECT * FROM (
            SELECT l.label_id, {", ".join(f"f.{c}" for c in feats)},
                   row_number() OVER (PARTITION BY l.label_id ORDER BY {order}) AS rn
            FROM l JOIN read_parquet('{base / name}/*.parquet') f ON {" AND ".join(rules)})
            WHERE rn = 1)""")
        cols += [f"{name}.{c}" for c in feats]
        joins.append(f"LEFT JOIN {name} USING (label_id)")
    return con.sql(
        f"WITH l AS (SELECT * FROM read_parquet('{base}/labels/*.parquet')), {', '.join(ctes)} "
        f"SELECT l.*, {', '.join(cols)} FROM l {' '.join(joins)} ORDER BY l.label_id"
    ).to_arrow_table().to_pylist()


def _same(a: list[dict], b: list[dict]) -> list[tuple]:
    """The cells that differ (NaN equals NaN), as (label_id, column, a, b)."""
    def eq(x, y) -> bool:
        return (isinstance(x, float) and isinstance(y, float) and math.isnan(x)
                and math.isnan(y)) or (x == y and type(x) is type(y))

    assert [r["label_id"] for r in a] == [r["label_id"] for r in b]
    return [(x["label_id"], c, x[c], y.get(c)) for x, y in zip(a, b) for c in x
            if not eq(x[c], y.get(c))]


def test_own_join_equals_feast_and_the_oracle_as_known(edge) -> None:
    ours, refs = joined_features(edge["store"], edge["labels"], "edge")
    feast, feast_refs = joined_features(edge["store"], edge["labels"], "edge", join="feast")
    assert refs == feast_refs == ("acct:amount", "acct:tier", "shop:score", "forever:lifetime")
    assert ours.dtypes == feast.dtypes  # names, order and types
    assert ours.columns == [*edge["labels"].columns, *FEATURES]
    got = _rows(ours)
    assert len(got) == len(LABELS)
    assert _same(got, _rows(feast)) == []
    assert _same(got, _oracle(edge["base"], as_known=True)) == []
    # the cases hold what they claim (so three equal answers cannot all be blank)
    amount = [r["amount"] for r in got]
    assert amount[:10] == [1.0, None, 2.0, 2.5, 3.5, 4.0, None, 4.5, 5.5, 5.8]
    assert amount[11:15] == [1.0, 1.0, None, 7.0]
    assert [r["score"] for r in got[15:17]] == [11, None]
    assert [r["lifetime"] for r in got[:2]] == [100, 100]
    assert all(r[f] is None for r in got[-2:] for f in FEATURES)  # null key, null time


def test_without_as_known_restatements_count_at_once(edge) -> None:
    """Without the created-time rule the latest version wins whenever it was written; Feast
    differs only where its SQL drops an event time whose created times are all null (acct 5's
    ``e0`` row): the rule ranks such a row below real created times, it does not drop it."""
    ours, _ = joined_features(edge["store"], edge["labels"], "edge", as_known=False)
    feast, _ = joined_features(edge["store"], edge["labels"], "edge", as_known=False,
                               join="feast")
    got = _rows(ours)
    assert _same(got, _oracle(edge["base"], as_known=False)) == []
    assert [r["amount"] for r in got[2:4]] == [2.5, 2.5]
    assert got[8]["tier"] == "e0"
    differs = _same(got, _rows(feast))
    assert {(i, c) for i, c, _, _ in differs} == {(8, "amount"), (8, "tier")}


def test_bad_join_names_the_choices(edge) -> None:
    assert check_join("feast") == "feast" and JOINS[0] == "skewless"
    with pytest.raises(ValueError, match="unknown join 'spark'; choose one of skewless, feast"):
        joined_features(edge["store"], edge["labels"], "edge", join="spark")


def test_labels_missing_a_key_or_clashing_with_a_feature_are_refused(edge) -> None:
    views = service_views(edge["store"], "edge")
    assert [v.name for v in views] == ["acct", "shop", "forever"]
    assert views[1].features == (("score", "score"),) and views[1].created is None
    assert views[2].ttl_seconds == 0
    with pytest.raises(ValueError, match=r"labels lack \['shop'\]"):
        point_in_time_join(edge["labels"].drop("shop"), views)
    with pytest.raises(ValueError, match=r"columns named like features \['score'\]"):
        point_in_time_join(edge["labels"].withColumnRenamed("y", "score"), views)
