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

from feast import Entity, FeatureService, FeatureView, Field, RequestSource, ValueType
from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
from feast.on_demand_feature_view import OnDemandFeatureView
from feast.types import Float64, Int64, String, UnixTimestamp

from encoders.columns import encoder_set_from_text
from feast_bridge.store import STATE_HASH_TAG, feast_udf_source

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

ranker_raw = FeatureService(
    name="ranker_raw",
    features=[member_features, title_features],
    description="Raw inputs of the ranker: what the Spark training-set path joins and the "
                "server looks up before encoding with the published state",
)

if STATE_PATH.exists():
    # The encoded view's function is generated with the state JSON as a literal inside its
    # source, because Feast rebuilds view functions from their source text (see
    # encoders.columns.feast_udf_source): the registry then carries exactly this state.
    ENCODER_STATE_JSON = STATE_PATH.read_text(encoding="utf-8")
    _ENC = encoder_set_from_text(ENCODER_STATE_JSON)
    _TYPES = {"float64": Float64, "int64": Int64}
    _SOURCE = feast_udf_source("ranker_encoded", ENCODER_STATE_JSON)
    _NAMESPACE: dict = {"__name__": "__main__"}
    exec(compile(_SOURCE, "<skewless encoded view>", "exec"), _NAMESPACE)  # noqa: S102

    ranker_encoded = OnDemandFeatureView(
        name="ranker_encoded",
        sources=[member_features, title_features, request_context],
        schema=[Field(name=f.name, dtype=_TYPES[f.dtype]) for f in _ENC.schema],
        mode="python",
        udf=_NAMESPACE["ranker_encoded"],
        udf_string=_SOURCE,
        tags={STATE_HASH_TAG: _ENC.content_hash},
        description="The ranker's encoded inputs: the skewless encoders with the published "
                    "state (hash in the tags)",
    )

    ranker_v1 = FeatureService(
        name="ranker_v1",
        features=[ranker_encoded],
        tags={STATE_HASH_TAG: _ENC.content_hash},
        description="The ranker's input contract: encoded vectors, fixed width and order",
    )
