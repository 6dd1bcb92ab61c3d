"""Unit tests for numeric encoders: concrete numbers for the documented rules."""

from __future__ import annotations

import math
import statistics
import sys

import pytest

from encoders import (
    Clip,
    Log1p,
    MinMax,
    MinMaxState,
    Numeric,
    SpecError,
    StateError,
    StatisticsError,
    ZScore,
    ZScoreState,
    collect_statistics,
    fit,
    stat_requests,
)


def fit_on(spec, values):
    rows = [{"x": v} for v in values]
    return fit([spec], collect_statistics(rows, stat_requests([spec])))


def enc1(enc, x):
    return enc.encode_values({"x": x})


def test_numeric_passthrough_fill_and_indicator() -> None:
    enc = fit_on(Numeric("n", input="x", fill=-1.0, missing_indicator=True), [])
    assert enc.names == ("n", "n__missing")
    assert enc1(enc, 2.5) == [2.5, 0.0]
    assert enc1(enc, 7) == [7.0, 0.0]
    assert enc1(enc, None) == [-1.0, 1.0]


def test_clip_bounds_and_missing_not_clamped() -> None:
    enc = fit_on(Clip("c", input="x", low=-1.0, high=1.0, fill=5.0), [])
    assert [enc1(enc, v)[0] for v in (-3.0, -1.0, 0.25, 1.0, 9.0)] == [-1.0, -1.0, 0.25, 1.0, 1.0]
    assert enc1(enc, None) == [5.0]


def test_log1p_clamps_negative_counts_to_zero() -> None:
    enc = fit_on(Log1p("l", input="x"), [])
    assert enc1(enc, 0.0) == [0.0]
    assert enc1(enc, -5) == [0.0]
    assert enc1(enc, -0.5) == [0.0]
    assert enc1(enc, math.e - 1) == [pytest.approx(1.0)]


def test_zscore_uses_population_std() -> None:
    data = [1.0, 2.0, 3.0, 4.0, 10.0]
    enc = fit_on(ZScore("z", input="x"), data)
    state = enc.encoders[0].state
    assert state.mean == pytest.approx(statistics.fmean(data))
    assert state.scale == pytest.approx(statistics.pstdev(data))  # ddof=0
    assert state.scale != pytest.approx(statistics.stdev(data))  # not Spark's ddof=1
    assert enc1(enc, 4.0)[0] == pytest.approx((4.0 - 4.0) / statistics.pstdev(data))


def test_zscore_zero_variance_uses_scale_one() -> None:
    enc = fit_on(ZScore("z", input="x"), [3.0, 3.0, 3.0])
    assert enc.encoders[0].state == ZScoreState(mean=3.0, scale=1.0)
    assert enc1(enc, 5.0) == [2.0]  # x - mean, not 0.0 as Spark would give


def test_zscore_ignores_missing_when_fitting_and_fills_with_zero() -> None:
    enc = fit_on(ZScore("z", input="x"), [1.0, None, float("nan"), 3.0, "x"])
    assert enc.encoders[0].state.mean == 2.0
    assert enc1(enc, None) == [0.0]


def test_fitting_with_no_present_values_names_the_fix() -> None:
    with pytest.raises(StatisticsError, match="no present values.*widen the window"):
        fit_on(ZScore("z", input="x"), [None, float("nan")])


def test_zscore_overflow_saturates_to_finite() -> None:
    enc = fit_on(ZScore("z", input="x"), [0.0, 1.0])  # scale 0.5
    assert enc1(enc, sys.float_info.max) == [sys.float_info.max]
    assert enc1(enc, -sys.float_info.max) == [-sys.float_info.max]


def test_variance_overflow_when_fitting_names_the_fix() -> None:
    with pytest.raises(StatisticsError, match="overflows.*Log1p"):
        fit_on(ZScore("z", input="x"), [-1e308, 1e308])


@pytest.mark.parametrize("values", [[-1e308, 1e308], [-sys.float_info.max, 0.0, 1.0,
                                                       sys.float_info.max]])
def test_minmax_range_beyond_a_double_when_fitting_names_the_fix(values) -> None:
    """The range would be inf and every output 0.0; refused like ZScore's variance."""
    with pytest.raises(StatisticsError, match="range .* overflows a double.*Log1p or Clip"):
        fit_on(MinMax("m", input="x"), values)
    with pytest.raises(StatisticsError, match="variance .* overflows a double.*Log1p or Clip"):
        fit_on(ZScore("z", input="x"), values)


def test_minmax_widest_finite_range_maps_min_to_0_and_max_to_1() -> None:
    big = sys.float_info.max
    enc = fit_on(MinMax("m", input="x"), [-big / 2, big / 2])
    assert enc1(enc, -big / 2) == [0.0] and enc1(enc, big / 2) == [1.0]
    assert enc1(enc, 0.0) == [0.5]


def test_minmax_constant_column_and_clip() -> None:
    enc = fit_on(MinMax("m", input="x"), [0.0, 5.0, 10.0])
    assert enc1(enc, 5.0) == [0.5]
    assert enc1(enc, 20.0) == [2.0]  # unclipped by default, as scikit-learn
    clipped = fit_on(MinMax("m", input="x", clip=True), [0.0, 5.0, 10.0])
    assert enc1(clipped, 20.0) == [1.0] and enc1(clipped, -3.0) == [0.0]
    const = fit_on(MinMax("m", input="x"), [4.0, 4.0])
    assert const.encoders[0].state == MinMaxState(4.0, 4.0)
    assert enc1(const, 6.0) == [2.0]  # range 1.0 when constant


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Numeric("bad name", input="x"), "not a valid name"),
        (lambda: Numeric("n", input="1x"), "not a valid name"),
        (lambda: Numeric("n", input="x", fill=float("nan")), "finite number"),
        (lambda: Numeric("n", input="x", fill=True), "finite number"),
        (lambda: Numeric("n", input="x", missing_indicator="yes"), "True or False"),
        (lambda: Clip("c", input="x", low=2.0, high=1.0), "swap them"),
    ],
)
def test_invalid_specs_raise_naming_the_fix(make, message) -> None:
    with pytest.raises(SpecError, match=message):
        make()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ZScoreState(mean=0.0, scale=0.0), "must be > 0"),
        (lambda: ZScoreState(mean=float("inf"), scale=1.0), "finite"),
        (lambda: MinMaxState(min=2.0, max=1.0), "re-fit"),
        (lambda: MinMaxState(min=-1e308, max=1e308), "overflows a double.*re-fit"),
    ],
)
def test_invalid_states_raise(make, message) -> None:
    with pytest.raises(StateError, match=message):
        make()
