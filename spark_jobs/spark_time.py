"""Instants between Python and Spark, the same in every process time zone.

Spark keeps a ``TIMESTAMP`` as microseconds since the epoch and renders it in the session time
zone, which skewless pins to UTC (:mod:`spark_jobs.spark_session`). PySpark's own conversions
on the Python side do not read that setting: they read the *process* time zone (``TZ``,
``time.tzset``):

* ``collect()`` / ``first()`` of a ``TIMESTAMP`` column give **naive local** datetimes
  (``TimestampType.fromInternal`` is ``datetime.fromtimestamp``): under ``TZ=America/New_York``
  2024-03-20T00:00Z comes back as ``datetime(2024, 3, 19, 20, 0)``;
* a **naive** datetime handed to Spark (``F.lit``, ``createDataFrame``) is read as local time
  (``time.mktime``); an aware one is exact.

``TIMESTAMP_NTZ`` values cross unchanged in both directions (PySpark converts them with
``timezone.utc``). skewless' rule is the encoders' one: a naive datetime means UTC.

:func:`encoders.values.as_utc` and :func:`utc_literal` apply it wherever skewless turns a
Python time into a Spark value; :func:`ntz_for_feast` / :func:`restore_type` carry label
times through Feast's Spark offline store, which collects the label time range with
``collect()`` and uses the naive local datetimes it gets as UTC bounds (Feast 0.67,
``spark.py::_get_entity_df_event_timestamp_range``: with ``TZ`` west of UTC the newest
snapshots drop out of a training set, east of it the rows exactly at ``T - ttl`` do).

Edge cases: :func:`encoders.values.as_utc` refuses anything that is not a ``datetime``
(``TypeError``); the cast between ``TIMESTAMP`` and ``TIMESTAMP_NTZ`` uses the session time zone, so
:func:`require_utc_session` refuses a session that is not on UTC (Feast's point-in-time SQL
compares its bounds as text in that zone too).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from encoders.values import as_utc

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame

UTC_NAMES = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "+00:00"})


def utc_literal(value: datetime) -> Column:
    """A Spark ``TIMESTAMP`` literal of the instant ``value`` denotes (naive = UTC)."""
    from pyspark.sql import functions as F

    return F.lit(as_utc(value))


def require_utc_session(df: DataFrame) -> None:
    """Raise ``ValueError`` unless ``df``'s session renders timestamps in UTC."""
    zone = df.sparkSession.conf.get("spark.sql.session.timeZone")
    if zone not in UTC_NAMES:
        raise ValueError(
            f"the Spark session's time zone is {zone!r}: skewless needs "
            "spark.sql.session.timeZone=UTC (start Spark with spark_jobs.spark_session.get_spark, "
            "or spark.conf.set('spark.sql.session.timeZone', 'UTC'))")


def ntz_for_feast(df: DataFrame, column: str) -> tuple[DataFrame, Any]:
    """``df`` with the ``TIMESTAMP`` ``column`` as ``TIMESTAMP_NTZ`` holding its UTC wall-clock
    time, and the column's original type for :func:`restore_type`.

    Why: Feast's Spark store reads the label time range with ``collect()``; an NTZ value comes
    back as the naive UTC datetime Feast takes it for, whatever ``TZ`` is. Its SQL compares
    the NTZ label time with the feature tables' ``TIMESTAMP`` columns in the session zone
    (UTC), so the join itself is unchanged. A column that is NTZ already is left alone."""
    from pyspark.sql import functions as F

    require_utc_session(df)
    original = df.schema[column].dataType
    if original.typeName() == "timestamp_ntz":
        return df, original
    return df.withColumn(column, F.col(column).cast("timestamp_ntz")), original


def restore_type(df: DataFrame, column: str, original: Any) -> DataFrame:
    """``df`` with ``column`` cast back to ``original`` (from :func:`ntz_for_feast`), in place."""
    from pyspark.sql import functions as F

    if df.schema[column].dataType == original:
        return df
    return df.withColumn(column, F.col(column).cast(original))
