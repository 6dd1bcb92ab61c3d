"""Unit tests of the parity classifier (pure Python: no Spark, no Redis)."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from encoders import collect_statistics, fit, stat_requests
from encoders.base import SpecError
from encoders.categorical import HashBucket
from encoders.numeric import Numeric, ZScore
from encoders.temporal import Cyclical
from skew.classify import (
    DTYPE,
    EXPIRED,
    MISSING_OFFLINE,
    MISSING_ONLINE,
    STATE_VERSION,
    VALUE,
    RowContext,
    RowVersion,
    Side,
    Tolerance,
    Tolerances,
    changed_encoders,
    classify_row,
    lineage,
    same_value,
    same_values,
    to_float32,
    ulps_between,
)

T = datetime(2024, 1, 10, 15, 0, tzinfo=timezone.utc)
SPECS = (ZScore("x_z", input="x"), Numeric("y_n", input="y", fill=-1.0),
         HashBucket("d_h", input="d", num_buckets=8), Cyclical("hour", period="hour_of_day"))


def _fit(shift: float = 0.0):
    rows = [{"x": float(v) + shift} for v in range(10)]
    return fit(SPECS, collect_statistics(rows, stat_requests(SPECS)))


@pytest.fixture(scope="module")
def enc():
    return _fit()


def _side(enc, raw, statuses=None, t=T):
    return Side(enc.encode_row(raw, t), statuses or {"v": "present"}, raw)


def _run(enc, off, on, changed=frozenset(), tol=None, versions=None):
    lin = lineage(enc, {"v": ("x", "y")})
    ctx = RowContext(0, (("id", 1),), T.timestamp(), T.isoformat(), versions or {})
    got = classify_row(ctx, off, on, lin, enc, changed, tol or Tolerances())
    return {d.feature: d for d in got}


def test_ulps_and_float32() -> None:
    assert ulps_between(1.0, 1.0) == 0 and ulps_between(0.0, -0.0) == 0
    assert ulps_between(1.0, math.nextafter(1.0, 2.0)) == 1
    assert ulps_between(-1e-300, 1e-300) > 0 and ulps_between(1.0, math.inf) is None
    assert to_float32(0.1) != 0.1 and to_float32(0.5) == 0.5


def test_equal_vectors_have_no_difference(enc) -> None:
    raw = {"x": 2.0, "y": None, "d": "tv"}
    assert _run(enc, _side(enc, raw), _side(enc, raw)) == {}


def test_each_class(enc) -> None:
    raw = {"x": 2.1, "y": 3, "d": "tv"}
    off = _side(enc, raw)
    got = _run(enc, off, _side(enc, {**raw, "x": to_float32(2.1)}))
    assert got["x_z"].klass == DTYPE and got["x_z"].cause == "float32"
    got = _run(enc, off, _side(enc, {**raw, "x": None}))
    assert got["x_z"].klass == MISSING_ONLINE
    got = _run(enc, _side(enc, {**raw, "y": None}), _side(enc, {**raw, "y": 0}))
    assert got["y_n"].klass == MISSING_OFFLINE and got["y_n"].cause == "null_default"
    got = _run(enc, off, Side(off.values, {"v": "expired"}, raw))
    assert got == {}  # equal values are never a difference
    blank = _side(enc, {"d": "tv"}, {"v": "expired"})
    got = _run(enc, off, blank)
    assert {d.klass for d in got.values()} == {EXPIRED}
    got = _run(enc, _side(enc, {"d": "tv"}, {"v": "missing"}), off)
    assert {d.klass for d in got.values()} == {MISSING_OFFLINE}
    got = _run(enc, off, _side(enc, {**raw, "x": 2.5}))
    assert got["x_z"].klass == VALUE and got["x_z"].cause == "raw_input"
    assert got["x_z"].abs_diff == pytest.approx(abs(off.values["x_z"] - got["x_z"].online))
    late = {"v": RowVersion(0, 5, 5)}
    assert _run(enc, off, _side(enc, {**raw, "x": 2.5}), versions=late)["x_z"].cause == \
        "late_row"


def test_request_time_shift_and_encoding(enc) -> None:
    raw = {"x": 2.0, "y": 1, "d": "tv"}
    off = _side(enc, raw)
    shifted = Side(enc.encode_row(raw, T.timestamp() - 5 * 3600), {"v": "present"}, raw)
    got = _run(enc, off, shifted)
    assert got["hour__sin"].klass == VALUE and got["hour__sin"].cause == "request_time_shift"
    assert "-5 h" in got["hour__sin"].detail
    bad = Side({**off.values, "d_h": (off.values["d_h"] + 1) % 8}, {"v": "present"}, raw)
    got = _run(enc, off, bad)
    assert got["d_h"].klass == VALUE and got["d_h"].cause == "encoding"
    as_float = Side({**off.values, "d_h": float(off.values["d_h"])}, {"v": "present"}, raw)
    assert _run(enc, off, as_float)["d_h"].klass == DTYPE


def test_state_version(enc) -> None:
    other = _fit(shift=5.0)
    changed = changed_encoders(enc, other)
    assert changed == {"x_z"}
    raw = {"x": 2.0, "y": 1, "d": "tv"}
    got = _run(enc, _side(enc, raw), _side(other, raw), changed)
    assert got["x_z"].klass == STATE_VERSION and set(got) == {"x_z"}


def test_tolerances(enc) -> None:
    raw = {"x": 2.0, "y": 1.0, "d": "tv"}
    off = _side(enc, raw)
    on = Side({**off.values, "y_n": math.nextafter(1.0, 2.0)}, {"v": "present"}, raw)
    tol = Tolerances.from_mapping({"y_n": {"ulps": 2}}, enc.names)
    assert _run(enc, off, on, tol=tol)["y_n"].tolerated
    assert not _run(enc, off, on)["y_n"].tolerated
    with pytest.raises(ValueError, match="unknown features"):
        Tolerances.from_mapping({"nope": {"abs": 1}}, enc.names)
    with pytest.raises(ValueError, match="abs, ulps, rate"):
        Tolerances.from_mapping({"*": {"absolute": 1}}, enc.names)
    with pytest.raises(ValueError, match=">= 0"):
        Tolerance(abs=-1)
    assert Tolerance(abs=0.1).accepts(0.05, None) and not Tolerance().accepts(0.0, 0)
    assert SpecError  # the encoders' own errors stay theirs


_SCALARS = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                     st.integers(-3, 3), st.sampled_from([0.0, -0.0, 1.0, 1, None, "a", True]))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_SCALARS, _SCALARS), max_size=6), st.booleans())
def test_same_values_is_same_value_of_every_pair(pairs, mirror) -> None:
    """The vector fast path agrees with the per-item rule, types and NaN included."""
    a = [x for x, _ in pairs]
    b = list(a) if mirror else [y for _, y in pairs]
    assert same_values(a, b) == all(same_value(x, y) for x, y in zip(a, b))
    assert same_values(tuple(a), b) == same_values(a, b)
    assert not same_values(a, [*b, 0.0])
