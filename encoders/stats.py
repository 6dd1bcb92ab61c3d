"""Sufficient statistics: what fitting needs to know about the training window, and no more.

Fitting never sees raw rows. An encoder spec declares the statistics it needs as
:class:`StatRequest` values; a *collector* computes them (the pure-Python one in
:mod:`encoders.collect` for small data and tests, the Spark one with built-in aggregations for
real windows) over values already coerced by :mod:`encoders.values`; ``fit`` turns them into a
frozen state. The maths that turns statistics into state therefore lives in one place.

Three kinds of statistic exist:

* :class:`Moments` — count of present values, count of missing values, mean, ``m2`` (the sum of
  squared deviations from the mean), min and max. We keep ``mean``/``m2`` rather than a raw sum
  of squares because ``sum_sq/n - mean**2`` cancels catastrophically for large means with small
  spread; ``m2`` is what Welford's update and Spark's ``var_pop(x) * count(x)`` give, and two
  partial results merge exactly with Chan's formula (:meth:`Moments.merge`).
* :class:`Quantiles` — values at requested probabilities, with the definition Spark's
  ``percentile_approx`` uses: for probability ``p`` the smallest present value ``v`` such that at
  least ``p`` of the present values are ``<= v`` (numpy's ``inverted_cdf`` method).
* :class:`ValueCounts` — occurrences of each present category and the number of missing values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

StatKind = Literal["moments", "quantiles", "value_counts"]


class StatisticsError(ValueError):
    """Statistics are missing, malformed, or cannot produce a valid state."""


@dataclass(frozen=True)
class StatRequest:
    """One statistic an encoder needs: ``kind`` of ``input`` (after coercion as ``coerce``).

    ``coerce`` is ``"number"`` or ``"category"``; ``probabilities`` is only used by
    ``quantiles`` and must be sorted, unique, and inside ``[0, 1]``.
    """

    kind: StatKind
    input: str
    coerce: Literal["number", "category"] = "number"
    probabilities: tuple[float, ...] = ()
    lowercase: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("moments", "quantiles", "value_counts"):
            raise StatisticsError(f"unknown statistic kind {self.kind!r}; use moments, "
                                  "quantiles or value_counts")
        probs = self.probabilities
        if self.kind == "quantiles":
            if not probs or any(not 0.0 <= p <= 1.0 for p in probs) or list(probs) != sorted(
                set(probs)
            ):
                raise StatisticsError(
                    f"quantile probabilities for {self.input!r} must be a non-empty, sorted, "
                    f"duplicate-free tuple inside [0, 1]; got {probs!r}"
                )


@dataclass(frozen=True)
class Moments:
    """Count, missing count, mean, ``m2`` (sum of squared deviations), min, max of a column.

    With ``count == 0`` the mean, ``m2``, min and max are meaningless and set to 0.0.
    """

    count: int
    missing: int
    mean: float
    m2: float
    min: float
    max: float

    @property
    def variance(self) -> float:
        """Population variance (ddof=0); 0.0 when there are no present values."""
        return self.m2 / self.count if self.count else 0.0

    def merge(self, other: Moments) -> Moments:
        """Combine two partial results exactly as one pass over both would (Chan et al.)."""
        if other.count == 0:
            return Moments(self.count, self.missing + other.missing, self.mean, self.m2,
                           self.min, self.max)
        if self.count == 0:
            return Moments(other.count, self.missing + other.missing, other.mean, other.m2,
                           other.min, other.max)
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / n
        m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / n
        return Moments(n, self.missing + other.missing, mean, m2, min(self.min, other.min),
                       max(self.max, other.max))

    @staticmethod
    def of(values: Iterable[float | None]) -> Moments:
        """Exact moments of already-coerced values (``None`` counts as missing): the values'
        :class:`ExactSums`, rounded once — so the result depends neither on row order nor on
        how the rows were split, and equals the Spark collector's bit for bit."""
        return ExactSums.of(values).to_moments()


_SCALE = 1074  # every finite double is an integer multiple of 2**-1074 (the least subnormal)


def _scaled(x: float) -> tuple[int, int]:
    """``(x * 2**1074, x**2 * 2**2148)`` as exact integers."""
    p, q = x.as_integer_ratio()  # q is a power of two, at most 2**1074
    shift = _SCALE - (q.bit_length() - 1)
    return p << shift, (p * p) << (2 * shift)


@dataclass(frozen=True)
class ExactSums:
    """Order-free sufficient statistics of a numeric column: present count, missing count,
    the sum and the sum of squares as exact integers (scaled by ``2**1074`` and ``2**2148``),
    min and max.

    Adding values in any order, or merging partial sums of any split of the rows, gives the
    same integers, so :meth:`to_moments` — the only rounding, once per statistic — is
    deterministic: a refit of the same rows gives the same state hash on any number of Spark
    partitions. Values must be finite floats or ``None`` (what :func:`encoders.values.as_number`
    returns); a non-finite value raises :class:`StatisticsError`.
    """

    count: int = 0
    missing: int = 0
    total: int = 0
    squares: int = 0
    min: float = math.inf
    max: float = -math.inf

    @staticmethod
    def of(values: Iterable[float | None]) -> ExactSums:
        n = missing = total = squares = 0
        lo, hi = math.inf, -math.inf
        for v in values:
            if v is None:
                missing += 1
                continue
            if not math.isfinite(v):
                raise StatisticsError(f"moments got the non-finite value {v!r}; coerce values "
                                      "with encoders.values.as_number (non-finite is missing)")
            a, b = _scaled(v)
            n, total, squares = n + 1, total + a, squares + b
            lo, hi = (v if v < lo else lo), (v if v > hi else hi)
        return ExactSums(n, missing, total, squares, lo, hi)

    def merge(self, other: ExactSums) -> ExactSums:
        return ExactSums(self.count + other.count, self.missing + other.missing,
                         self.total + other.total, self.squares + other.squares,
                         min(self.min, other.min), max(self.max, other.max))

    def to_moments(self) -> Moments:
        """Mean and ``m2`` correctly rounded from the exact sums; an ``m2`` beyond the float
        range (values near ±1e308) is ``inf``, which the fitting step refuses naming the fix."""
        n = self.count
        if not n:
            return Moments(0, self.missing, 0.0, 0.0, 0.0, 0.0)
        mean = self.total / (n << _SCALE)  # int / int: correctly rounded, within ±max double
        try:
            m2 = (self.squares * n - self.total * self.total) / (n << (2 * _SCALE))
        except OverflowError:
            m2 = math.inf
        return Moments(n, self.missing, mean, m2, self.min, self.max)


@dataclass(frozen=True)
class Quantiles:
    """Values of a column at ``probabilities`` (Spark ``percentile_approx`` definition)."""

    probabilities: tuple[float, ...]
    values: tuple[float, ...]
    count: int

    def __post_init__(self) -> None:
        if len(self.probabilities) != len(self.values):
            raise StatisticsError("Quantiles needs one value per probability; got "
                                  f"{len(self.probabilities)} probabilities and "
                                  f"{len(self.values)} values")

    @staticmethod
    def of(values: Iterable[float | None], probabilities: tuple[float, ...]) -> Quantiles:
        """Exact quantiles of coerced values: smallest ``v`` with ``P(X <= v) >= p``."""
        present = sorted(v for v in values if v is not None)
        n = len(present)
        if n == 0:
            return Quantiles(probabilities, tuple(0.0 for _ in probabilities), 0)
        out = []
        for p in probabilities:
            # rank k (1-based) is the smallest k with k/n >= p
            k = max(1, math.ceil(p * n - 1e-12))
            out.append(present[min(k, n) - 1])
        return Quantiles(probabilities, tuple(out), n)


@dataclass(frozen=True)
class ValueCounts:
    """Occurrences of each present category, plus the number of missing values."""

    counts: Mapping[str, int] = field(default_factory=dict)
    missing: int = 0

    @staticmethod
    def of(values: Iterable[str | None]) -> ValueCounts:
        counts: dict[str, int] = {}
        missing = 0
        for v in values:
            if v is None:
                missing += 1
            else:
                counts[v] = counts.get(v, 0) + 1
        return ValueCounts(counts, missing)


Statistic = Moments | Quantiles | ValueCounts


@dataclass(frozen=True)
class Statistics:
    """The answers to a set of :class:`StatRequest` values, looked up by request."""

    values: Mapping[StatRequest, Statistic]

    def get(self, request: StatRequest) -> Statistic:
        try:
            return self.values[request]
        except KeyError:
            raise StatisticsError(
                f"no {request.kind} statistic for input {request.input!r} "
                f"(request {request}); collect statistics for every request returned by "
                "stat_requests(specs) before fitting"
            ) from None
