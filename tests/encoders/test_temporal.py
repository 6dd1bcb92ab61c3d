"""Unit tests for time-since and cyclical encoders."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from encoders import Cyclical, EncoderSet, NoState, SpecError, TimeSince

NOW = datetime(2026, 11, 2, 13, 45, tzinfo=timezone.utc)  # a Monday


def one(spec) -> EncoderSet:
    return EncoderSet.of((spec, NoState()))


def test_time_since_units_and_clipping() -> None:
    enc = one(TimeSince("t", input="e", unit="hours", max_value=24.0))
    assert enc.encode_values({"e": NOW - timedelta(hours=3)}, NOW) == [3.0]
    assert enc.encode_values({"e": NOW - timedelta(days=3)}, NOW) == [24.0]  # clipped
    assert enc.encode_values({"e": NOW + timedelta(hours=1)}, NOW) == [0.0]  # future -> 0
    days = one(TimeSince("t", input="e", unit="days", max_value=400.0))
    assert days.encode_values({"e": NOW - timedelta(days=1, hours=12)}, NOW) == [1.5]


def test_time_since_missing_event_or_request_time_gives_fill() -> None:
    enc = one(TimeSince("t", input="e", unit="days", max_value=90.0, missing_indicator=True))
    assert enc.encode_values({"e": None}, NOW) == [90.0, 1.0]
    assert enc.encode_values({"e": NOW}, None) == [90.0, 1.0]
    filled = one(TimeSince("t", input="e", fill=-1.0))
    assert filled.encode_values({"e": None}, NOW) == [-1.0]


def test_naive_request_time_is_utc() -> None:
    enc = one(TimeSince("t", input="e", unit="seconds", max_value=1e9))
    naive = NOW.replace(tzinfo=None)
    assert enc.encode_values({"e": naive - timedelta(seconds=10)}, naive) == [10.0]
    assert enc.encode_values({"e": NOW - timedelta(seconds=10)}, naive) == [10.0]


def test_cyclical_hour_of_day() -> None:
    enc = one(Cyclical("h", period="hour_of_day"))
    s, c = enc.encode_values({}, NOW)  # hour 13
    assert (s, c) == (pytest.approx(math.sin(2 * math.pi * 13 / 24)),
                      pytest.approx(math.cos(2 * math.pi * 13 / 24)))
    midnight = NOW.replace(hour=0, minute=0)
    assert enc.encode_values({}, midnight) == [0.0, 1.0]
    assert enc.encode_values({}, None) == [0.0, 0.0]


def test_cyclical_day_of_week_and_offset() -> None:
    dow = one(Cyclical("d", period="day_of_week"))
    assert dow.encode_values({}, NOW) == [0.0, 1.0]  # Monday = 0
    # 13:45 UTC on Monday is 23:45 Sunday at UTC-14:00
    west = one(Cyclical("d", period="day_of_week", utc_offset_minutes=-14 * 60))
    k = 6
    assert west.encode_values({}, NOW) == [pytest.approx(math.sin(2 * math.pi * k / 7)),
                                           pytest.approx(math.cos(2 * math.pi * k / 7))]
    before_1970 = datetime(1969, 12, 29, tzinfo=timezone.utc)  # a Monday
    assert dow.encode_values({}, before_1970) == [0.0, 1.0]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: TimeSince("t", input="e", unit="weeks"), "unit"),
        (lambda: TimeSince("t", input="e", max_value=0.0), "> 0"),
        (lambda: Cyclical("c", period="month"), "period"),
        (lambda: Cyclical("c", utc_offset_minutes=1440), "between"),
    ],
)
def test_invalid_time_specs(make, message) -> None:
    with pytest.raises(SpecError, match=message):
        make()
