"""Unit tests for input coercion (the policy every encoder inherits)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from encoders.values import (
    as_category,
    as_category_cased,
    as_epoch_micros,
    as_epoch_seconds,
    as_number,
)


@pytest.mark.parametrize(
    "x, expected",
    [(1.5, 1.5), (2, 2.0), (True, 1.0), (" -3e2 ", -300.0), (b"4", 4.0), (Decimal("0.1"), 0.1),
     (None, None), (float("nan"), None), (float("-inf"), None), ("1_0", None), ("", None),
     (10**400, None), ([], None), (date(2020, 1, 1), None), (1 + 0j, None)],
)
def test_as_number(x, expected) -> None:
    assert as_number(x) == expected


@pytest.mark.parametrize(
    "x, expected",
    [("a", "a"), (" a ", "a"), ("", None), ("e\u0301", "\u00e9"), (7, "7"), (7.0, "7"),
     (-0.0, "0"), (0.1, "0.1"), (1e20, "100000000000000000000"), (False, "false"),
     (b"\xc3\xa9", "\u00e9"), (b"\xff", None), (None, None), (float("nan"), None)],
)
def test_as_category(x, expected) -> None:
    assert as_category(x) == expected


def test_as_category_cased() -> None:
    assert as_category_cased(" US ", True) == "us"
    assert as_category_cased(" US ", False) == "US"
    assert as_category_cased(None, True) is None


def test_as_epoch_seconds() -> None:
    aware = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert as_epoch_seconds(aware) == aware.timestamp()
    assert as_epoch_seconds(aware.replace(tzinfo=None)) == aware.timestamp()
    assert as_epoch_seconds(aware.astimezone(timezone(timedelta(hours=-7)))) == aware.timestamp()
    assert as_epoch_seconds("2026-01-01T00:00:00Z") == aware.timestamp()
    assert as_epoch_seconds(date(2026, 1, 1)) == aware.timestamp()
    assert as_epoch_seconds(12.5) == 12.5
    for bad in (None, True, "soon", float("nan"), object()):
        assert as_epoch_seconds(bad) is None


def test_as_epoch_micros_is_exact_in_every_year() -> None:
    utc = timezone.utc
    assert as_epoch_micros(datetime(1970, 1, 1, tzinfo=utc)) == 0
    assert as_epoch_micros(datetime(1969, 12, 31, 23, 59, 59, 999999)) == -1  # naive = UTC
    last = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=utc)
    assert as_epoch_micros(last) == 253402300799999999
    assert as_epoch_micros(last.astimezone(timezone(timedelta(hours=-5)))) == 253402300799999999
    assert as_epoch_micros(datetime(1, 1, 1)) == -62135596800000000
    assert as_epoch_micros("2514-06-01T10:59:59.999999Z") % 3_600_000_000 == 3_599_999_999
    assert as_epoch_micros(date(1970, 1, 2)) == 86_400_000_000
    # numbers are POSIX seconds, rounded exactly to the nearest microsecond, ties to even
    assert as_epoch_micros(12.5) == 12_500_000
    assert as_epoch_micros(-0.0078125) == -7812 and as_epoch_micros(0.0234375) == 23438
    assert as_epoch_micros(2.0**-20) == 1 and as_epoch_micros(2.5e-06) == 3  # 2.5e-06 > 2.5 µs
    assert as_epoch_micros(Decimal("1.000001")) == 1_000_001
    for bad in (None, True, "soon", float("nan"), object(), b"\xff"):
        assert as_epoch_micros(bad) is None


def test_pandas_timestamp_nanoseconds_are_floored() -> None:
    pd = pytest.importorskip("pandas")
    ts = pd.Timestamp("2024-03-01T12:00:00.000001999Z")
    assert as_epoch_micros(ts) == as_epoch_micros(datetime(2024, 3, 1, 12, 0, 0, 1,
                                                           tzinfo=timezone.utc))
    assert as_epoch_micros(ts.tz_localize(None)) == as_epoch_micros(ts)
