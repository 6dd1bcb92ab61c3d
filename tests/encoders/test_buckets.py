"""Unit tests for fixed and quantile buckets."""

from __future__ import annotations

import pytest

from encoders import (
    Buckets,
    QuantileBuckets,
    QuantileBucketsState,
    SpecError,
    StateError,
    collect_statistics,
    fit,
    stat_requests,
)
from encoders.base import NoState


def fit_on(spec, values):
    return fit([spec], collect_statistics([{"x": v} for v in values], stat_requests([spec])))


def test_fixed_buckets_boundary_goes_up_and_missing_is_reserved() -> None:
    enc = fit_on(Buckets("b", input="x", boundaries=(0.0, 10.0)), [])
    got = [enc.encode_values({"x": v})[0] for v in (-1.0, 0.0, 5.0, 10.0, 11.0, None)]
    assert got == [0, 1, 1, 2, 2, 3]
    assert enc.schema[0].dtype == "int64"


def test_quantile_buckets_fit_boundaries_at_quartiles() -> None:
    enc = fit_on(QuantileBuckets("q", input="x", num_buckets=4), [float(i) for i in range(1, 9)])
    assert enc.encoders[0].state == QuantileBucketsState((2.0, 4.0, 6.0))
    got = [enc.encode_values({"x": v})[0] for v in (1.0, 2.0, 5.0, 8.0, 100.0, None)]
    assert got == [0, 1, 2, 3, 3, 4]


def test_quantile_buckets_collapse_ties_but_keep_missing_index() -> None:
    enc = fit_on(QuantileBuckets("q", input="x", num_buckets=4), [1.0] * 10 + [2.0])
    assert enc.encoders[0].state == QuantileBucketsState((1.0,))
    assert enc.encode_values({"x": None}) == [4]
    assert enc.encode_values({"x": 1.5}) == [1]


@pytest.mark.parametrize("boundaries", [(), (1.0, 1.0), (2.0, 1.0), (float("inf"),), [1.0]])
def test_bad_boundaries_raise(boundaries) -> None:
    with pytest.raises(SpecError, match="strictly increasing"):
        Buckets("b", input="x", boundaries=boundaries)


def test_quantile_state_must_fit_the_spec() -> None:
    spec = QuantileBuckets("q", input="x", num_buckets=2)
    with pytest.raises(StateError, match="re-fit"):
        spec.compile(QuantileBucketsState((1.0, 2.0)))
    with pytest.raises(StateError, match="needs a QuantileBucketsState"):
        spec.compile(NoState())
    with pytest.raises(SpecError, match=">= 2"):
        QuantileBuckets("q", input="x", num_buckets=1)
