"""``column_values`` gives exactly what ``to_pylist()`` gives, faster for aware timestamps."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa
import pytest

from spark_jobs.arrow_values import column_values

# 0001-01-02 and 9999-12-31 00:00: inside datetime range in every zone used below
US = [0, 1, -1, 1_700_000_000_123_456, -62_135_510_400_000_000, 253_402_214_400_000_000]


@pytest.mark.parametrize("unit,scale", [("s", 1_000_000), ("ms", 1000), ("us", 1)])
@pytest.mark.parametrize("tz", ["UTC", "America/Sao_Paulo", "+05:30"])
def test_aware_timestamps_equal_to_pylist(unit: str, scale: int, tz: str) -> None:
    ints = [v // scale for v in US] + [None]
    array = pa.array(ints, pa.timestamp(unit, tz=tz))
    fast, slow = column_values(array), array.to_pylist()
    assert fast == slow  # same instants (aware datetimes compare by instant)
    assert fast[-1] is None
    assert all(v.utcoffset().total_seconds() == 0 for v in fast[:-1])


def test_other_types_go_through_to_pylist() -> None:
    for array in (pa.array([1.5, None, float("nan")]), pa.array(["a", None, "é"]),
                  pa.array([datetime(2024, 1, 1), None], pa.timestamp("us")),
                  pa.array([1, None], pa.timestamp("ns", tz="UTC"))):
        assert column_values(array) == array.to_pylist() or all(
            a == b or (a != a and b != b) for a, b in zip(column_values(array),
                                                          array.to_pylist()))


def test_known_value() -> None:
    array = pa.array([1_700_000_000_123_456], pa.timestamp("us", tz="UTC"))
    assert column_values(array) == [datetime(2023, 11, 14, 22, 13, 20, 123456, timezone.utc)]
