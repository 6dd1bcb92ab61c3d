"""scikit-learn (and numpy) as oracles for the encoders whose semantics we share with them.

Where the semantics agree, the library is the oracle: same inputs, same outputs (to ~1e-12
relative for floats, exactly for indices). Where we differ *on purpose*, a test named
``test_difference_*`` asserts that the difference exists and its docstring says why we differ,
so a change on either side (ours or a scikit-learn upgrade) shows up here.

Encoders are fitted exactly as users fit them: ``collect_statistics(rows, stat_requests(specs))``
then ``fit(specs, stats)``.
"""

from __future__ import annotations

import math
import statistics
import warnings
from bisect import bisect_right

import numpy as np
import pytest
from sklearn.preprocessing import (  # scikit-learn is a project dependency: fail, never skip
    KBinsDiscretizer,
    MinMaxScaler,
    OneHotEncoder,
    StandardScaler,
)

from encoders import (  # noqa: E402
    Buckets,
    MinMax,
    OneHot,
    QuantileBuckets,
    Quantiles,
    VocabularyState,
    ZScore,
    collect_statistics,
    fit,
    stat_requests,
)

RTOL = 1e-12
ATOL = 1e-12


# --- helpers ------------------------------------------------------------------------------------


def fit_set(specs, rows):
    """Fit ``specs`` on ``rows`` the way users do."""
    return fit(specs, collect_statistics(rows, stat_requests(specs)))


def encode_matrix(enc, rows):
    """Encode every row into one numpy matrix (schema order)."""
    return np.array([enc.encode_values(r) for r in rows], dtype=float)


def columns_to_rows(matrix: np.ndarray, prefix: str = "c") -> list[dict[str, object]]:
    """A float matrix as raw rows ``{"c0": float, ...}`` of plain Python floats."""
    return [{f"{prefix}{j}": float(v) for j, v in enumerate(row)} for row in matrix]


def numeric_matrix() -> np.ndarray:
    """Well-conditioned random columns, plus a constant column and an integer column."""
    rng = np.random.default_rng(20261101)
    n = 501
    return np.column_stack([
        rng.normal(40.0, 7.5, n),
        rng.lognormal(3.0, 1.1, n),
        rng.uniform(-1e3, 1e3, n),
        np.full(n, 3.25),  # constant: zero variance / zero range
        rng.integers(-50, 50, n).astype(float),
        rng.normal(0.0, 1e-3, n),
    ])


def unseen_matrix(train: np.ndarray) -> np.ndarray:
    """Inputs inside and outside the training range of every column."""
    lo, hi = train.min(axis=0), train.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.vstack([lo - span, lo - 0.5 * span, lo, (lo + hi) / 2, hi, hi + 0.5 * span,
                      hi + 3.0 * span])


def vocab_of(enc, name: str) -> tuple[str, ...]:
    for e in enc.encoders:
        if e.spec.name == name:
            assert isinstance(e.state, VocabularyState)
            return e.state.tokens
    raise KeyError(name)


# --- ZScore vs StandardScaler -------------------------------------------------------------------


def zscore_specs(n_cols: int, **kw) -> list[ZScore]:
    return [ZScore(f"z{j}", input=f"c{j}", **kw) for j in range(n_cols)]


def test_zscore_matches_standard_scaler_on_training_and_unseen_data():
    """ddof=0 and scale 1.0 at zero variance: StandardScaler's rules are ours."""
    x = numeric_matrix()
    specs = zscore_specs(x.shape[1])
    enc = fit_set(specs, columns_to_rows(x))
    sk = StandardScaler().fit(x)

    for j, e in enumerate(enc.encoders):
        assert math.isclose(e.state.mean, sk.mean_[j], rel_tol=RTOL, abs_tol=ATOL)
        assert math.isclose(e.state.scale, sk.scale_[j], rel_tol=RTOL, abs_tol=ATOL)
    assert enc.encoders[3].state.scale == 1.0 == sk.scale_[3]  # the constant column

    for data in (x, unseen_matrix(x)):
        ours = encode_matrix(enc, columns_to_rows(data))
        np.testing.assert_allclose(ours, sk.transform(data), rtol=RTOL, atol=ATOL)


def test_zscore_ignores_nan_when_fitting_like_standard_scaler():
    """NaN is missing for us and ignored by StandardScaler's fit: the fitted mean/scale agree."""
    x = numeric_matrix()[:, :3].copy()
    x[::7, 0] = np.nan
    x[3::11, 2] = np.nan
    specs = zscore_specs(3)
    enc = fit_set(specs, columns_to_rows(x))
    sk = StandardScaler().fit(x)
    for j, e in enumerate(enc.encoders):
        assert math.isclose(e.state.mean, sk.mean_[j], rel_tol=RTOL)
        assert math.isclose(e.state.scale, sk.scale_[j], rel_tol=RTOL)
    present = ~np.isnan(x).any(axis=1)
    ours = encode_matrix(enc, columns_to_rows(x[present]))
    np.testing.assert_allclose(ours, sk.transform(x[present]), rtol=RTOL, atol=ATOL)


def test_difference_zscore_is_population_std_not_spark_sample_std():
    """We use the population standard deviation (ddof=0, scikit-learn), not Spark's
    StandardScaler / ``statistics.stdev`` (ddof=1), and 1.0 (not Spark's 0.0 output) for a
    zero-variance column. Decided once (DESIGN.md): one anchor, written in ZScore's docstring."""
    values = [1.0, 2.0, 4.0, 8.0, 16.0]
    enc = fit_set([ZScore("z", input="x")], [{"x": v} for v in values])
    state = enc.encoders[0].state
    assert math.isclose(state.scale, statistics.pstdev(values), rel_tol=RTOL)
    assert not math.isclose(state.scale, statistics.stdev(values), rel_tol=1e-3)
    spark_like = (16.0 - statistics.mean(values)) / statistics.stdev(values)
    ours = enc.encode_values({"x": 16.0})[0]
    assert not math.isclose(ours, spark_like, rel_tol=1e-3)

    const = fit_set([ZScore("z", input="x")], [{"x": 5.0}] * 4)
    assert const.encoders[0].state.scale == 1.0
    assert const.encode_values({"x": 7.0}) == [2.0]  # x - mean; Spark would give 0.0


def test_difference_zscore_missing_is_fill_and_indicator_not_nan_passthrough():
    """StandardScaler passes NaN through to the model; we never output NaN. A missing input
    gives ``fill`` (default 0.0 = the training mean) and 1.0 in ``<name>__missing``, so the
    model sees a finite value and a flag, identically online and offline (invariant 5)."""
    x = numeric_matrix()[:, :1]
    enc = fit_set([ZScore("z", input="c0", missing_indicator=True)], columns_to_rows(x))
    sk = StandardScaler().fit(x)
    assert np.isnan(sk.transform(np.array([[np.nan]]))[0, 0])
    assert enc.encode_values({"c0": float("nan")}) == [0.0, 1.0]
    assert enc.encode_values({"c0": None}) == [0.0, 1.0]
    present = enc.encode_values({"c0": 40.0})
    assert present[1] == 0.0
    assert math.isclose(present[0], sk.transform(np.array([[40.0]]))[0, 0], rel_tol=RTOL)


def test_difference_zscore_near_constant_column_keeps_its_tiny_std():
    """StandardScaler treats a column whose variance is within float noise of zero as constant
    (scale 1.0, ``_is_constant_feature``); ZScore's documented rule is an *exact* zero variance
    only, so a spread of one ulp keeps its tiny std and is blown up to O(1) outputs instead of
    being flattened to ~0. If that rule ever changes to sklearn's, this test says so."""
    values = [1.0, 1.0 + 2.0**-52, 1.0]
    enc = fit_set([ZScore("z", input="x")], [{"x": v} for v in values])
    sk = StandardScaler().fit(np.array(values).reshape(-1, 1))
    assert sk.scale_[0] == 1.0
    assert 0.0 < enc.encoders[0].state.scale < 1e-15
    ours = enc.encode_values({"x": 1.0 + 2.0**-52})[0]
    theirs = sk.transform(np.array([[1.0 + 2.0**-52]]))[0, 0]
    assert abs(ours) > 1.0 and abs(theirs) < 1e-15


# --- MinMax vs MinMaxScaler ---------------------------------------------------------------------


@pytest.mark.parametrize("clip", [False, True])
def test_minmax_matches_minmax_scaler(clip: bool):
    """Range 1.0 for a constant column; outside the training range unclipped unless ``clip``."""
    x = numeric_matrix()
    specs = [MinMax(f"m{j}", input=f"c{j}", clip=clip) for j in range(x.shape[1])]
    enc = fit_set(specs, columns_to_rows(x))
    sk = MinMaxScaler(clip=clip).fit(x)
    for j, e in enumerate(enc.encoders):
        assert e.state.min == sk.data_min_[j] and e.state.max == sk.data_max_[j]

    for data in (x, unseen_matrix(x)):
        ours = encode_matrix(enc, columns_to_rows(data))
        np.testing.assert_allclose(ours, sk.transform(data), rtol=RTOL, atol=ATOL)
    out = encode_matrix(enc, columns_to_rows(unseen_matrix(x)))
    if clip:
        assert out.min() >= 0.0 and out.max() <= 1.0
    else:
        assert out.min() < 0.0 and out.max() > 1.0  # unclipped by default, like sklearn


def test_difference_minmax_missing_is_fill_not_nan_passthrough():
    """MinMaxScaler passes NaN through; a missing input is ``fill`` (+ indicator) for us."""
    x = numeric_matrix()[:, :1]
    enc = fit_set([MinMax("m", input="c0", fill=-1.0, missing_indicator=True)],
                  columns_to_rows(x))
    sk = MinMaxScaler().fit(x)
    assert np.isnan(sk.transform(np.array([[np.nan]]))[0, 0])
    assert enc.encode_values({"c0": float("nan")}) == [-1.0, 1.0]


# --- OneHot vs OneHotEncoder --------------------------------------------------------------------


def category_rows() -> tuple[list[str], list[dict[str, object]]]:
    """Categories with distinct frequencies (no ties anywhere), in shuffled order."""
    counts = {"drama": 40, "comedy": 31, "action": 23, "anime": 17, "kids": 12, "horror": 8,
              "crime": 5, "télénovela": 3, "stand-up": 2, "reality": 1}
    values = [c for c, n in counts.items() for _ in range(n)]
    rng = np.random.default_rng(5)
    values = [values[i] for i in rng.permutation(len(values))]
    return values, [{"g": v} for v in values]


def sk_column(sk: OneHotEncoder, category: str) -> int:
    names = list(sk.get_feature_names_out(["g"]))
    return names.index(f"g_{category}")


def test_one_hot_matches_one_hot_encoder_on_known_categories():
    """Same indicator per category; only the column order differs (sklearn sorts categories,
    we order the vocabulary by frequency), so columns are matched by category."""
    values, rows = category_rows()
    enc = fit_set([OneHot("oh", input="g")], rows)
    tokens = vocab_of(enc, "oh")
    sk = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(
        np.array(values, dtype=object).reshape(-1, 1))

    assert list(sk.categories_[0]) == sorted(tokens)
    assert list(tokens) != sorted(tokens)  # we order by frequency, hence the mapping
    order = [sk_column(sk, t) for t in tokens]

    probe = sorted(set(values))
    theirs = sk.transform(np.array(probe, dtype=object).reshape(-1, 1))
    ours = encode_matrix(enc, [{"g": v} for v in probe])
    np.testing.assert_array_equal(ours[:, :-1], theirs[:, order])
    np.testing.assert_array_equal(ours[:, -1], 0.0)  # __oov is off for known categories


@pytest.mark.parametrize("min_count", [2, 5, 13])
def test_one_hot_min_count_matches_min_frequency(min_count: int):
    """``min_count=m`` and ``min_frequency=m`` keep the same categories; with
    ``handle_unknown="infrequent_if_exist"`` sklearn's infrequent column is our ``__oov``
    for both infrequent and never-seen categories."""
    values, rows = category_rows()
    enc = fit_set([OneHot("oh", input="g", min_count=min_count)], rows)
    tokens = vocab_of(enc, "oh")
    sk = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=min_count,
                       sparse_output=False).fit(np.array(values, dtype=object).reshape(-1, 1))
    assert set(tokens) == set(sk.categories_[0]) - set(sk.infrequent_categories_[0])
    order = [sk_column(sk, t) for t in tokens] + [sk_column(sk, "infrequent_sklearn")]

    probe = sorted(set(values)) + ["never-seen", "western"]
    theirs = sk.transform(np.array(probe, dtype=object).reshape(-1, 1))
    ours = encode_matrix(enc, [{"g": v} for v in probe])
    np.testing.assert_array_equal(ours, theirs[:, order])


@pytest.mark.parametrize("top_k", [1, 3, 6])
def test_one_hot_top_k_matches_max_categories_without_ties(top_k: int):
    """``top_k=k`` is ``max_categories=k + 1`` (sklearn counts the infrequent column as one
    of its categories) when the k-th and (k+1)-th counts differ."""
    values, rows = category_rows()
    enc = fit_set([OneHot("oh", input="g", top_k=top_k)], rows)
    tokens = vocab_of(enc, "oh")
    sk = OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=top_k + 1,
                       sparse_output=False).fit(np.array(values, dtype=object).reshape(-1, 1))
    order = [sk_column(sk, t) for t in tokens] + [sk_column(sk, "infrequent_sklearn")]
    probe = sorted(set(values)) + ["never-seen"]
    theirs = sk.transform(np.array(probe, dtype=object).reshape(-1, 1))
    ours = encode_matrix(enc, [{"g": v} for v in probe])
    np.testing.assert_array_equal(ours, theirs[:, order])


def test_difference_one_hot_unknown_sets_oov_instead_of_all_zeros():
    """With ``handle_unknown="ignore"`` sklearn encodes an unknown category as all zeros — the
    same vector as no category at all. We set ``<name>__oov`` = 1.0 so the model can tell
    "unseen value" from "missing value" (missing stays all zeros)."""
    values, rows = category_rows()
    enc = fit_set([OneHot("oh", input="g")], rows)
    sk = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(
        np.array(values, dtype=object).reshape(-1, 1))
    theirs = sk.transform(np.array([["western"]], dtype=object))[0]
    assert theirs.sum() == 0.0
    ours = enc.encode_row({"g": "western"})
    assert ours["oh__oov"] == 1.0 and sum(ours.values()) == 1.0
    assert sum(enc.encode_values({"g": None})) == 0.0


def test_difference_one_hot_missing_is_not_a_category():
    """sklearn fits ``None`` as a category of its own (a column for it); for us ``None``,
    NaN, empty and whitespace-only strings are *missing*: never in the vocabulary, all zeros."""
    values = ["a", "a", None, "b", None, ""]
    enc = fit_set([OneHot("oh", input="g")], [{"g": v} for v in values])
    assert vocab_of(enc, "oh") == ("a", "b")
    sk = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(
        np.array(values, dtype=object).reshape(-1, 1))
    assert None in list(sk.categories_[0]) and "" in list(sk.categories_[0])
    assert sk.transform(np.array([[None]], dtype=object))[0].sum() == 1.0
    assert enc.encode_values({"g": None}) == [0.0, 0.0, 0.0]


def test_difference_one_hot_top_k_tie_break():
    """At a tie on the ``top_k`` cut we keep the category that comes first in code-point order
    (categorical.py: most frequent first, ties by code point); sklearn's ``max_categories``
    keeps the *last* one (a stable ascending argsort marks the first as infrequent)."""
    values = ["a"] * 3 + ["b"] * 2 + ["c"] * 2 + ["d"]
    enc = fit_set([OneHot("oh", input="g", top_k=2)], [{"g": v} for v in values])
    assert vocab_of(enc, "oh") == ("a", "b")
    sk = OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=3,
                       sparse_output=False).fit(np.array(values, dtype=object).reshape(-1, 1))
    kept = set(sk.categories_[0]) - set(sk.infrequent_categories_[0])
    assert kept == {"a", "c"}


# --- QuantileBuckets vs KBinsDiscretizer --------------------------------------------------------


def kbins(num_buckets: int) -> KBinsDiscretizer:
    return KBinsDiscretizer(n_bins=num_buckets, strategy="quantile", encode="ordinal",
                            quantile_method="inverted_cdf", subsample=None)


def quantile_data(n: int, seed: int) -> np.ndarray:
    """Continuous data (no ties) from three shapes, so the bins are not all alike."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0.0, 1.0, n // 3), rng.lognormal(1.0, 0.8, n // 3),
                           rng.uniform(-5.0, 5.0, n - 2 * (n // 3))])


# 1009 is prime: n * i / k is never an integer for 0 < i < k, the case where sklearn's
# percent levels lose exactness (see test_difference_quantile_edges_at_exact_ranks).
@pytest.mark.parametrize("num_buckets", [2, 3, 4, 5, 7, 8, 10, 16, 50])
def test_quantile_buckets_match_kbins_discretizer(num_buckets: int):
    """Inner bin edges are the ``i / k`` inverted-CDF quantiles on both sides and both assign
    with a right-closed search (a value on an edge goes to the bin above)."""
    x = quantile_data(1009, seed=num_buckets)
    enc = fit_set([QuantileBuckets("q", input="x", num_buckets=num_buckets)],
                  [{"x": float(v)} for v in x])
    boundaries = enc.encoders[0].state.boundaries
    sk = kbins(num_buckets).fit(x.reshape(-1, 1))
    np.testing.assert_array_equal(np.array(boundaries), sk.bin_edges_[0][1:-1])

    probe = np.concatenate([x, np.array(boundaries), np.linspace(x.min(), x.max(), 301)])
    ours = [enc.encode_values({"x": float(v)})[0] for v in probe]
    theirs = sk.transform(probe.reshape(-1, 1))[:, 0]
    assert ours == [int(v) for v in theirs]


def test_quantile_buckets_clip_out_of_range_into_edge_buckets_like_kbins():
    """Checked, and the same on both sides: below the training minimum goes to bucket 0 and
    above the maximum to the top bucket ``k - 1`` (sklearn searches only the inner edges, we
    only have inner boundaries). Neither reserves an out-of-range bucket."""
    k = 8
    x = quantile_data(1009, seed=1)
    enc = fit_set([QuantileBuckets("q", input="x", num_buckets=k)], [{"x": float(v)} for v in x])
    sk = kbins(k).fit(x.reshape(-1, 1))
    far = [-1e300, x.min() - 1.0, x.max() + 1.0, 1e300]
    ours = [enc.encode_values({"x": v})[0] for v in far]
    theirs = [int(v) for v in sk.transform(np.array(far).reshape(-1, 1))[:, 0]]
    assert ours == theirs == [0, 0, k - 1, k - 1]


def test_difference_quantile_buckets_missing_gets_reserved_bucket_sklearn_raises():
    """KBinsDiscretizer rejects NaN at transform time; for us NaN, None, ±inf and junk are
    missing and get the reserved index ``num_buckets`` (Bucketizer's handleInvalid="keep"),
    because a serving path must answer every input (invariant 5)."""
    x = quantile_data(1009, seed=2)
    enc = fit_set([QuantileBuckets("q", input="x", num_buckets=4)], [{"x": float(v)} for v in x])
    sk = kbins(4).fit(x.reshape(-1, 1))
    with pytest.raises(ValueError, match="NaN"):
        sk.transform(np.array([[np.nan]]))
    for v in (float("nan"), None, float("inf"), "abc"):
        assert enc.encode_values({"x": v}) == [4]


def test_difference_quantile_edges_at_exact_ranks():
    """When ``n * i / k`` is an integer the inverted-CDF quantile is exactly that order
    statistic. We compute the rank from ``i / k`` with a guard against float error; sklearn
    passes percent levels from ``linspace(0, 100, k + 1)``, and ``14.285714285714286 / 100 * 7``
    is ``1.0000000000000002``, so its edge moves to the next order statistic. ``numpy.quantile``
    at the exact probability agrees with us; the training point at that rank lands one bucket
    apart on the two sides."""
    x = np.arange(7.0)
    enc = fit_set([QuantileBuckets("q", input="x", num_buckets=7)], [{"x": v} for v in x])
    ours = np.array(enc.encoders[0].state.boundaries)
    exact = np.quantile(x, [i / 7 for i in range(1, 7)], method="inverted_cdf")
    np.testing.assert_array_equal(ours, exact)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # sklearn drops its duplicated top edge
        sk = kbins(7).fit(x.reshape(-1, 1))
    assert not np.array_equal(ours, sk.bin_edges_[0][1:-1])
    assert ours[0] == 0.0 and sk.bin_edges_[0][1] == 1.0


def test_difference_quantile_buckets_constant_and_heavy_ties_at_the_minimum():
    """Duplicate quantiles collapse to one boundary on our side, and a value equal to a
    boundary goes to the bucket above it. sklearn instead drops every edge within 1e-8 of the
    previous one *including the minimum*, and turns a constant column into a single bin. So a
    constant column's value is bucket 1 for us and 0 for sklearn, and with heavy ties at the
    minimum the tied rows are one bucket apart. (Our rule is Spark Bucketizer's, applied to
    boundaries any collector computes; data with heavy ties is where the two disagree.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        const = np.full(20, 5.0)
        enc = fit_set([QuantileBuckets("q", input="x", num_buckets=4)],
                      [{"x": float(v)} for v in const])
        assert enc.encoders[0].state.boundaries == (5.0,)
        sk = kbins(4).fit(const.reshape(-1, 1))
        assert enc.encode_values({"x": 5.0}) == [1]
        assert sk.transform([[5.0]])[0, 0] == 0.0

        tied = np.concatenate([np.zeros(60), quantile_data(40, seed=3) + 10.0])
        enc = fit_set([QuantileBuckets("q", input="x", num_buckets=4)],
                      [{"x": float(v)} for v in tied])
        assert enc.encoders[0].state.boundaries[0] == 0.0
        sk = kbins(4).fit(tied.reshape(-1, 1))
        assert enc.encode_values({"x": 0.0}) == [1]
        assert sk.transform([[0.0]])[0, 0] == 0.0


def level_probabilities() -> list[float]:
    """0, 1, a few odd levels and every ``i / k`` level QuantileBuckets asks for (k <= 32)."""
    return sorted({0.0, 1.0, 0.001, 0.5, 0.999} | {i / k for k in range(2, 33)
                                                  for i in range(1, k)})


def near_integer(v: float) -> bool:
    return abs(v - round(v)) < 1e-9


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 10, 12, 100, 101, 997, 1000])
def test_quantiles_of_matches_numpy_inverted_cdf(n: int):
    """``Quantiles.of`` is numpy's ``inverted_cdf`` at the same probabilities wherever the rank
    ``n * p`` is not an integer up to float error; at exact integer ranks it is the exact order
    statistic (see the next test for where numpy is not)."""
    rng = np.random.default_rng(n)
    x = rng.normal(size=n)
    probs = level_probabilities()
    ours = Quantiles.of([float(v) for v in x] + [None, None], tuple(probs))
    assert ours.count == n
    theirs = np.quantile(x, probs, method="inverted_cdf")
    xs = np.sort(x)
    for p, a, b in zip(probs, ours.values, theirs):
        if near_integer(n * p):
            assert a == xs[max(1, round(n * p)) - 1], (n, p)
        else:
            assert a == b, (n, p)


def test_difference_quantiles_of_at_exact_integer_ranks_vs_numpy():
    """The float ``0.55`` is a hair above 11/20, and numpy computes ``100 * 0.55`` as
    ``55.00000000000001`` and takes the 56th value; ``Quantiles.of`` reads ``p = 11/20`` as
    meant (``k / n >= p`` with a 1e-12 guard) and takes the 55th. For the ``i / k`` levels of
    QuantileBuckets this can matter whenever ``n * i / k`` is an integer (about 0.6% of the
    (n, k) pairs with n < 300, k <= 32); the exact order statistic is the stable,
    collector-independent answer."""
    x = np.arange(100.0)
    ours = Quantiles.of([float(v) for v in x], (0.55,)).values[0]
    assert ours == 54.0  # the 55th smallest: 55 of 100 values are <= it
    assert np.quantile(x, 0.55, method="inverted_cdf") == 55.0


# --- Buckets (fixed boundaries) vs numpy --------------------------------------------------------


@pytest.mark.parametrize("boundaries", [
    (0.0,),
    (1990.0, 2000.0, 2010.0, 2020.0),
    (-1e300, -1.5, -0.0, 2.5, 1e300),
    tuple(float(v) for v in range(-50, 51, 3)),
])
def test_buckets_match_searchsorted_right_and_digitize(boundaries):
    """Index = number of boundaries ``<= x``: ``searchsorted(side="right")`` and
    ``digitize(right=False)``, including values exactly on a boundary and far outside."""
    enc = fit_set([Buckets("b", input="x", boundaries=boundaries)], [])
    b = np.array(boundaries)
    rng = np.random.default_rng(len(boundaries))
    lo, hi = max(b.min(), -1e6) - 10.0, min(b.max(), 1e6) + 10.0
    probe = np.concatenate([b, np.nextafter(b, -np.inf), np.nextafter(b, np.inf),
                            rng.uniform(lo, hi, 500), [-1e308, 0.0, -0.0, 1e308]])
    ours = np.array([enc.encode_values({"x": float(v)})[0] for v in probe])
    np.testing.assert_array_equal(ours, np.searchsorted(b, probe, side="right"))
    np.testing.assert_array_equal(ours, np.digitize(probe, b, right=False))
    assert ours.tolist() == [bisect_right(boundaries, float(v)) for v in probe]


def test_difference_buckets_missing_is_reserved_not_top_bucket():
    """numpy sorts NaN after every number, so ``searchsorted``/``digitize`` put NaN in the top
    bucket ``k``, indistinguishable from a large value. We give missing its own index
    ``k + 1``."""
    boundaries = (1.0, 2.0, 3.0)
    enc = fit_set([Buckets("b", input="x", boundaries=boundaries)], [])
    assert np.searchsorted(np.array(boundaries), np.nan, side="right") == 3
    assert np.digitize(np.nan, np.array(boundaries)) == 3
    assert enc.encode_values({"x": float("nan")}) == [4]
    assert enc.encode_values({"x": 100.0}) == [3]
