"""The source row the offline side reports for a pair: the point-in-time rule's pick at the
as-of time, with the versions of its event time (what the late-row classification reads)."""

from __future__ import annotations

from skew.classify import RowVersion
from skew.offline_side import row_version

H = 3_600_000_000  # one hour in microseconds


def test_the_latest_row_known_at_the_as_of_time() -> None:
    rows = [(0, 0), (24 * H, 24 * H + 10), (24 * H, 30 * H), (48 * H, 48 * H)]
    # at 26 h: day 1's first version is known, its restatement (30 h) is not yet
    assert row_version(rows, 26 * H) == RowVersion(24 * H, 24 * H + 10, 30 * H, 2)
    # exactly at the restatement's created time it counts
    assert row_version(rows, 30 * H) == RowVersion(24 * H, 30 * H, 30 * H, 2)
    # without as-known, the restatement counts before it was created
    assert row_version(rows, 26 * H, as_known=False) == RowVersion(24 * H, 30 * H, 30 * H, 2)
    # a future row (48 h) does not; exactly at an event time it does
    assert row_version(rows, 48 * H - 1).event_us == 24 * H
    assert row_version(rows, 48 * H) == RowVersion(48 * H, 48 * H, 48 * H, 1)


def test_no_row_and_null_created_times() -> None:
    assert row_version([], 5) is None
    assert row_version([(10, 10)], 5) is None  # only future rows
    # a null created time is never known as-known; without it, it ranks below a real one
    assert row_version([(0, None)], 5) is None
    assert row_version([(0, None)], 5, as_known=False) == RowVersion(0, None, None, 0)
    assert row_version([(0, None), (0, 3)], 5, as_known=False) == RowVersion(0, 3, 3, 1)
