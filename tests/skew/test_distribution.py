"""The distribution statistics against hand-computed values and independent oracles
(scipy's Jensen–Shannon distance, a direct numpy PSI formula), and their edge cases."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from scipy.spatial.distance import jensenshannon as scipy_js_distance

from skew.distribution import (
    MISSING,
    PSI_EPSILON,
    bin_edges,
    compare,
    compare_categorical,
    compare_numeric,
    histogram,
    jensen_shannon,
    l_infinity,
    population_stability_index,
)

DISJOINT_PSI = 2 * (1 - PSI_EPSILON) * math.log(1 / PSI_EPSILON)


def psi_oracle(t: np.ndarray, s: np.ndarray, eps: float = PSI_EPSILON) -> float:
    """PSI written out term by term, independently of the module."""
    t, s = t / t.sum(), s / s.sum()
    total = 0.0
    for a, b in zip(t, s):
        if a == 0 and b == 0:
            continue
        a, b = (a if a > 0 else eps), (b if b > 0 else eps)
        total += (b - a) * math.log(b / a)
    return total


# --- Jensen–Shannon ------------------------------------------------------------------------


def test_js_hand_computed() -> None:
    # M = (0.75, 0.25); KL(P||M) = log2(4/3); KL(Q||M) = 0.5*log2(2/3) + 0.5*log2(2)
    expected = (math.log2(4 / 3) + 0.5 * math.log2(2 / 3) + 0.5) / 2
    assert jensen_shannon([1, 0], [0.5, 0.5]) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(0.311278, abs=1e-6)


def test_js_matches_scipy_on_random_histograms() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        p = rng.integers(0, 20, size=12).astype(float)
        q = rng.integers(0, 20, size=12).astype(float)
        p[0] += 1
        q[1] += 1  # never all zero
        oracle = scipy_js_distance(p, q, base=2) ** 2
        assert jensen_shannon(p, q) == pytest.approx(oracle, abs=1e-12)


def test_js_identical_zero_disjoint_one_and_symmetric() -> None:
    assert jensen_shannon([3, 1, 0], [6, 2, 0]) == 0.0
    assert jensen_shannon([5, 0, 0], [0, 0, 7]) == 1.0
    assert jensen_shannon([1, 2, 3], [3, 2, 1]) == jensen_shannon([3, 2, 1], [1, 2, 3])


# --- PSI -------------------------------------------------------------------------------------


def test_psi_hand_computed() -> None:
    # (0.25 - 0.5) ln(0.25/0.5) + (0.75 - 0.5) ln(0.75/0.5)
    expected = 0.25 * math.log(2) + 0.25 * math.log(1.5)
    assert population_stability_index([2, 2], [1, 3]) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(0.274653, abs=1e-6)


def test_psi_empty_bins_use_epsilon_and_matches_oracle() -> None:
    # bin 3 empty in training only; bin 4 empty on both sides (adds nothing)
    t, s = np.array([2.0, 2.0, 0.0, 0.0]), np.array([2.0, 1.0, 1.0, 0.0])
    expected = 0.25 * math.log(2) + (0.25 - PSI_EPSILON) * math.log(0.25 / PSI_EPSILON)
    assert population_stability_index(t, s) == pytest.approx(expected, abs=1e-12)
    assert population_stability_index(t, s) == pytest.approx(psi_oracle(t, s), abs=1e-12)
    rng = np.random.default_rng(5)
    for _ in range(50):
        a = rng.integers(0, 6, size=10).astype(float)
        b = rng.integers(0, 6, size=10).astype(float)
        a[0] += 1
        b[0] += 1
        assert population_stability_index(a, b) == pytest.approx(psi_oracle(a, b), abs=1e-12)


def test_psi_identical_zero_disjoint_bounded_by_epsilon() -> None:
    assert population_stability_index([1, 2, 3], [2, 4, 6]) == 0.0
    assert population_stability_index([4, 0], [0, 9]) == pytest.approx(DISJOINT_PSI)
    assert population_stability_index([4, 0], [0, 9], epsilon=1e-2) == pytest.approx(
        2 * 0.99 * math.log(100))


# --- L-infinity -----------------------------------------------------------------------------


def test_linf_hand_computed_with_separate_totals() -> None:
    assert l_infinity([2, 2], [1, 3]) == (pytest.approx(0.25), 0)  # first index on ties
    assert l_infinity([1, 0, 0], [0, 0, 5]) == (1.0, 0)
    assert l_infinity([10, 30], [1, 3]) == (0.0, 0)


def test_categorical_categories_on_one_side_only() -> None:
    d = compare_categorical("c", [1, 1, 2], [2, 3, 3])
    assert d.labels == ("1", "2", "3", MISSING)
    assert d.train_counts == (2, 1, 0, 0) and d.serve_counts == (0, 1, 2, 0)
    assert d.statistics == {"linf": pytest.approx(2 / 3)}
    assert d.largest_gap == "1"


def test_categorical_missing_is_a_category() -> None:
    d = compare_categorical("c", [0.0, 1.0, None, None], pa.array([0.0, 1.0, 1.0, 1.0]))
    assert d.train_counts[-1] == 2 and d.serve_counts[-1] == 0
    assert d.statistics["linf"] == pytest.approx(0.5)
    assert d.largest_gap in (MISSING, "1")
    assert d.train_missing_rate == 0.5 and d.serve_missing_rate == 0.0


def test_categorical_identical_zero_disjoint_one_all_null() -> None:
    assert compare_categorical("c", [1, 2, 2], [2, 1, 2]).statistics["linf"] == 0.0
    assert compare_categorical("c", [1, 1], [7]).statistics["linf"] == 1.0
    allnull = compare_categorical("c", [None, None], [np.nan])
    assert allnull.labels == (MISSING,) and allnull.statistics["linf"] == 0.0
    assert compare_categorical("c", [None], [3]).statistics["linf"] == 1.0


# --- numeric: binning and the whole comparison ----------------------------------------------


def test_numeric_hand_computed_two_bins() -> None:
    d = compare_numeric("x", [0, 0, 1, 1], [0, 1, 1, 1], bins=2)
    assert d.edges == (0.0, 0.5, 1.0)
    assert d.train_counts == (2, 2, 0) and d.serve_counts == (1, 3, 0)
    m = (0.375, 0.625)
    js = (0.5 * math.log2(0.5 / m[0]) + 0.5 * math.log2(0.5 / m[1])
          + 0.25 * math.log2(0.25 / m[0]) + 0.75 * math.log2(0.75 / m[1])) / 2
    assert d.statistics["js"] == pytest.approx(js, abs=1e-12)
    assert d.statistics["psi"] == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5))
    assert d.labels == ("[0, 0.5)", "[0.5, 1]", MISSING)


def test_numeric_identical_zero_and_disjoint_max() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=1000)
    same = compare_numeric("x", x, x.copy())
    assert same.statistics == {"js": 0.0, "psi": 0.0}
    apart = compare_numeric("x", np.zeros(50), np.ones(80))
    assert apart.statistics["js"] == 1.0
    assert apart.statistics["psi"] == pytest.approx(DISJOINT_PSI)


def test_numeric_edges_values_on_an_edge_go_up_and_max_is_in_last_bin() -> None:
    edges = bin_edges(np.array([0.0, 10.0]), np.array([5.0]), bins=4)
    assert list(edges) == [0.0, 2.5, 5.0, 7.5, 10.0]
    counts = histogram(np.array([0.0, 2.5, 5.0, 9.9, 10.0, np.nan, np.inf]), edges)
    assert list(counts) == [1, 1, 1, 2, 2]  # ±inf and NaN are missing


def test_numeric_all_null_and_single_value() -> None:
    both_null = compare_numeric("x", [None, None], [np.nan])
    assert both_null.labels == (MISSING,) and both_null.edges == ()
    assert both_null.statistics == {"js": 0.0, "psi": 0.0}
    one_side = compare_numeric("x", [None, None], [1.0, 2.0])
    assert one_side.statistics["js"] == 1.0
    const = compare_numeric("x", [3.0] * 5, [3.0] * 2)
    assert const.labels == ("3", MISSING) and const.statistics["js"] == 0.0
    assert compare_numeric("x", [3.0], [4.0]).statistics["js"] == 1.0


def test_numeric_missing_rate_counts_in_the_distance() -> None:
    d = compare_numeric("x", [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, None, None])
    assert d.serve_missing_rate == 0.5 and d.train_missing_rate == 0.0
    assert d.statistics["js"] > 0.1


def test_quantile_binning_uses_training_quantiles_and_merges_ties() -> None:
    train = np.array([0.0] * 60 + list(range(1, 41)), dtype=float)  # 60% point mass at 0
    edges = bin_edges(train, np.array([100.0]), bins=5, binning="quantile")
    assert edges[0] == 0.0 and edges[-1] == 100.0
    assert len(set(edges)) == len(edges)  # duplicate quantiles merged
    # quantiles 0.2/0.4/0.6 are 0 (the 20th/40th/60th values), 0.8 is 20 (the 80th)
    assert list(edges) == [0.0, 20.0, 100.0]
    d = compare_numeric("x", train, train, bins=5, binning="quantile")
    assert d.statistics["js"] == 0.0 and d.train_counts == (79, 21, 0)


def test_pyarrow_nulls_are_missing() -> None:
    d = compare_numeric("x", pa.chunked_array([[1.0, None], [2.0]]), pa.array([1, 2, None]))
    assert d.train_counts[-1] == 1 and d.serve_counts[-1] == 1


@pytest.mark.parametrize("shift, js, psi", [(0.5, 0.040, 0.23), (1.0, 0.149, 0.92)])
def test_default_threshold_calibration(shift: float, js: float, psi: float) -> None:
    """The figures skew/thresholds.py quotes to justify the default thresholds."""
    rng = np.random.default_rng(0)
    d = compare_numeric("x", rng.normal(size=200_000), rng.normal(shift, 1, size=200_000))
    assert d.statistics["js"] == pytest.approx(js, abs=0.005)
    assert d.statistics["psi"] == pytest.approx(psi, abs=0.03)


# --- errors -----------------------------------------------------------------------------------


def test_bad_input_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="training sample is empty"):
        compare_numeric("x", [], [1.0])
    with pytest.raises(ValueError, match="serving sample is empty"):
        compare_categorical("x", [1.0], [])
    with pytest.raises(ValueError, match="same edges"):
        jensen_shannon([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="positive total"):
        l_infinity([0, 0], [1, 1])
    with pytest.raises(ValueError, match="bins=0 must be an integer >= 1"):
        compare_numeric("x", [1.0], [1.0], bins=0)
    with pytest.raises(ValueError, match="binning='deciles' is unknown"):
        compare_numeric("x", [1.0], [1.0], binning="deciles")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="epsilon"):
        population_stability_index([1], [1], epsilon=0)
    with pytest.raises(ValueError, match="must be numbers or None"):
        compare_numeric("x", ["a"], [1.0])
    with pytest.raises(ValueError, match="kind='ordinal' is unknown"):
        compare("x", "ordinal", [1.0], [1.0])  # type: ignore[arg-type]
