"""Bucketing encoders: fixed boundaries and fitted quantile boundaries.

Both output one int64 column, the bucket index. With sorted boundaries ``b_0 < … < b_{k-1}``
the index of a present value ``x`` is the number of boundaries ``<= x`` (``bisect_right``), so
bucket ``i`` is ``[b_{i-1}, b_i)``: a value equal to a boundary goes to the bucket above it.
This is Spark ``Bucketizer`` with splits ``[-inf, b_0, …, b_{k-1}, inf]`` and scikit-learn's
``KBinsDiscretizer`` ordinal encoding. Present indices are ``0 … k``; a missing input (policy of
:func:`encoders.values.as_number`) gets the reserved index ``k + 1`` for :class:`Buckets` and
``num_buckets`` for :class:`QuantileBuckets` (one past the largest possible present index), like
Bucketizer's ``handleInvalid="keep"``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

from encoders.base import (
    Compiled,
    EncoderSpec,
    EncoderState,
    OutputField,
    SpecError,
    StateError,
    check_positive_int,
    register,
)
from encoders.stats import Quantiles, Statistics, StatisticsError, StatRequest
from encoders.values import as_number


def _strictly_increasing_finite(values: tuple) -> bool:
    ok_types = all(
        not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
        for v in values
    )
    return ok_types and all(a < b for a, b in zip(values, values[1:]))


def bucket_compiled(key: str, boundaries: tuple[float, ...], missing_index: int) -> Compiled:
    """``fn(row, now) -> (index,)`` for sorted ``boundaries``; missing -> ``missing_index``."""
    bounds = tuple(float(b) for b in boundaries)
    missing = (missing_index,)

    def fn(row, now):
        x = row.get(key)
        if type(x) is float and x - x == 0.0:
            return (bisect_right(bounds, x),)
        v = as_number(x)
        return missing if v is None else (bisect_right(bounds, v),)

    return fn


@register
@dataclass(frozen=True)
class Buckets(EncoderSpec):
    """Bucket index by fixed, strictly increasing ``boundaries`` (at least one)."""

    kind = "buckets"
    input: str
    boundaries: tuple[float, ...]

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.boundaries, tuple) or not self.boundaries or not (
            _strictly_increasing_finite(self.boundaries)
        ):
            raise SpecError(
                f"Buckets {self.name!r}: boundaries={self.boundaries!r} must be a non-empty "
                "tuple of finite numbers in strictly increasing order"
            )

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input,)

    def outputs(self, state: EncoderState) -> tuple[OutputField, ...]:
        return (OutputField(self.name, "int64"),)

    def compile(self, state: EncoderState) -> Compiled:
        self.check_state(state)
        return bucket_compiled(self.input, self.boundaries, len(self.boundaries) + 1)


@dataclass(frozen=True)
class QuantileBucketsState(EncoderState):
    """Fitted boundaries: strictly increasing; ties in the data collapse duplicates, so there
    may be fewer than ``num_buckets - 1`` of them (never more)."""

    boundaries: tuple[float, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.boundaries, tuple) or not _strictly_increasing_finite(
            self.boundaries
        ):
            raise StateError(
                f"QuantileBucketsState.boundaries={self.boundaries!r} must be finite and "
                "strictly increasing; re-fit"
            )


@register
@dataclass(frozen=True)
class QuantileBuckets(EncoderSpec):
    """Bucket index by boundaries at the ``i / num_buckets`` quantiles of the training data.

    Quantiles use Spark's ``percentile_approx`` definition (see :mod:`encoders.stats`);
    duplicate boundaries (heavy ties) are dropped, so a degenerate column has fewer buckets.
    Missing -> ``num_buckets``, whatever the number of distinct boundaries.
    """

    kind = "quantile_buckets"
    state_type = QuantileBucketsState
    input: str
    num_buckets: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("QuantileBuckets", "num_buckets", self.num_buckets, minimum=2)

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input,)

    def requests(self) -> tuple[StatRequest, ...]:
        n = self.num_buckets
        probs = tuple(i / n for i in range(1, n))
        return (StatRequest("quantiles", self.input, probabilities=probs),)

    def fit(self, stats: Statistics) -> QuantileBucketsState:
        q = stats.get(self.requests()[0])
        if not isinstance(q, Quantiles):
            raise StatisticsError(f"{self.name!r} needs Quantiles, got {type(q).__name__}")
        if q.count == 0:
            raise StatisticsError(
                f"encoder {self.name!r}: input {self.input!r} has no present values in the "
                "training window; widen the window, fix the source, or use fixed Buckets"
            )
        return QuantileBucketsState(tuple(sorted(set(float(v) for v in q.values))))

    def outputs(self, state: EncoderState) -> tuple[OutputField, ...]:
        return (OutputField(self.name, "int64"),)

    def check_state(self, state: EncoderState) -> None:
        super().check_state(state)
        assert isinstance(state, QuantileBucketsState)
        if len(state.boundaries) > self.num_buckets - 1:
            raise StateError(
                f"{self.name!r}: {len(state.boundaries)} boundaries exceed num_buckets - 1 = "
                f"{self.num_buckets - 1}; the state was fitted for another spec, re-fit"
            )

    def compile(self, state: EncoderState) -> Compiled:
        self.check_state(state)
        assert isinstance(state, QuantileBucketsState)
        return bucket_compiled(self.input, state.boundaries, self.num_buckets)
