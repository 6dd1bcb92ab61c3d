"""Unit tests for sufficient statistics and the pure-Python collector."""

from __future__ import annotations

import math
import random
import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from encoders import (
    MinMax,
    Moments,
    QuantileBuckets,
    Quantiles,
    StatisticsError,
    StatRequest,
    ValueCounts,
    ZScore,
    dumps,
    fit,
    loads,
    stat_requests,
)
from encoders.collect import collect_statistics
from encoders.stats import ExactSums


def test_moments_are_exact_and_order_free() -> None:
    values = [1e9 + v for v in (0.1, 0.2, 0.3, 0.4)]
    m = Moments.of(values + [None])
    assert (m.count, m.missing, m.min, m.max) == (4, 1, values[0], values[-1])
    assert m.mean == pytest.approx(1e9 + 0.25, abs=1e-6)
    assert m.variance == pytest.approx(np.var(np.array(values) - 1e9), rel=1e-6)
    assert Moments.of(list(reversed(values))) == Moments.of(values)


def test_moments_merge_equals_one_pass() -> None:
    rng = random.Random(3)
    values = [rng.gauss(50, 10) for _ in range(1000)]
    merged = Moments.of(values[:300]).merge(Moments.of(values[300:]))
    whole = Moments.of(values)
    assert merged.count == whole.count
    assert merged.mean == pytest.approx(whole.mean, rel=1e-12)
    assert merged.m2 == pytest.approx(whole.m2, rel=1e-9)
    empty = Moments.of([None])
    assert empty.merge(whole) == Moments(whole.count, 1, whole.mean, whole.m2, whole.min, whole.max)


def test_quantiles_follow_inverted_cdf() -> None:
    rng = random.Random(5)
    values = [rng.random() for _ in range(101)]
    probs = (0.1, 0.25, 0.3, 0.5, 0.9, 1.0)
    q = Quantiles.of(values, probs)
    assert list(q.values) == list(np.quantile(values, probs, method="inverted_cdf"))
    assert Quantiles.of([None], (0.5,)).count == 0


def test_collector_coerces_like_the_encoders() -> None:
    rows = [{"x": "2", "c": " A "}, {"x": float("inf"), "c": "a"}, {"x": True, "c": None}]
    reqs = (StatRequest("moments", "x"), StatRequest("value_counts", "c", coerce="category"),
            StatRequest("value_counts", "c", coerce="category", lowercase=True))
    stats = collect_statistics(rows, reqs)
    assert stats.get(reqs[0]) == Moments(2, 1, 1.5, 0.5, 1.0, 2.0)
    assert stats.get(reqs[1]) == ValueCounts({"A": 1, "a": 1}, 1)
    assert stats.get(reqs[2]) == ValueCounts({"a": 2}, 1)
    with pytest.raises(StatisticsError, match="collect statistics for every request"):
        stats.get(StatRequest("moments", "other"))


@pytest.mark.parametrize("probs", [(), (0.5, 0.2), (0.2, 0.2), (1.5,)])
def test_bad_quantile_requests(probs) -> None:
    with pytest.raises(StatisticsError, match="sorted"):
        StatRequest("quantiles", "x", probabilities=probs)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False,
                                               min_value=-1e150, max_value=1e150)),
                max_size=40), st.randoms())
def test_exact_sums_do_not_depend_on_order_or_split(values, rnd) -> None:
    whole = ExactSums.of(values).to_moments()
    shuffled = list(values)
    rnd.shuffle(shuffled)
    cut = rnd.randint(0, len(shuffled))
    parts = ExactSums.of(shuffled[:cut]).merge(ExactSums.of(shuffled[cut:]))
    assert parts.to_moments() == whole == Moments.of(shuffled)
    present = [v for v in values if v is not None]
    if present:  # the exact answer, rounded once
        n = len(present)
        exact_mean = sum(Fraction(v) for v in present) / n
        assert whole.mean == float(exact_mean)
        assert whole.m2 == float(sum((Fraction(v) - exact_mean) ** 2 for v in present))


def test_exact_sums_refuse_non_finite_values() -> None:
    with pytest.raises(StatisticsError, match="non-finite.*as_number"):
        ExactSums.of([1.0, float("inf")])


# --- hostile magnitudes: sums near the largest double --------------------------------------

BIG = sys.float_info.max
HOSTILE = st.one_of(
    st.sampled_from([BIG, -BIG, 1e308, -1e308, 9e307, 1e154, -1e154, 5e-324, -5e-324,
                     2.2250738585072014e-308, 0.0, -0.0, 1.0, 2.0**53 + 2]),
    st.floats(allow_nan=False, allow_infinity=False))
HOSTILE_SPECS = (ZScore("z", input="x"), MinMax("m", input="x"),
                 MinMax("mc", input="x", clip=True), QuantileBuckets("q", input="x", num_buckets=4))


def exact_m2(present: list[float]) -> Fraction:
    mean = sum(Fraction(v) for v in present) / len(present)
    return sum((Fraction(v) - mean) ** 2 for v in present)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), HOSTILE), min_size=1, max_size=25))
def test_sums_near_the_largest_double_fit_or_refuse_with_statistics_error(values) -> None:
    """The collector never raises (sums are exact integers, not floats that overflow); every
    fit either gives a state that works or raises ``StatisticsError`` for a documented reason
    — never ``OverflowError`` — and a fitted MinMax maps the training min to 0 and max to 1."""
    rows = [{"x": v} for v in values]
    stats = collect_statistics(rows, stat_requests(HOSTILE_SPECS))
    present = [v for v in values if v is not None]
    for spec in HOSTILE_SPECS:
        try:
            enc = fit([spec], stats)
        except StatisticsError as exc:
            reason = str(exc)
            if not present:
                assert "no present values" in reason
            elif spec.kind == "minmax":
                assert "range" in reason and Fraction(max(present)) - Fraction(min(present)) > \
                    Fraction(BIG), reason
            else:
                assert spec.kind == "zscore" and "variance" in reason
                assert exact_m2(present) > Fraction(BIG), reason  # m2 itself overflows
            continue
        assert present, spec
        assert loads(dumps(enc)) == enc
        for v in (*present, BIG, -BIG, 0.0, None):
            out = enc.encode_values({"x": v})
            assert len(out) == enc.width and all(math.isfinite(o) for o in out), (spec, v, out)
        if spec.kind == "minmax" and min(present) < max(present):
            assert enc.encode_values({"x": min(present)}) == [0.0]
            assert enc.encode_values({"x": max(present)}) == [1.0]
        if spec.kind == "zscore":
            state = enc.encoders[0].state
            variance = float(exact_m2(present) / len(present))
            if variance > 1e-290:  # normal range: the population std, nearly correctly rounded
                assert state.scale == pytest.approx(math.sqrt(variance), rel=1e-12)
            elif variance == 0.0:
                assert state.scale == 1.0  # constant (or underflowing) column: scale 1
