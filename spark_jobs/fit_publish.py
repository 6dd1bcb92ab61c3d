"""Fit the encoders on Spark over a training window and publish the state with the Feast repo.

1. Read the feature tables, keep the snapshots whose ``event_timestamp`` falls in
   ``[start, end)``, and of each (entity, event_timestamp) only the latest ``created_timestamp``
   (the corrected row, as Feast's point-in-time join would pick).
2. Compute every statistic the specs need with :func:`spark_jobs.spark_stats.spark_statistics`,
   on the table that holds the statistic's input column.
3. ``fit`` (the library's maths, once), save the state as JSON to the repo's state path, and
   run ``feast apply`` so the on-demand view embeds that state and tags its hash.

Only aggregates reach the driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from encoders import EncoderSet, EncoderSpec, Statistics, fit, save, stat_requests
from spark_jobs.spark_stats import spark_statistics

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

TABLES = {"member_features": "member_id", "title_features": "title_id"}


@dataclass(frozen=True)
class Published:
    """Where the state went and what identifies it."""

    state_path: Path
    content_hash: str
    rows_per_table: dict[str, int]


def latest_rows(df: DataFrame, key: str) -> DataFrame:
    """One row per (key, event_timestamp): the one with the greatest created_timestamp."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    w = Window.partitionBy(key, "event_timestamp").orderBy(F.col("created_timestamp").desc())
    return df.withColumn("__rank", F.row_number().over(w)).where("__rank = 1").drop("__rank")


def window_tables(
    spark: SparkSession, features_dir: Path, start: datetime, end: datetime
) -> dict[str, DataFrame]:
    """The feature tables restricted to the training window, corrected rows only."""
    from pyspark.sql import functions as F

    if start >= end:
        raise ValueError(
            f"training window start {start} is not before end {end}; "
            "pass --start earlier than --end"
        )
    out = {}
    for table, key in TABLES.items():
        path = Path(features_dir) / table
        if not path.exists():
            raise FileNotFoundError(
                f"no feature table at {path}; build the feature tables "
                "first (scripts/build_feature_tables.py)"
            )
        df = spark.read.parquet(str(path))
        df = df.where(
            (F.col("event_timestamp") >= F.lit(start)) & (F.col("event_timestamp") < F.lit(end))
        )
        out[table] = latest_rows(df, key)
    return out


def fit_on_spark(
    spark: SparkSession,
    features_dir: Path,
    start: datetime,
    end: datetime,
    specs: Sequence[EncoderSpec],
) -> tuple[EncoderSet, dict[str, int]]:
    """Fit ``specs`` from statistics over the window; also return the rows seen per table."""
    tables = window_tables(spark, features_dir, start, end)
    requests = stat_requests(specs)
    answers: dict = {}
    counts: dict[str, int] = {}
    for name, df in tables.items():
        mine = tuple(r for r in requests if r.input in df.columns)
        if mine:
            df = df.cache()
            counts[name] = df.count()
            answers.update(spark_statistics(df, mine).values)
            df.unpersist()
    unplaced = sorted({r.input for r in requests} - {r.input for r in answers})
    if unplaced:
        raise ValueError(
            f"inputs {unplaced} are in no feature table; fitted encoders can only "
            "read feature-table columns (request-time inputs must be stateless)"
        )
    return fit(specs, Statistics(answers)), counts


def publish(enc: EncoderSet, state_path: Path, repo: Path | None = None) -> Path:
    """Save the state atomically, then ``feast apply`` ``repo`` (when given) so its on-demand
    view embeds the state and tags its hash."""
    path = save(enc, state_path)
    if repo is not None:
        from feast_bridge.store import feast_cli

        feast_cli("apply", repo=repo)
    return path


def fit_and_publish(
    spark: SparkSession,
    features_dir: Path,
    start: datetime,
    end: datetime,
    specs: Sequence[EncoderSpec],
    state_path: Path,
    repo: Path | None = None,
) -> Published:
    enc, counts = fit_on_spark(spark, features_dir, start, end, specs)
    path = publish(enc, state_path, repo)
    return Published(path, enc.content_hash, counts)
