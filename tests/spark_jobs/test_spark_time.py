"""Instants between Python and Spark (``spark_jobs/spark_time.py``): naive means UTC, the label
time survives the trip through ``TIMESTAMP_NTZ`` exactly, and a session off UTC is refused."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from encoders.values import as_utc
from spark_jobs.spark_time import ntz_for_feast, require_utc_session, restore_type

UTC = timezone.utc


def test_as_utc_takes_naive_as_utc_and_converts_aware() -> None:
    assert as_utc(datetime(2024, 3, 20)) == datetime(2024, 3, 20, tzinfo=UTC)
    kolkata = timezone(timedelta(hours=5, minutes=30))
    got = as_utc(datetime(2024, 3, 20, 5, 30, tzinfo=kolkata))
    assert got == datetime(2024, 3, 20, tzinfo=UTC) and got.tzinfo is UTC
    with pytest.raises(TypeError, match="expected a datetime"):
        as_utc("2024-03-20")  # type: ignore[arg-type]


def test_label_times_cross_as_ntz_and_come_back_unchanged(spark) -> None:
    from pyspark.sql import functions as F

    times = [datetime(2024, 3, 20, tzinfo=UTC), datetime(2024, 3, 19, 23, 59, 59, 999999,
                                                       tzinfo=UTC)]
    df = spark.createDataFrame([(i, t) for i, t in enumerate(times)], "i long, t timestamp")
    ntz, original = ntz_for_feast(df, "t")
    assert dict(ntz.dtypes)["t"] == "timestamp_ntz" and original.typeName() == "timestamp"
    # what Feast collects: the naive UTC wall clock, whatever the process time zone
    assert ntz.agg(F.max("t")).collect()[0][0] == datetime(2024, 3, 20)
    back = restore_type(ntz, "t", original)
    assert back.columns == df.columns and dict(back.dtypes)["t"] == "timestamp"
    assert back.select(F.unix_micros("t")).collect() == df.select(F.unix_micros("t")).collect()
    already, kept = ntz_for_feast(ntz, "t")
    assert already is ntz and kept.typeName() == "timestamp_ntz"


def test_a_session_off_utc_is_refused(spark) -> None:
    other = spark.newSession()  # its own SQL conf; the shared session stays on UTC
    other.conf.set("spark.sql.session.timeZone", "America/New_York")
    df = other.range(1)
    with pytest.raises(ValueError, match="spark.sql.session.timeZone=UTC"):
        require_utc_session(df)
    require_utc_session(spark.range(1))
