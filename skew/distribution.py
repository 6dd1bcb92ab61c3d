"""Distribution distances between a training sample and a serving sample of one feature.

Pure functions over numpy arrays (or anything :func:`as_float_array` takes: lists, pyarrow
arrays) and one frozen result per feature, :class:`FeatureDistribution`. Thresholds and the
choice numeric-vs-categorical live elsewhere (:mod:`skew.thresholds`, :mod:`skew.feature_kinds`).

Definitions (TFDV's, ``tensorflow_data_validation/anomalies/metrics.cc``, with the deviations
stated):

* **Missing.** ``None``/null, ``NaN`` and ``±inf`` are *missing*. Encoded outputs are never
  missing by design (every input has a defined answer), so missing values in either sample mean
  a broken path; they are kept, not dropped: numeric histograms get a ``missing`` bin (TFDV adds
  a NaN bucket the same way) and categorical counts a ``missing`` category. Both samples'
  missing rates are reported as well.
* **Bins (numeric).** Both samples are binned on *common* edges. ``equal_width`` (default, the
  shape of TFDV's standard histogram, 10 buckets): ``bins`` equal-width bins over the combined
  finite range ``[min, max]`` of both samples. ``quantile`` (TFDV's QUANTILES histogram
  selection): interior edges at the training sample's ``k/bins`` quantiles (numpy
  ``inverted_cdf``, duplicates merged), outer bins open-ended. A value equal to an edge goes to
  the upper bin (``bisect_right``, as the encoders' buckets); the last bin includes the maximum.
  A constant feature has one value bin. TFDV builds one histogram per dataset and re-buckets
  both onto the union of their edges assuming uniform mass inside a bucket; binning the raw
  values on common edges avoids that approximation.
* **Jensen–Shannon divergence** (numeric): ``JS = ½ KL(P‖M) + ½ KL(Q‖M)``, ``M = ½(P+Q)``, with
  ``log2``, so ``0 <= JS <= 1`` (identical → 0, disjoint supports → 1); terms with ``p = 0`` are
  0. Clipped to ``[0, 1]`` against rounding, as TFDV does.
* **PSI** (numeric): ``Σ (s_i − t_i) · ln(s_i / t_i)`` over the same bins (natural log),
  ``t`` = training, ``s`` = serving proportions; a bin empty on one side only has its zero
  replaced by ``PSI_EPSILON`` = 1e-4 (no renormalisation); bins empty on both sides add 0. So
  identical → 0 and fully disjoint two-bin samples → ``2 · (1 − ε) · ln(1/ε) ≈ 18.4``.
* **L-infinity distance** (categorical): ``max_c |t(c) − s(c)|`` over the union of categories,
  each side normalised by its own total (TFDV's ``LInftyDistance``, separate totals), the
  ``missing`` category included (TFDV ignores missing). Identical → 0, disjoint → 1.
  Categories are the distinct encoded values (an index, a bucket, a 0/1 flag).

Every function raises ``ValueError`` naming the problem for an empty sample or bad options.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

FeatureKind = Literal["numeric", "categorical"]
Binning = Literal["equal_width", "quantile"]
BINNINGS: tuple[str, ...] = ("equal_width", "quantile")
DEFAULT_BINS = 10  # TFDV's default number of histogram buckets
PSI_EPSILON = 1e-4
MISSING = "missing"


@dataclass(frozen=True)
class FeatureDistribution:
    """One feature's training-vs-serving comparison.

    ``labels`` name the bins (numeric: ``[lo, hi)`` ranges; categorical: the values), the last
    one always ``missing``; ``train_counts``/``serve_counts`` are counts per label. ``edges``
    are the numeric bin edges (``len(labels) - 1 + 1`` of them; empty for categorical features
    and for numeric ones without any present value). ``statistics`` maps a statistic name
    (``js``, ``psi``, ``linf``) to its value; ``largest_gap`` is the label where the two
    proportions differ most.
    """

    name: str
    kind: FeatureKind
    labels: tuple[str, ...]
    train_counts: tuple[int, ...]
    serve_counts: tuple[int, ...]
    edges: tuple[float, ...]
    statistics: dict[str, float]
    largest_gap: str

    @property
    def train_total(self) -> int:
        return sum(self.train_counts)

    @property
    def serve_total(self) -> int:
        return sum(self.serve_counts)

    @property
    def train_missing_rate(self) -> float:
        return self.train_counts[-1] / self.train_total

    @property
    def serve_missing_rate(self) -> float:
        return self.serve_counts[-1] / self.serve_total

    def proportions(self) -> tuple[np.ndarray, np.ndarray]:
        """Training and serving proportions per label."""
        return _normalise(self.train_counts, "training"), _normalise(self.serve_counts, "serving")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "statistics": dict(self.statistics),
            "largest_gap": self.largest_gap,
            "train_rows": self.train_total, "serve_rows": self.serve_total,
            "train_missing_rate": self.train_missing_rate,
            "serve_missing_rate": self.serve_missing_rate,
            "labels": list(self.labels), "edges": list(self.edges),
            "train_counts": list(self.train_counts), "serve_counts": list(self.serve_counts),
        }


# --- inputs ---------------------------------------------------------------------------------


def as_float_array(values: Any) -> np.ndarray:
    """A float64 copy of ``values`` (numpy array, sequence, pyarrow Array/ChunkedArray) with
    ``None``/null as ``NaN``. Raises ``ValueError`` for values that are not numbers."""
    if hasattr(values, "to_numpy") and hasattr(values, "null_count"):  # pyarrow
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pc.cast(values, pa.float64())
        return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
    try:
        if isinstance(values, np.ndarray) and values.dtype != object:
            return values.astype(np.float64)
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"feature values must be numbers or None ({exc}); encoded outputs "
                         "are float64 or int64 columns") from None


def _present(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def _check_nonempty(values: np.ndarray, side: str) -> None:
    if values.size == 0:
        raise ValueError(f"the {side} sample is empty; a distribution needs at least one row")


def _normalise(counts: Sequence[float] | np.ndarray, side: str) -> np.ndarray:
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    if c.ndim != 1 or total <= 0 or np.any(c < 0):
        raise ValueError(f"{side} counts must be non-negative with a positive total, got "
                         f"{list(c)[:8]}")
    return c / total


# --- the statistics -------------------------------------------------------------------------


def jensen_shannon(p: Sequence[float] | np.ndarray, q: Sequence[float] | np.ndarray) -> float:
    """JS divergence (base 2, in ``[0, 1]``) of two count or proportion vectors on the same
    bins; each is normalised to sum 1 first."""
    a, b = _normalise(p, "first"), _normalise(q, "second")
    _same_length(a, b)
    m = (a + b) / 2

    def kl(x: np.ndarray) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log2(x[nz] / m[nz])))

    return min(1.0, max(0.0, (kl(a) + kl(b)) / 2))


def population_stability_index(train: Sequence[float] | np.ndarray,
                               serve: Sequence[float] | np.ndarray,
                               epsilon: float = PSI_EPSILON) -> float:
    """PSI ``Σ (s − t) ln(s / t)`` of two count or proportion vectors on the same bins (both
    normalised first); a zero on one side only becomes ``epsilon``, bins empty on both sides
    add 0."""
    if not 0 < epsilon < 1:
        raise ValueError(f"epsilon={epsilon!r} must be in (0, 1); the default is {PSI_EPSILON}")
    t, s = _normalise(train, "training"), _normalise(serve, "serving")
    _same_length(t, s)
    used = (t > 0) | (s > 0)
    t, s = np.maximum(t[used], epsilon), np.maximum(s[used], epsilon)
    return float(np.sum((s - t) * np.log(s / t)))


def l_infinity(p: Sequence[float] | np.ndarray, q: Sequence[float] | np.ndarray
               ) -> tuple[float, int]:
    """``max_i |p_i − q_i|`` of two count or proportion vectors (each normalised by its own
    total) and the index where it is reached (the first one on ties)."""
    a, b = _normalise(p, "first"), _normalise(q, "second")
    _same_length(a, b)
    gaps = np.abs(a - b)
    i = int(np.argmax(gaps))
    return float(gaps[i]), i


def _same_length(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"the two histograms have {a.size} and {b.size} bins; bin both "
                         "samples on the same edges")


# --- binning --------------------------------------------------------------------------------


def check_binning(bins: int, binning: str) -> None:
    """Raise ``ValueError`` naming the fix for a bad bin count or binning method."""
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins={bins!r} must be an integer >= 1 (default {DEFAULT_BINS})")
    if binning not in BINNINGS:
        raise ValueError(f"binning={binning!r} is unknown; use one of {list(BINNINGS)}")


def bin_edges(train: np.ndarray, serve: np.ndarray, bins: int = DEFAULT_BINS,
              binning: Binning = "equal_width") -> np.ndarray:
    """Common bin edges (outer edges = the combined finite min and max) for two samples; see
    the module docstring. Empty when neither sample has a present value; ``[v, v]`` for a
    constant."""
    check_binning(bins, binning)
    t, s = _present(train), _present(serve)
    both = np.concatenate([t, s])
    if both.size == 0:
        return np.empty(0)
    lo, hi = float(both.min()), float(both.max())
    if lo == hi:
        return np.array([lo, hi])
    if binning == "quantile" and t.size:
        qs = np.quantile(t, np.arange(1, bins) / bins, method="inverted_cdf")
        inner = np.unique(qs)
        inner = inner[(inner > lo) & (inner < hi)]
        return np.concatenate([[lo], inner, [hi]])
    return np.linspace(lo, hi, bins + 1)


def histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin of ``edges`` (see :func:`bin_edges`) plus a last ``missing`` count."""
    n_bins = max(len(edges) - 1, 0)
    present = _present(values)
    counts = np.zeros(n_bins + 1, dtype=np.int64)
    counts[-1] = values.size - present.size
    if n_bins:
        idx = np.searchsorted(edges[1:-1], present, side="right")
        counts[:-1] = np.bincount(idx, minlength=n_bins)[:n_bins]
    return counts


def _range_labels(edges: np.ndarray) -> tuple[str, ...]:
    n = len(edges) - 1
    if n <= 0:
        return ()
    if edges[0] == edges[-1]:
        return (f"{edges[0]:.4g}",)
    return tuple(f"[{edges[i]:.4g}, {edges[i + 1]:.4g}{']' if i == n - 1 else ')'}"
                 for i in range(n))


def _category_label(v: float) -> str:
    return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)


# --- one feature ----------------------------------------------------------------------------


def compare_numeric(name: str, train: Any, serve: Any, *, bins: int = DEFAULT_BINS,
                    binning: Binning = "equal_width",
                    epsilon: float = PSI_EPSILON) -> FeatureDistribution:
    """JS divergence and PSI of a numeric feature on common bins (+ a ``missing`` bin)."""
    t, s = as_float_array(train), as_float_array(serve)
    _check_nonempty(t, "training")
    _check_nonempty(s, "serving")
    edges = bin_edges(t, s, bins, binning)
    tc, sc = histogram(t, edges), histogram(s, edges)
    labels = (*_range_labels(edges), MISSING)
    return FeatureDistribution(
        name=name, kind="numeric", labels=labels,
        train_counts=tuple(int(x) for x in tc), serve_counts=tuple(int(x) for x in sc),
        edges=tuple(float(e) for e in edges),
        statistics={"js": jensen_shannon(tc, sc),
                    "psi": population_stability_index(tc, sc, epsilon)},
        largest_gap=labels[l_infinity(tc, sc)[1]],
    )


def compare_categorical(name: str, train: Any, serve: Any) -> FeatureDistribution:
    """L-infinity distance of a categorical feature over the union of its categories (the
    distinct present values, ascending) plus ``missing``."""
    t, s = as_float_array(train), as_float_array(serve)
    _check_nonempty(t, "training")
    _check_nonempty(s, "serving")
    tv, tn = np.unique(_present(t), return_counts=True)
    sv, sn = np.unique(_present(s), return_counts=True)
    cats = np.union1d(tv, sv)
    tc = np.zeros(cats.size + 1, dtype=np.int64)
    sc = np.zeros(cats.size + 1, dtype=np.int64)
    tc[np.searchsorted(cats, tv)] = tn
    sc[np.searchsorted(cats, sv)] = sn
    tc[-1], sc[-1] = t.size - tn.sum(), s.size - sn.sum()
    labels = (*(_category_label(float(c)) for c in cats), MISSING)
    value, at = l_infinity(tc, sc)
    return FeatureDistribution(
        name=name, kind="categorical", labels=labels,
        train_counts=tuple(int(x) for x in tc), serve_counts=tuple(int(x) for x in sc),
        edges=(), statistics={"linf": value}, largest_gap=labels[at],
    )


def compare(name: str, kind: FeatureKind, train: Any, serve: Any, *, bins: int = DEFAULT_BINS,
            binning: Binning = "equal_width") -> FeatureDistribution:
    """:func:`compare_numeric` or :func:`compare_categorical` by ``kind``."""
    if kind == "numeric":
        return compare_numeric(name, train, serve, bins=bins, binning=binning)
    if kind == "categorical":
        return compare_categorical(name, train, serve)
    raise ValueError(f"kind={kind!r} is unknown; use 'numeric' or 'categorical'")

