"""Training sets end to end on real Spark and Feast: fit + publish, point-in-time join checked
against an independent DuckDB oracle, Feast's own on-demand path equal to the Spark path, and
an atomic manifest."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from demo.labels import COLD_START_MEMBER_ID_BASE
from demo.specs import MEMBER_INPUTS, TITLE_INPUTS
from feast_bridge.services import registry_state_hash
from spark_jobs.training_set import Manifest, build_training_set, joined_features
from tests.conftest import GAP
from tests.spark_jobs.pit_oracle import TTL, pit_oracle


def test_feast_apply_works_before_and_after_publishing(pipeline) -> None:
    assert "member_features" in pipeline["raw_apply"]
    store = pipeline["store"]
    assert {v.name for v in store.list_on_demand_feature_views()} == {"ranker_encoded"}
    assert {s.name for s in store.list_feature_services()} == {"ranker_raw", "ranker"}
    assert registry_state_hash(store) == pipeline["enc"].content_hash


def test_manifest_describes_the_set(pipeline) -> None:
    m: Manifest = pipeline["manifest"]
    labels = pipeline["labels"]
    assert m.row_count == labels.count()
    assert m.state_hash == pipeline["enc"].content_hash
    assert m.feature_service == "ranker_raw"
    assert [n for n, _ in m.schema] == list(pipeline["enc"].names)
    assert Manifest.read(pipeline["out"]) == m
    data = pipeline["spark"].read.parquet(str(pipeline["out"] / "data"))
    assert data.columns[:6] == ["member_id", "title_id", "event_timestamp", "label", "device",
                                pipeline["enc"].names[0]]
    lo, hi = m.time_range
    assert lo.startswith("2024-01") and hi > lo


def test_manifest_figures_are_those_of_the_written_rows(pipeline) -> None:
    """The row count and time range observed during the write equal what reading the set
    back gives (Spark renders the times in its UTC session zone); an empty labels frame makes
    an empty set with an empty range."""
    from pyspark.sql import functions as F

    m: Manifest = pipeline["manifest"]
    data = pipeline["spark"].read.parquet(str(pipeline["out"] / "data"))
    iso = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"
    back = data.agg(F.count(F.lit(1)).alias("n"),
                    F.date_format(F.min("event_timestamp"), iso).alias("lo"),
                    F.date_format(F.max("event_timestamp"), iso).alias("hi")).collect()[0]
    assert (m.row_count, m.time_range) == (back["n"], (back["lo"], back["hi"]))
    assert m.time_range[0].endswith("Z") and back["n"] > 0
    empty = build_training_set(pipeline["store"], pipeline["labels"].limit(0), pipeline["enc"],
                               pipeline["out"].parent / "empty")
    assert (empty.row_count, empty.time_range) == (0, ("", ""))


def _oracle(data: Path, labels_dir: Path, table: str, key: str, cols: tuple[str, ...]):
    return pit_oracle(data, f"{labels_dir}/*/*.parquet", table, key, cols).df()


def _same(a: pd.Series, b: pd.Series) -> pd.Series:
    both_null = a.isna() & b.isna()
    return both_null | (a == b)


def _raw_labels(pipeline):
    from pyspark.sql import functions as F

    return pipeline["spark"].read.parquet(str(pipeline["labels_dir"])).select(
        "impression_id", "member_id", "title_id",
        F.col("impression_ts").alias("event_timestamp"), "device")


def _joined(pipeline, as_known: bool = True, join: str = "skewless") -> pd.DataFrame:
    joined, _ = joined_features(pipeline["store"], _raw_labels(pipeline), "ranker_raw", as_known,
                                join)
    return joined.toPandas().sort_values("impression_id").reset_index(drop=True)


def test_own_join_equals_feasts_join(pipeline) -> None:
    """skewless' join and Feast's Spark join give the same frame on the demo's labels: the
    same columns and types, the same value in every cell (restatements, the ttl gap and
    cold-start members are in the data, see the oracle tests)."""
    labels = _raw_labels(pipeline)
    ours, refs = joined_features(pipeline["store"], labels, "ranker_raw")
    feast, feast_refs = joined_features(pipeline["store"], labels, "ranker_raw", join="feast")
    assert refs == feast_refs and ours.dtypes == feast.dtypes
    a, b = (sorted(f.toArrow().to_pylist(), key=lambda r: r["impression_id"])
            for f in (ours, feast))
    assert len(a) == len(b) == labels.count()
    bad = [(x["impression_id"], c, x[c], y[c]) for x, y in zip(a, b) for c in x
           if not (x[c] == y[c] or (x[c] != x[c] and y[c] != y[c]))]
    assert not bad, bad[:10]
    assert sum(x["watch_minutes_7d"] is not None for x in a) > len(a) / 2


def test_point_in_time_join_matches_duckdb_oracle(pipeline) -> None:
    got = _joined(pipeline)
    member = _oracle(pipeline["data"], pipeline["labels_dir"], "member_features", "member_id",
                     MEMBER_INPUTS)
    title_cols = ("title_plays_7d", "title_completion_rate_28d", "title_thumbs_up_rate",
                  "title_genre", "release_year", "maturity_rating", "runtime_minutes")
    assert title_cols == TITLE_INPUTS
    title = _oracle(pipeline["data"], pipeline["labels_dir"], "title_features", "title_id",
                    title_cols)
    assert len(got) == len(member) == len(title)
    for oracle, cols in ((member, MEMBER_INPUTS), (title, title_cols)):
        for c in cols:
            a, b = got[c], oracle[c]
            if c == "last_watch_ts":
                a = pd.to_datetime(a, utc=True)
                b = pd.to_datetime(b, utc=True)
            ok = _same(a.astype(object), b.astype(object))
            assert ok.all(), (c, got.loc[~ok, ["impression_id", c]].head(), b[~ok].head())
    # the sample really contains the hard cases
    no_history = got["member_id"] >= COLD_START_MEMBER_ID_BASE
    assert no_history.sum() > 0 and got.loc[no_history, "watch_minutes_7d"].isna().all()
    ts = pd.to_datetime(member["ts"], utc=True)
    in_gap = (ts > pd.Timestamp(GAP[0], tz="UTC") + TTL) & (
        ts < pd.Timestamp(GAP[1], tz="UTC") + timedelta(days=1))
    assert in_gap.sum() > 0 and member.loc[in_gap, "fts"].isna().all()  # expired by ttl
    assert got.loc[in_gap, "watch_minutes_7d"].isna().all()


def test_restated_rows_exist_and_are_used_only_once_known(pipeline) -> None:
    """Late-arriving facts produce restated rows (created-timestamp ties on event_timestamp).
    They exist in the data, and they matter: without the created-timestamp filter (Feast's
    default) some labels get a correction that did not exist yet at their time, so the join
    differs from the as-known oracle on those rows."""
    oracle = _oracle(pipeline["data"], pipeline["labels_dir"], "member_features", "member_id",
                     MEMBER_INPUTS)
    leaky = _joined(pipeline, as_known=False)
    differs = ~_same(leaky["watch_minutes_28d"].astype(object),
                     oracle["watch_minutes_28d"].astype(object))
    assert differs.sum() > 0
    con = duckdb.connect()
    ties = con.execute(f"""
        SELECT count(*) FROM (
          SELECT member_id, event_timestamp, count(*) AS n
          FROM read_parquet('{pipeline["data"]}/features/member_features/*/*.parquet',
                            hive_partitioning = true)
          GROUP BY 1, 2 HAVING n > 1)""").fetchone()[0]
    assert ties > 0


def test_feast_on_demand_path_equals_spark_path(pipeline) -> None:
    """Feast's own ``get_historical_features(...).to_df()`` with the encoded on-demand view
    gives exactly the Spark path's encoded values."""
    store, enc = pipeline["store"], pipeline["enc"]
    sample = pipeline["labels"].orderBy("event_timestamp", "member_id", "title_id").limit(400)
    entity = sample.toPandas()
    entity["request_time"] = entity["event_timestamp"]
    feast_df = store.get_historical_features(
        entity_df=entity, features=store.get_feature_service("ranker"),
        filter_by_created_timestamp=True).to_df()
    ours = pipeline["spark"].read.parquet(str(pipeline["out"] / "data")).toPandas()
    keys = ["member_id", "title_id", "event_timestamp"]
    feast_df["event_timestamp"] = pd.to_datetime(feast_df["event_timestamp"], utc=True)
    ours["event_timestamp"] = pd.to_datetime(ours["event_timestamp"], utc=True)
    merged = feast_df.drop_duplicates(keys).merge(ours.drop_duplicates(keys), on=keys,
                                                  suffixes=("_feast", "_spark"))
    assert len(merged) >= 300
    for name in enc.names:
        a, b = merged[f"{name}_feast"], merged[f"{name}_spark"]
        assert (a.to_numpy() == b.to_numpy()).all(), name


def test_incomplete_set_is_not_a_training_set(tmp_path) -> None:
    (tmp_path / "data").mkdir()
    with pytest.raises(FileNotFoundError, match="not a complete training set"):
        Manifest.read(tmp_path)


def test_existing_output_and_bad_labels_get_clear_errors(pipeline) -> None:
    store, enc, labels = pipeline["store"], pipeline["enc"], pipeline["labels"]
    with pytest.raises(FileExistsError, match="overwrite"):
        build_training_set(store, labels, enc, pipeline["out"])
    x = pipeline["out"].parent / "x"
    with pytest.raises(ValueError, match=r"no label columns \['label'\]"):
        build_training_set(store, labels.drop("label"), enc, x, label_columns=["label"])
    with pytest.raises(ValueError, match=r"labels have no label column"):
        build_training_set(store, labels.drop("label"), enc, x)
    with pytest.raises(ValueError, match=r"join keys \['title_id'\] of service 'ranker'"):
        build_training_set(store, labels.drop("title_id"), enc, x)
    with pytest.raises(ValueError, match=r"request inputs \['device'\]"):
        build_training_set(store, labels.drop("device"), enc, x)
    with pytest.raises(LookupError, match=r"known services: \['ranker'\]"):
        build_training_set(store, labels, enc, x, service="nope")
    assert not x.exists()
