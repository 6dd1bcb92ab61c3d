"""Unit tests for time-since and cyclical encoders."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- exact time arithmetic: integer microseconds, any year datetime supports ------------------

UTC = timezone.utc
ZONES = st.one_of(st.none(), st.just(UTC), st.builds(
    timezone, st.timedeltas(min_value=-timedelta(hours=23, minutes=59),
                            max_value=timedelta(hours=23, minutes=59))))
ANY_TIME = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                        timezones=ZONES)
# the same, often exactly on or 1 µs before a second boundary
EDGY_TIME = st.one_of(ANY_TIME, ANY_TIME.map(lambda d: d.replace(microsecond=0)),
                      ANY_TIME.map(lambda d: d.replace(microsecond=999999)))
OFFSETS = st.integers(-1439, 1439)


def numpy_hour_and_weekday(when: datetime, offset_minutes: int) -> tuple[int, int]:
    """The oracle: numpy's calendar (``datetime64``), fed the UTC wall time (naive = UTC) and
    shifted by the encoder's fixed offset, floored to hours and days by ``astype``."""
    if when.tzinfo is not None and when.utcoffset() is not None:
        when = (when.replace(tzinfo=None) - when.utcoffset())
    t = np.datetime64(when.replace(tzinfo=None), "us") + np.timedelta64(offset_minutes, "m")
    hours = int(t.astype("datetime64[h]").astype(np.int64))
    days = int(t.astype("datetime64[D]").astype(np.int64))
    return hours % 24, (days + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)


@pytest.mark.parametrize("year", [1, 1969, 2024, 2242, 2514, 3000, 5000, 9999])
def test_cyclical_last_microsecond_of_an_hour_stays_in_that_hour(year) -> None:
    """Float seconds put hh:59:59.999999 into the next hour after the year ~2514."""
    hours = one(Cyclical("h", period="hour_of_day"))
    days = one(Cyclical("d", period="day_of_week"))
    for hh in (0, 13, 23):
        last = datetime(year, 6, 1, hh, 59, 59, 999999, tzinfo=UTC)
        assert hours.encode_values({}, last) == [math.sin(2 * math.pi * hh / 24),
                                                 math.cos(2 * math.pi * hh / 24)], (year, hh)
        assert hours.encode_values({}, last.replace(tzinfo=None)) == \
            hours.encode_values({}, last)  # naive = UTC
    end_of_day = datetime(year, 6, 1, 23, 59, 59, 999999, tzinfo=UTC)
    k = end_of_day.weekday()
    assert days.encode_values({}, end_of_day) == [math.sin(2 * math.pi * k / 7),
                                                  math.cos(2 * math.pi * k / 7)], year


@st.composite
def times_near_boundaries(draw) -> tuple[datetime, int]:
    """``(request time, utc_offset_minutes)``: any instant of years 1-9999, or one exactly at
    / 1 µs before an hour boundary of the encoder's zone, given naive (UTC) or in any zone."""
    offset = draw(OFFSETS)
    base = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
    edge = draw(st.sampled_from([None, 0, -1]))
    if edge is not None:  # local hh:00:00 is UTC minute (-offset) % 60
        base = base.replace(minute=(-offset) % 60, second=0, microsecond=0) + \
            timedelta(microseconds=edge)
    zone = draw(ZONES)
    return (base if zone is None else base.replace(tzinfo=UTC).astimezone(zone)), offset


@settings(max_examples=400, deadline=None)
@given(case=times_near_boundaries())
def test_cyclical_matches_numpy_calendar_over_the_whole_datetime_range(case) -> None:
    """Aware (any fixed zone, seconds and microseconds included) and naive (read as UTC)
    request times, years 1 to 9999, every fixed offset: the hour and weekday are numpy's."""
    when, offset = case
    hour_k, day_k = numpy_hour_and_weekday(when, offset)
    hours = one(Cyclical("h", period="hour_of_day", utc_offset_minutes=offset))
    days = one(Cyclical("d", period="day_of_week", utc_offset_minutes=offset))
    assert hours.encode_values({}, when) == [math.sin(2 * math.pi * hour_k / 24),
                                             math.cos(2 * math.pi * hour_k / 24)]
    assert days.encode_values({}, when) == [math.sin(2 * math.pi * day_k / 7),
                                            math.cos(2 * math.pi * day_k / 7)]


def exact_elapsed(event: datetime, request: datetime, unit_seconds: int, cap: float) -> float:
    """The oracle: the elapsed time as an exact fraction (timedelta arithmetic, naive = UTC),
    clipped to ``[0, cap]``, rounded once."""
    def utc(d: datetime) -> datetime:
        return d.replace(tzinfo=UTC) if d.tzinfo is None else d

    delta = utc(request) - utc(event)
    us = (delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds
    value = Fraction(us, unit_seconds * 10**6)
    return float(min(max(value, Fraction(0)), Fraction(cap)))


UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


@settings(max_examples=400, deadline=None)
@given(event=EDGY_TIME, request=EDGY_TIME, unit=st.sampled_from(sorted(UNITS)),
       cap=st.sampled_from([1e-6, 1.0, 90.0, 1e12]))
def test_time_since_is_the_exact_elapsed_time_rounded_once(event, request, unit, cap) -> None:
    enc = one(TimeSince("t", input="e", unit=unit, max_value=cap))
    assert enc.encode_values({"e": event}, request) == [
        exact_elapsed(event, request, UNITS[unit], cap)]


@pytest.mark.parametrize("year", [2514, 5000, 9999])
def test_time_since_resolves_one_microsecond_in_any_year(year) -> None:
    """Float seconds had a spacing of 4-16 µs there: 1 µs read as 0 or several µs."""
    enc = one(TimeSince("t", input="e", unit="seconds", max_value=1e9))
    request = datetime(year, 6, 1, 12, 0, 0, 1, tzinfo=UTC)
    assert enc.encode_values({"e": request - timedelta(microseconds=1)}, request) == [1e-6]
    assert enc.encode_values({"e": request - timedelta(microseconds=3)}, request) == [3e-6]


def test_numbers_are_posix_seconds_rounded_to_the_microsecond() -> None:
    enc = one(TimeSince("t", input="e", unit="seconds", max_value=1e9))
    t0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert enc.encode_values({"e": t0.timestamp() - 2.5}, t0) == [2.5]
    assert enc.encode_values({"e": t0.timestamp()}, t0.timestamp() + 1e-6) == [1e-6]
    huge = one(TimeSince("t", input="e", unit="seconds", max_value=1e9))
    assert huge.encode_values({"e": -1.7e308}, 1.7e308) == [1e9]  # clipped, no overflow
