"""A grocery-delivery feature repo: two models over three feature views, top to bottom.

Entities -> Parquet sources -> feature views with ttl -> the checkout request context -> two
encoded services:

* ``basket_value`` — predicts a customer's basket value in EUR from the customer profile
  alone (one entity, no request inputs);
* ``substitution`` — predicts whether a customer accepts a substitute product from a store,
  over the profile (three of its features), the product's and the store's stats and the
  checkout context (``channel``, ``basket_size``).

No side effects: ``feast apply`` imports this file. It reads ``GROCERY_DATA_DIR`` (the
feature tables) and ``GROCERY_STATE_DIR`` (the fitted states, written by ``skewless fit``).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureView, Field, RequestSource, ValueType
from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
from feast.types import Bool, Float64, Int64, String, UnixTimestamp

from encoders import (
    Buckets,
    Clip,
    Cyclical,
    HashBucket,
    HashedCross,
    Indicator,
    Log1p,
    MinMax,
    Numeric,
    OneHot,
    QuantileBuckets,
    TimeSince,
    VocabIndex,
    ZScore,
)
from feast_bridge.declare import encoded_service

HERE = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("GROCERY_DATA_DIR", HERE / "data")).resolve()
STATE_DIR = Path(os.environ.get("GROCERY_STATE_DIR", HERE)).resolve()

# --- entities ------------------------------------------------------------------------------
customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING,
                  description="A customer of the delivery app")
product = Entity(name="product", join_keys=["product_id"], value_type=ValueType.INT64,
                 description="A product of the catalogue")
store = Entity(name="store", join_keys=["store_code"], value_type=ValueType.STRING,
               description="A dark store that picks the orders")

# --- sources -------------------------------------------------------------------------------
customer_source = SparkSource(
    name="customer_profile_source",
    path=str(DATA_DIR / "customer_profile"),
    file_format="parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created_at",  # profiles are restated when orders are refunded
)
product_source = SparkSource(
    name="product_stats_source",
    path=str(DATA_DIR / "product_stats"),
    file_format="parquet",
    timestamp_field="event_timestamp",  # written once per day, never restated
)
store_source = SparkSource(
    name="store_ops_source",
    path=str(DATA_DIR / "store_ops"),
    file_format="parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created_at",  # shift plans are corrected after the fact
)

# --- feature views -------------------------------------------------------------------------
customer_profile = FeatureView(
    name="customer_profile",
    entities=[customer],
    ttl=timedelta(days=3),
    schema=[
        Field(name="orders_28d", dtype=Int64),
        Field(name="avg_basket_eur_28d", dtype=Float64),
        Field(name="loyalty_tier", dtype=String),
        Field(name="favourite_aisle", dtype=String),
        Field(name="last_order_ts", dtype=UnixTimestamp),
        Field(name="is_subscriber", dtype=Bool),
        Field(name="tenure_days", dtype=Int64),
    ],
    source=customer_source,
    description="Daily customer snapshots as of 00:00 UTC",
)
product_stats = FeatureView(
    name="product_stats",
    entities=[product],
    ttl=timedelta(days=2),
    schema=[
        Field(name="price_eur", dtype=Float64),
        Field(name="stockout_rate_7d", dtype=Float64),
        Field(name="category", dtype=String),
        Field(name="units_sold_7d", dtype=Int64),
    ],
    source=product_source,
    description="Daily product snapshots as of 00:00 UTC",
)
store_ops = FeatureView(
    name="store_ops",
    entities=[store],
    ttl=timedelta(days=1),
    schema=[
        Field(name="pickers_on_shift", dtype=Int64),
        Field(name="avg_delay_min", dtype=Float64),
        Field(name="region", dtype=String),
    ],
    source=store_source,
    description="Daily store operations as of 00:00 UTC",
)

# --- request context -----------------------------------------------------------------------
checkout_context = RequestSource(
    name="checkout_context",
    schema=[Field(name="channel", dtype=String), Field(name="basket_size", dtype=Int64)],
    description="What the checkout request carries: the app channel and the basket's size",
)

# --- encoded services ----------------------------------------------------------------------
basket_value_raw, basket_value_encoded, basket_value = encoded_service(
    "basket_value",
    features=[customer_profile],
    encoders=[
        ZScore("orders_z", input="orders_28d", missing_indicator=True),
        Log1p("avg_basket_log", input="avg_basket_eur_28d"),
        OneHot("tier_oh", input="loyalty_tier"),
        VocabIndex("aisle_idx", input="favourite_aisle", top_k=20),
        TimeSince("days_since_order", input="last_order_ts", unit="days", max_value=60.0,
                  missing_indicator=True),
        Indicator("subscriber", input="is_subscriber", missing_indicator=True),
        QuantileBuckets("tenure_q", input="tenure_days", num_buckets=4),
        Cyclical("order_hour", period="hour_of_day"),
    ],
    state_path=STATE_DIR / "basket_value_state.json",
    description="Basket-value regression: the customer profile",
)

substitution_raw, substitution_encoded, substitution = encoded_service(
    "substitution",
    features=[
        customer_profile[["loyalty_tier", "favourite_aisle", "orders_28d"]],
        product_stats,
        store_ops,
    ],
    request_source=checkout_context,
    encoders=[
        OneHot("tier_oh", input="loyalty_tier"),
        MinMax("orders_mm", input="orders_28d", clip=True),
        OneHot("category_oh", input="category", top_k=6),
        QuantileBuckets("price_q", input="price_eur", num_buckets=5),
        Clip("stockout_c", input="stockout_rate_7d", low=0.0, high=1.0, missing_indicator=True),
        ZScore("units_z", input="units_sold_7d"),
        MinMax("pickers_mm", input="pickers_on_shift"),
        Buckets("delay_b", input="avg_delay_min", boundaries=(5.0, 15.0, 30.0)),
        VocabIndex("region_idx", input="region"),
        HashedCross("aisle_x_category", left="favourite_aisle", right="category",
                    num_buckets=97),
        HashBucket("channel_h", input="channel", num_buckets=16),
        Numeric("basket_size_n", input="basket_size", fill=1.0, missing_indicator=True),
        Cyclical("checkout_dow", period="day_of_week"),
    ],
    state_path=STATE_DIR / "substitution_state.json",
    description="Substitute acceptance: customer, product, store and checkout context",
)
