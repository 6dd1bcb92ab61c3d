"""Both services' training sets against an independent DuckDB point-in-time oracle: the raw
values the join picks (ttl, late restatements as known at the label time, a view without a
created column, unknown customers) and every encoded value (``enc.encode_row`` on the
oracle's row, the label time as the request time)."""

from __future__ import annotations

import math

import pyarrow.parquet as pq
import pytest

from spark_jobs.training_set import Manifest, joined_features, load_labels
from tests.second_domain.conftest import SERVICES
from tests.second_domain.data import UNKNOWN_CUSTOMER
from tests.second_domain.oracle import VIEWS, pit_join

REQUEST = {"basket_value": (), "substitution": ("channel", "basket_size")}
LABEL = {"basket_value": "basket_eur", "substitution": "accepted"}


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and type(a) is type(b)


def _oracle(grocery, service: str) -> list[dict]:
    info = grocery["infos"][service]
    views = {v.name: v.features for v in info.views}
    return pit_join(grocery["data"], grocery["labels"][service], views,
                    list(info.entity_keys), (*REQUEST[service], LABEL[service]))


def _key(row: dict, keys, ts: str) -> tuple:
    return (*(row[k] for k in keys), row[ts])


@pytest.mark.parametrize("service", SERVICES)
def test_manifest_names_the_users_columns(grocery, service) -> None:
    m: Manifest = grocery["manifests"][service]
    info = grocery["infos"][service]
    assert Manifest.read(grocery["outs"][service]) == m
    assert m.service == service and m.feature_service == f"{service}_raw"
    assert m.state_hash == info.state_hash
    assert m.timestamp_column == "asked_at"
    assert m.label_columns == (LABEL[service],)
    assert m.entity_keys == info.entity_keys
    assert m.request_columns == REQUEST[service]
    assert m.row_count == pq.read_table(grocery["labels"][service]).num_rows
    table = pq.read_table(grocery["outs"][service] / "data")
    enc = grocery["encs"][service]
    assert table.column_names == [*info.entity_keys, "asked_at", LABEL[service],
                                  *REQUEST[service], *enc.names]


@pytest.mark.parametrize("service", SERVICES)
def test_raw_join_equals_the_duckdb_oracle(grocery, service) -> None:
    info = grocery["infos"][service]
    keys = info.entity_keys
    labels = load_labels(grocery["spark"], grocery["labels"][service]) \
        .withColumnRenamed("asked_at", "event_timestamp")
    joined, _ = joined_features(grocery["store"], labels, info.raw_service)
    got = {_key(r, keys, "event_timestamp"): r for r in joined.toArrow().to_pylist()}
    want = _oracle(grocery, service)
    assert len(got) == len(want)
    features = [f for v in info.views for f in v.features]
    bad = []
    for row in want:
        g = got[_key(row, keys, "asked_at")]
        bad += [(row[keys[0]], row["asked_at"], f, row[f], g[f]) for f in features
                if not _same(row[f], g[f])]
    assert not bad, bad[:10]
    # the data exercises what it should: unknown customers, nulls and expired stores
    assert any(r["customer_id"] == UNKNOWN_CUSTOMER for r in want)
    for view in info.views:
        blank = [r for r in want if all(r[f] is None for f in view.features)]
        assert 0 < len(blank) < len(want) / 2, (view.name, len(blank))


@pytest.mark.parametrize("service", SERVICES)
def test_own_join_equals_feasts_join(grocery, service) -> None:
    """String keys, three views (one without a created column), request columns carried:
    skewless' join and Feast's Spark join give the same columns, types and cells."""
    info = grocery["infos"][service]
    labels = load_labels(grocery["spark"], grocery["labels"][service]) \
        .withColumnRenamed("asked_at", "event_timestamp")
    ours, _ = joined_features(grocery["store"], labels, info.raw_service)
    feast, _ = joined_features(grocery["store"], labels, info.raw_service, join="feast")
    assert ours.dtypes == feast.dtypes
    order = [*labels.columns]
    a, b = (sorted(f.toArrow().to_pylist(), key=lambda r: tuple(str(r[c]) for c in order))
            for f in (ours, feast))
    assert len(a) == len(b) == labels.count()
    bad = [(x[c], y[c], c) for x, y in zip(a, b) for c in x if not _same(x[c], y[c])]
    assert not bad, bad[:10]


def test_late_restatements_are_used_only_once_known(grocery) -> None:
    """Some labels fall between a snapshot and its restatement (the first version is used),
    others after it (the restated one): both kinds occur and the oracle agrees with the join."""
    import duckdb

    folder = grocery["data"] / VIEWS["customer_profile"][0]
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    n_before, n_after = con.execute(f"""
        WITH late AS (SELECT customer_id, event_timestamp, created_at
                      FROM read_parquet('{folder}/late-*.parquet')),
             l AS (SELECT * FROM read_parquet('{grocery['labels']['basket_value']}'))
        SELECT count(*) FILTER (WHERE l.asked_at < late.created_at),
               count(*) FILTER (WHERE l.asked_at >= late.created_at)
        FROM l JOIN late ON l.customer_id = late.customer_id
         AND l.asked_at >= late.event_timestamp
         AND l.asked_at < late.event_timestamp + INTERVAL 1 DAY""").fetchone()
    assert n_before > 0 and n_after > 0


@pytest.mark.parametrize("service", SERVICES)
def test_encoded_columns_equal_the_encoders_on_the_oracle_rows(grocery, service) -> None:
    info, enc = grocery["infos"][service], grocery["encs"][service]
    keys = info.entity_keys
    table = pq.read_table(grocery["outs"][service] / "data").to_pylist()
    got = {_key(r, keys, "asked_at"): r for r in table}
    want = _oracle(grocery, service)
    assert len(got) == len(want)
    bad = []
    for row in want:
        g = got[_key(row, keys, "asked_at")]
        assert _same(g[LABEL[service]], row[LABEL[service]])
        expected = enc.encode_row(row, request_time=row["asked_at"])
        bad += [(row[keys[0]], row["asked_at"], n, v, g[n]) for n, v in expected.items()
                if not _same(v, g[n])]
    assert not bad, bad[:10]
