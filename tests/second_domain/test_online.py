"""Online vectors from Redis (DB 5, materialized as known at ``AS_OF``) equal the training-set
rows built for the same entities at the same time, for both services, with both readers
(skewless' direct Redis reader and Feast's ``get_online_features``)."""

from __future__ import annotations

import math
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from serving.online import OnlineEncoder
from spark_jobs.training_set import build_training_set, load_labels
from tests.second_domain.conftest import AS_OF, SERVICES
from tests.second_domain.data import CHANNELS, TS, UNKNOWN_CUSTOMER

REQUEST = {"basket_value": (), "substitution": ("channel", "basket_size")}


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and type(a) is type(b)


def _rows(gen, service: str) -> list[dict]:
    """Entity rows asked at ``AS_OF``: every customer (and an unknown one) for basket_value;
    250 distinct (customer, product, store) triples with request inputs for substitution."""
    if service == "basket_value":
        return [{"customer_id": c} for c in (*gen.customers, UNKNOWN_CUSTOMER)]
    rng = random.Random(11)
    triples = sorted({(rng.choice(gen.customers), rng.choice(gen.products),
                       rng.choice(gen.stores)) for _ in range(250)})
    return [{"customer_id": c, "product_id": p, "store_code": s,
             "channel": rng.choice((*CHANNELS, None)),
             "basket_size": rng.choice((None, *range(1, 40)))} for c, p, s in triples]


@pytest.fixture(scope="module")
def at_as_of(online_store, tmp_path_factory):
    """Per service: the entity rows and the training set built for them at ``AS_OF``."""
    spark, store = online_store["spark"], online_store["store"]
    out = {}
    for s in SERVICES:
        rows = _rows(online_store["gen"], s)
        cols = {k: [r[k] for r in rows] for k in rows[0]}
        table = pa.table({**cols, "asked_at": pa.array([AS_OF] * len(rows), TS),
                          "label": pa.array([0.0] * len(rows))})
        path = tmp_path_factory.mktemp(f"as_of_{s}") / "labels.parquet"
        pq.write_table(table, path)
        ts = path.parent / "training"
        build_training_set(store, load_labels(spark, path), None, ts, service=s,
                           timestamp_column="asked_at", label_columns=["label"])
        keys = online_store["infos"][s].entity_keys
        got = {tuple(r[k] for k in keys): r for r in pq.read_table(ts / "data").to_pylist()}
        out[s] = (rows, [got[tuple(r[k] for k in keys)] for r in rows])
    return out


@pytest.mark.parametrize("reader", ["redis", "feast"])
@pytest.mark.parametrize("service", SERVICES)
def test_online_vectors_equal_the_training_set_at_the_same_time(online_store, at_as_of,
                                                                 service, reader) -> None:
    rows, trained = at_as_of[service]
    online = OnlineEncoder(online_store["store"], service=service, reader=reader)
    assert online.enc.content_hash == online_store["infos"][service].state_hash
    names = online.enc.names
    got = online.encode(rows, AS_OF)
    bad = [(rows[i], n, t[n], v) for i, (r, t) in enumerate(zip(got, trained))
           for n, v in zip(names, r.values) if not _same(v, t[n])]
    assert not bad, bad[:5]
    statuses = [s for r in got for s in r.statuses.items()]
    # the as-of rules were exercised: present rows, an unknown customer, expired stores
    assert ("customer_profile", "present") in statuses
    if service == "basket_value":
        assert ("customer_profile", "missing") in statuses  # the unknown customer
    else:
        assert ("store_ops", "expired") in statuses
        assert ("store_ops", "present") in statuses


def test_context_argument_equals_request_inputs_in_the_rows(online_store, at_as_of) -> None:
    rows, trained = at_as_of["substitution"]
    online = OnlineEncoder(online_store["store"], service="substitution")
    row = next(r for r in rows if r["channel"] and r["basket_size"])
    keys = {k: row[k] for k in ("customer_id", "product_id", "store_code")}
    via_context = online.encode([keys], AS_OF, {"channel": row["channel"],
                                                "basket_size": row["basket_size"]})
    assert via_context[0].values == online.encode([row], AS_OF)[0].values


def test_unicode_string_keys_are_served(online_store) -> None:
    online = OnlineEncoder(online_store["store"], service="substitution")
    values, statuses = online.lookup(
        [{"customer_id": "c0037-ø", "product_id": online_store["gen"].products[0],
          "store_code": "KÖL-01"}], AS_OF)
    assert statuses[0]["customer_profile"] == "present"
    assert statuses[0]["store_ops"] in ("present", "expired")
    if statuses[0]["store_ops"] == "present":
        assert values[0]["region"] == "Köln"


def test_the_shared_view_is_read_once_per_service_from_the_same_redis_rows(online_store) -> None:
    """basket_value reads all of customer_profile, substitution three of its features: both
    see the same stored values."""
    c = online_store["gen"].customers[5]
    full, _ = OnlineEncoder(online_store["store"], service="basket_value").lookup(
        [{"customer_id": c}], AS_OF)
    part, _ = OnlineEncoder(online_store["store"], service="substitution").lookup(
        [{"customer_id": c, "product_id": online_store["gen"].products[0],
          "store_code": "BER-01"}], AS_OF)
    for f in ("loyalty_tier", "favourite_aisle", "orders_28d"):
        assert full[0][f] == part[0][f]
