"""Feast objects of the skewless demo model, top to bottom.

Entities -> sources (Parquet feature tables written by ``demo/feature_tables.py``) -> feature
views with ttl -> the request context -> the encoders as a python on-demand view -> feature
services (the model's input contracts).

No side effects: ``feast apply`` imports this file. It only *reads* two things: the data folder
(``SKEWLESS_DATA_DIR``, default ``<project>/data``) and the published encoder state
(``SKEWLESS_STATE_PATH``, default ``feature_repo/encoder_state.json``, written by the fit step).
Before the state is published there is no encoded view, and ``feast apply`` registers the raw
views only; after it, the on-demand view carries the state's JSON inside its function (so every
Feast client computes with exactly that state) and its hash in the tag ``skewless.state_hash``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureView, Field, RequestSource, ValueType
from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
from feast.types import Float64, Int64, String, UnixTimestamp

from demo.specs import DEMO_SPECS
from feast_bridge.declare import encoded_service

HERE = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("SKEWLESS_DATA_DIR", HERE.parent / "data")).resolve()
STATE_PATH = Path(os.environ.get("SKEWLESS_STATE_PATH", HERE / "encoder_state.json")).resolve()
FEATURE_TTL = timedelta(days=int(os.environ.get("SKEWLESS_FEATURE_TTL_DAYS", "2")))

member = Entity(name="member", join_keys=["member_id"], value_type=ValueType.INT64,
                description="A streaming-service member")
title = Entity(name="title", join_keys=["title_id"], value_type=ValueType.INT64,
               description="A title in the catalogue")

member_source = SparkSource(
    name="member_features_source",
    path=str(DATA_DIR / "features" / "member_features"),
    file_format="parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
)
title_source = SparkSource(
    name="title_features_source",
    path=str(DATA_DIR / "features" / "title_features"),
    file_format="parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
)

member_features = FeatureView(
    name="member_features",
    entities=[member],
    ttl=FEATURE_TTL,
    schema=[
        Field(name="watch_minutes_7d", dtype=Float64),
        Field(name="watch_minutes_28d", dtype=Float64),
        Field(name="titles_started_7d", dtype=Int64),
        Field(name="completion_rate_28d", dtype=Float64),
        Field(name="top_genre_28d", dtype=String),
        Field(name="last_watch_ts", dtype=UnixTimestamp),
        Field(name="thumbs_up_ratio", dtype=Float64),
        Field(name="country", dtype=String),
        Field(name="plan", dtype=String),
        Field(name="tenure_days", dtype=Int64),
    ],
    source=member_source,
    online=True,
    description="Daily member snapshots as of 00:00 UTC (windowed viewing aggregates)",
)

title_features = FeatureView(
    name="title_features",
    entities=[title],
    ttl=FEATURE_TTL,
    schema=[
        Field(name="title_plays_7d", dtype=Int64),
        Field(name="title_completion_rate_28d", dtype=Float64),
        Field(name="title_thumbs_up_rate", dtype=Float64),
        Field(name="title_genre", dtype=String),
        Field(name="release_year", dtype=Int64),
        Field(name="maturity_rating", dtype=String),
        Field(name="runtime_minutes", dtype=Int64),
    ],
    source=title_source,
    online=True,
    description="Daily title snapshots as of 00:00 UTC",
)

request_context = RequestSource(
    name="request_context",
    schema=[Field(name="request_time", dtype=UnixTimestamp), Field(name="device", dtype=String)],
    description="Per-request inputs: when features are asked for (the label time offline) "
                "and the member's device",
)

# The ranker: its encoders (the demo's, in demo/specs.py) over both views and the request
# context. Before `skewless fit --service ranker` only ranker_raw exists; after it,
# ranker_encoded carries the fitted state inside its function and ranker is the model's
# input contract (fixed width and order, state hash in the tags).
ranker_raw, ranker_encoded, ranker = encoded_service(
    "ranker",
    features=[member_features, title_features],
    request_source=request_context,
    encoders=DEMO_SPECS,
    state_path=STATE_PATH,
    description="The ranker's inputs: member and title snapshots and the request context",
)
