"""The main job's traffic stage picks label days spread over the labels' range, ending at the
last, on distinct weekdays when the days are consecutive (``demo.traffic.spread_days``)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from demo.traffic import spread_days


@pytest.mark.parametrize("n", [8, 13, 21, 43, 49, 50])
def test_spread_days_cover_every_weekday_and_end_at_the_last(n: int) -> None:
    days = [date(2024, 1, 8) + timedelta(days=i) for i in range(n)]
    picked = spread_days(days, 7)
    assert len(picked) == 7 and picked == sorted(set(picked)) and picked[-1] == days[-1]
    assert {d.weekday() for d in picked} == set(range(7))
    assert picked[0] - days[0] < timedelta(days=12)  # spans the range


def test_few_days_are_all_taken() -> None:
    days = [date(2024, 1, 1), date(2024, 1, 9)]
    assert spread_days(days, 7) == days
