"""Property tests: every encoder kind, any input, a defined and well-typed answer.

One encoder set covers every registered kind (the demo set plus extras with and without missing
indicators, lower-casing, other units and fixed UTC offsets), fitted as users fit it on
``synthetic_rows``. Hypothesis then throws arbitrary rows at it — None, bools, huge ints,
NaN/±inf/subnormal floats, unicode (surrogates, combining marks, odd whitespace), non-UTF-8
bytes, naive and aware datetimes, dates, Decimals, numpy scalars, lists and plain objects — and
checks the contract of DESIGN.md invariants 4–6: no exception, fixed width, the declared type
per column, finite floats, indices in their documented ranges, determinism, no row mutation.
Algebraic properties (monotonicity, bounds, time-zone invariance, idempotent coercion, exact
merging of moments, stable hashing) follow.
"""

from __future__ import annotations

import copy
import math
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import IntEnum
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from demo.specs import BASE_TIME, DEMO_SPECS, synthetic_rows
from encoders import (
    Buckets,
    Clip,
    Cyclical,
    EncoderSet,
    HashBucket,
    HashedCross,
    Indicator,
    Log1p,
    MinMax,
    Moments,
    Numeric,
    OneHot,
    QuantileBuckets,
    TimeSince,
    VocabIndex,
    ZScore,
    as_category,
    as_epoch_micros,
    as_epoch_seconds,
    as_number,
    collect_statistics,
    dumps,
    fit,
    kind_classes,
    load,
    loads,
    save,
    stable_bucket,
    stat_requests,
)
from encoders.boolean import as_flag
from encoders.temporal import UNIT_SECONDS
from encoders.values import as_category_cased

FAST = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --- the encoder set under test -----------------------------------------------------------------

# Extras cover every kind on their own (DEMO_SPECS may change), each scalar kind both with and
# without a missing indicator, lower-casing, other units and fixed UTC offsets.
EXTRA_SPECS = (
    Numeric("x_watch_minutes_7d_raw", input="watch_minutes_7d"),
    Numeric("x_tenure_days_raw", input="tenure_days", fill=-1.0, missing_indicator=True),
    MinMax("x_watch_minutes_28d_mm", input="watch_minutes_28d", missing_indicator=True),
    MinMax("x_tenure_days_mm_c", input="tenure_days", clip=True, fill=0.5),
    ZScore("x_tenure_days_z", input="tenure_days", fill=-3.0),
    ZScore("x_watch_minutes_28d_z", input="watch_minutes_28d", missing_indicator=True),
    Log1p("x_title_plays_7d_log", input="title_plays_7d"),
    Log1p("x_title_plays_7d_log_m", input="title_plays_7d", fill=-1.0, missing_indicator=True),
    Clip("x_release_year_c", input="release_year", low=1980.0, high=2030.0, fill=1970.0),
    Clip("x_tenure_days_c", input="tenure_days", low=-10.0, high=10.0, missing_indicator=True),
    QuantileBuckets("x_watch_minutes_28d_q", input="watch_minutes_28d", num_buckets=5),
    Buckets("x_tenure_days_b", input="tenure_days", boundaries=(0.0, 30.0, 365.0)),
    VocabIndex("x_title_genre_idx", input="title_genre"),
    VocabIndex("x_title_genre_idx_lc", input="title_genre", lowercase=True, top_k=5),
    OneHot("x_device_oh", input="device", min_count=2),
    OneHot("x_device_oh_lc", input="device", lowercase=True),
    HashBucket("x_country_h", input="country", num_buckets=1),
    HashBucket("x_country_h_lc", input="country", num_buckets=7, lowercase=True),
    HashedCross("x_plan_x_device", left="plan", right="device", num_buckets=2**40),
    HashedCross("x_plan_x_device_lc", left="plan", right="device", num_buckets=3,
                lowercase=True),
    Indicator("x_is_kids", input="is_kids_profile", missing_indicator=True),
    Indicator("x_is_kids_plain", input="is_kids_profile", fill=0.5),
    TimeSince("x_hours_since_watch", input="last_watch_ts", unit="hours", max_value=1000.0,
              fill=-1.0),
    TimeSince("x_seconds_since_watch_m", input="last_watch_ts", unit="seconds", max_value=1e9,
              missing_indicator=True),
    TimeSince("x_minutes_since_watch", input="last_watch_ts", unit="minutes", max_value=1.0),
    Cyclical("x_request_dow", period="day_of_week"),
    Cyclical("x_request_dow_ist", period="day_of_week", utc_offset_minutes=330),
    Cyclical("x_request_hour_npt", period="hour_of_day", utc_offset_minutes=345),
    Cyclical("x_request_hour_west", period="hour_of_day", utc_offset_minutes=-570),
    Cyclical("x_request_dow_max", period="day_of_week", utc_offset_minutes=-1439),
)
SPECS = DEMO_SPECS + EXTRA_SPECS
ENC = fit(SPECS, collect_statistics(synthetic_rows(3000), stat_requests(SPECS)))
RELOADED = loads(dumps(ENC))
INPUTS = ENC.inputs


def test_the_set_covers_every_kind_with_and_without_missing_indicators():
    assert {s.kind for s in EXTRA_SPECS} == set(kind_classes())
    scalar = {s.kind for s in EXTRA_SPECS if hasattr(s, "missing_indicator")}
    with_ind = {s.kind for s in EXTRA_SPECS if getattr(s, "missing_indicator", False)}
    without = {s.kind for s in EXTRA_SPECS if getattr(s, "missing_indicator", True) is False}
    assert with_ind == without == scalar
    assert scalar >= {"numeric", "clip", "log1p", "zscore", "minmax", "indicator", "time_since"}
    assert RELOADED.content_hash == ENC.content_hash


def slices():
    """``(fitted encoder, start, stop)`` of each encoder's columns in the output vector."""
    out, i = [], 0
    for fe in ENC.encoders:
        n = len(fe.outputs)
        out.append((fe, i, i + n))
        i += n
    return out


SLICES = slices()

# --- arbitrary raw values -----------------------------------------------------------------------

OFFSETS = st.timedeltas(min_value=-timedelta(hours=23, minutes=59, seconds=59),
                        max_value=timedelta(hours=23, minutes=59, seconds=59))
ZONES = st.one_of(st.just(timezone.utc), st.builds(timezone, OFFSETS),
                  st.sampled_from([timezone(timedelta(hours=5, minutes=30)),
                                   timezone(timedelta(hours=-9, minutes=-30)),
                                   timezone(timedelta(hours=14)),
                                   timezone(timedelta(hours=-12))]))
NAIVE = st.datetimes()
AWARE = st.datetimes(timezones=ZONES)
# datetimes near the request times the demo set was fitted for, so TimeSince is not always capped
RECENT = st.datetimes(min_value=datetime(2026, 9, 1), max_value=datetime(2027, 1, 1),
                      timezones=st.one_of(st.none(), ZONES))

CHARS = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),  # lone surrogates
    st.characters(categories=["Zs", "Zl", "Zp", "Cc", "Mn"]),  # whitespace, combining marks
    st.sampled_from(list(" \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u3000\ufeffAaHhİıKk\u212a\u0301\u0331")),
)
TRICKY_STRINGS = st.sampled_from([
    "", " ", "\t\n", "\u3000", " US ", "US", "us", "Drama", " drama\t", "DRAMA", "Télénovela",
    "Te\u0301le\u0301novela", "H\u0331", "h\u0331", "\u1e96", "\u212a", "İ", "\ud800", "a\udfff",
    "nan", "NaN", "inf", "-Infinity", "-0", "0", "1", "3", "3.0", "1_000", "1e400", "0x10",
    "١٢٣", "３", "true", "Yes", "n", "2026-11-01T00:00:00Z", "2026-11-01T05:30:00+05:30",
    "2026-10-31", "2026-11-01 12:00:00", "9999-12-31T23:59:59-23:59", "not a date", "premium",
    "tv", "ZZ",
])
TEXT = st.one_of(st.text(CHARS, max_size=12), TRICKY_STRINGS)
BINARY = st.one_of(st.binary(max_size=12), TEXT.map(lambda s: s.encode("utf-8", "surrogatepass")),
                   st.sampled_from([b"\xff\xfe", b"\xc3", b"US", b" 42 ", b"true"]),
                   st.binary(max_size=6).map(bytearray))
# Past a double's range, and on both sides of str()'s 4300-digit limit (see also
# test_int_beyond_str_digit_limit_is_an_answer_not_an_exception).
HUGE_INTS = st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1, 2**1024, 10**4299,
                             10**4300, -(10**5000)])
INTS = st.one_of(st.integers(), st.integers(-(2**70), 2**70), HUGE_INTS)
EDGE_FLOATS = st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308,
                               1.7976931348623157e308, -1.7976931348623157e308, float("nan"),
                               float("inf"), float("-inf"), 1e16, 2.5, 1e300, -1e-300])
FLOATS = st.one_of(st.floats(), st.floats(-1e-300, 1e-300), EDGE_FLOATS)  # + subnormals
DECIMALS = st.one_of(st.decimals(), st.sampled_from([
    Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity"),
    Decimal("1e400"), Decimal("-0"), Decimal("2.5"), Decimal("3")]))


class Opaque:
    """A plain object with nothing numeric or textual about it."""


class BadFloat:
    def __float__(self):
        return "not a float"  # float() raises TypeError


class Level(IntEnum):
    LOW = 1
    HIGH = 2


class MyStr(str):
    pass


class MyFloat(float):
    pass


OBJECTS = st.sampled_from([
    Opaque(), BadFloat(), object(), complex(1, 2), Fraction(1, 3), Fraction(10**400, 3),
    Level.HIGH, MyStr(" Drama "), MyFloat(2.0), MyFloat("nan"), {"a": 1}, {1, 2}, (1, 2),
    memoryview(b"US"), np.float64("nan"), np.float64(2.0), np.float32(1.5), np.int64(7),
    np.bool_(True), np.datetime64("2026-11-01"), np.str_("US"), Ellipsis, range(3),
])
SCALARS = st.one_of(st.none(), st.booleans(), INTS, FLOATS, TEXT, BINARY, NAIVE, AWARE, RECENT,
                    st.dates(), DECIMALS, OBJECTS)
ANY = st.one_of(SCALARS, st.lists(SCALARS, max_size=3))
REQUEST_TIMES = st.one_of(st.none(), RECENT, AWARE, NAIVE, st.dates(), FLOATS, INTS, TEXT, ANY)
ROWS = st.fixed_dictionaries({}, optional={**{k: ANY for k in INPUTS}, "unused_key": ANY})


# --- a reference for each kind's documented range -----------------------------------------------


def is_float(v: object) -> bool:
    return type(v) is float and math.isfinite(v)


def check_encoder(fe, out: list, row: dict, now: float | None) -> None:
    """Assert ``out`` (this encoder's slice) obeys its kind's documented policy."""
    spec, state = fe.spec, fe.state
    fields = fe.outputs
    assert len(out) == len(fields)
    for f, v in zip(fields, out):
        if f.dtype == "int64":
            assert type(v) is int, (f, v)
        else:
            assert f.dtype == "float64" and is_float(v), (f, v)

    kind = spec.kind
    main = out
    if getattr(spec, "missing_indicator", False):
        main, flag = out[:-1], out[-1]
        assert flag in (0.0, 1.0)
    else:
        flag = None

    def expect_missing(missing: bool, fill: float) -> None:
        if flag is not None:
            assert flag == (1.0 if missing else 0.0)
        if missing:
            assert main == [fill]

    if kind in ("numeric", "clip", "log1p", "zscore", "minmax"):
        x = as_number(row.get(spec.input))
        expect_missing(x is None, spec.fill)
        if x is not None:
            (v,) = main
            if kind == "numeric":
                assert v == x
            elif kind == "clip":
                assert spec.low <= v <= spec.high
                assert v == min(max(x, spec.low), spec.high)
            elif kind == "log1p":
                assert v == (math.log1p(x) if x > 0 else 0.0)
            elif kind == "minmax" and spec.clip:
                assert 0.0 <= v <= 1.0
    elif kind == "indicator":
        x = as_flag(row.get(spec.input))
        expect_missing(x is None, spec.fill)
        if x is not None:
            assert main == [x]
    elif kind == "buckets":
        x = as_number(row.get(spec.input))
        k = len(spec.boundaries)
        assert 0 <= main[0] <= k + 1
        assert (main[0] == k + 1) == (x is None)
    elif kind == "quantile_buckets":
        x = as_number(row.get(spec.input))
        assert 0 <= main[0] <= spec.num_buckets
        if x is None:
            assert main == [spec.num_buckets]
        else:
            assert main[0] <= len(state.boundaries)
    elif kind in ("vocab_index", "one_hot"):
        c = as_category_cased(row.get(spec.input), spec.lowercase)
        tokens = state.tokens
        # position of the category among the columns: a token, or one past them for OOV
        position = None if c is None else (tokens.index(c) if c in tokens else len(tokens))
        if kind == "vocab_index":
            assert 0 <= main[0] <= len(tokens) + 1
            if position is None:
                assert main[0] == 0  # missing
            else:
                assert main[0] == (1 if position == len(tokens) else position + 2)
        else:
            assert all(v in (0.0, 1.0) for v in main) and sum(main) in (0.0, 1.0)
            hot = [i for i, v in enumerate(main) if v == 1.0]
            assert hot == ([] if position is None else [position])
    elif kind == "hash_bucket":
        c = as_category_cased(row.get(spec.input), spec.lowercase)
        assert 0 <= main[0] <= spec.num_buckets
        assert main[0] == (spec.num_buckets if c is None else stable_bucket(c, spec.num_buckets))
    elif kind == "hashed_cross":
        a = as_category_cased(row.get(spec.left), spec.lowercase)
        b = as_category_cased(row.get(spec.right), spec.lowercase)
        assert 0 <= main[0] <= spec.num_buckets
        if a is None or b is None:
            assert main == [spec.num_buckets]
        else:
            assert main[0] < spec.num_buckets
    elif kind == "time_since":
        t = as_epoch_seconds(row.get(spec.input))
        fill = spec.max_value if spec.fill is None else spec.fill
        expect_missing(t is None or now is None, fill)
        if t is not None and now is not None:
            assert 0.0 <= main[0] <= spec.max_value
    elif kind == "cyclical":
        s, c = main
        if now is None:
            assert (s, c) == (0.0, 0.0)
        else:
            assert math.isclose(s * s + c * c, 1.0, rel_tol=1e-12)
    else:  # pragma: no cover - a new kind must get a check here
        raise AssertionError(f"no property check for kind {kind!r}")


def snapshot(row: dict) -> list:
    """Identity and (for containers) a copy of every value, to detect mutation."""
    return [(k, id(v), copy.copy(v) if isinstance(v, (list, dict, set, bytearray)) else None)
            for k, v in row.items()]


# --- the contract on arbitrary rows -------------------------------------------------------------


@FAST
@given(row=ROWS, request_time=REQUEST_TIMES)
def test_any_row_encodes_to_a_well_typed_fixed_width_vector(row, request_time):
    before = snapshot(row)
    values = ENC.encode_values(row, request_time)
    assert len(values) == len(ENC.schema) == ENC.width
    now = as_epoch_seconds(request_time)
    for fe, i, j in SLICES:
        check_encoder(fe, values[i:j], row, now)

    assert ENC.encode_values(row, request_time) == values  # deterministic
    assert RELOADED.encode_values(dict(row), request_time) == values  # same from JSON state
    assert ENC.encode_vector(row, request_time) == [float(v) for v in values]
    assert list(ENC.encode_row(row, request_time).values()) == values
    assert list(ENC.encode_row(row, request_time)) == list(ENC.names)
    assert snapshot(row) == before  # the row is not mutated


@FAST
@given(value=ANY, request_time=REQUEST_TIMES)
def test_the_same_value_in_every_input_never_breaks_the_contract(value, request_time):
    """Every input holding one value (e.g. a datetime where a count is expected)."""
    row = {k: value for k in INPUTS}
    values = ENC.encode_values(row, request_time)
    assert len(values) == ENC.width
    now = as_epoch_seconds(request_time)
    for fe, i, j in SLICES:
        check_encoder(fe, values[i:j], row, now)
    assert ENC.encode_values(row, request_time) == values


def test_int_beyond_str_digit_limit_is_an_answer_not_an_exception():
    """An int with more than 4300 digits (``sys.get_int_max_str_digits()``) must be missing
    (or some category) like any other odd value, not raise ``ValueError`` from ``str(int)``:
    values.py promises its functions never raise, and invariant 5 that every input has an
    answer. ``as_number`` already maps it to missing (too large for a double)."""
    failing = []
    for x in (10**5000, -(10**5000)):
        try:
            as_category(x)
        except ValueError as exc:
            failing.append(f"as_category: {str(exc)[:40]}")
        for fe in ENC.encoders:
            single = EncoderSet.of((fe.spec, fe.state))
            try:
                values = single.encode_values({k: x for k in single.inputs}, BASE_TIME)
            except ValueError:
                failing.append(f"{fe.spec.kind}: {fe.spec.name}")
                continue
            check_encoder(fe, values, {k: x for k in single.inputs}, BASE_TIME.timestamp())
    assert not failing, sorted(set(failing))


@pytest.mark.parametrize(("numpy_value", "python_value"), [
    pytest.param(np.float64(3.0), 3.0, id="float64"),
    pytest.param(np.int64(3), 3, id="int64"),
    pytest.param(np.float32(3.0), 3.0, id="float32"),
    pytest.param(np.bool_(True), True, id="bool_"),
    pytest.param(np.int64(1_793_000_000), 1_793_000_000, id="int64-epoch-seconds"),
    pytest.param(np.str_("US"), "US", id="str_"),
])
def test_numpy_scalar_encodes_like_its_python_value(numpy_value, python_value):
    """pandas hands numpy scalars (``Series.iloc``, ``itertuples``, a Float32 Feast column read
    through ``to_df()``) to one path where Spark rows and Feast online reads hand Python values
    to the other: the same value must give the same vector. values.py says numpy scalars take
    the Python rules ("objects with ``__index__`` (numpy integers) -> the int rule; numpy floats
    are float subclasses"); only ``numpy.float64`` is a ``float`` subclass."""
    row_np = {k: numpy_value for k in INPUTS}
    row_py = {k: python_value for k in INPUTS}
    got = ENC.encode_row(row_np, BASE_TIME)
    want = ENC.encode_row(row_py, BASE_TIME)
    assert got == want, {k: (got[k], want[k]) for k in want if got[k] != want[k]}


# --- algebraic properties -----------------------------------------------------------------------

NUMBERS = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**20),
                    10**20), st.floats(-1e4, 1e4), st.floats(-1.0, 1.0),
                    st.floats(allow_nan=False, allow_infinity=False).map(repr))


def columns_of(kind: str) -> list[tuple[str, int]]:
    """``(input, column index of the main output)`` of every encoder of ``kind``."""
    return [(fe.spec.input, i) for fe, i, _ in SLICES if fe.spec.kind == kind]


MONOTONE = columns_of("zscore") + columns_of("minmax") + columns_of("clip") + \
    columns_of("log1p") + columns_of("numeric") + columns_of("buckets") + \
    columns_of("quantile_buckets")


@FAST
@given(a=NUMBERS, b=NUMBERS)
def test_numeric_encoders_are_monotone_non_decreasing(a, b):
    """ZScore and MinMax (clipped or not), and Clip, Log1p, Numeric and the bucket indices, are
    non-decreasing in the input, including where ZScore/MinMax saturate near ±max double."""
    x, y = as_number(a), as_number(b)
    assert x is not None and y is not None
    if x > y:
        (a, x), (b, y) = (b, y), (a, x)
    for key, col in MONOTONE:
        fx = ENC.encode_values({key: a})[col]
        fy = ENC.encode_values({key: b})[col]
        assert fx <= fy, (key, a, b, fx, fy)


@FAST
@given(x=st.one_of(NUMBERS, FLOATS, INTS, TEXT))
def test_clip_output_within_bounds_for_present_inputs(x):
    for fe, i, _ in SLICES:
        if fe.spec.kind == "clip":
            v = ENC.encode_values({fe.spec.input: x})[i]
            if as_number(x) is None:
                assert v == fe.spec.fill
            else:
                assert fe.spec.low <= v <= fe.spec.high


TIMES = st.one_of(RECENT, AWARE, NAIVE, st.dates(), FLOATS, INTS,
                  st.floats(1.7e9, 1.9e9), RECENT.map(lambda d: d.isoformat()))


@FAST
@given(event=TIMES, request=TIMES)
def test_time_since_within_zero_and_max_value(event, request):
    now, then = as_epoch_micros(request), as_epoch_micros(event)
    values = ENC.encode_values({"last_watch_ts": event}, request)
    for fe, i, _ in SLICES:
        if fe.spec.kind == "time_since":
            if then is None or now is None:
                continue
            assert 0.0 <= values[i] <= fe.spec.max_value
            # the exact elapsed time (integer microseconds), clipped, rounded once
            elapsed = Fraction(now - then, int(UNIT_SECONDS[fe.spec.unit]) * 10**6)
            cap = Fraction(fe.spec.max_value)
            assert values[i] == float(min(max(elapsed, Fraction(0)), cap))


@FAST
@given(request=TIMES)
def test_cyclical_is_on_the_unit_circle_for_present_request_times(request):
    values = ENC.encode_values({}, request)
    present = as_epoch_seconds(request) is not None
    for fe, i, j in SLICES:
        if fe.spec.kind == "cyclical":
            s, c = values[i:j]
            if present:
                assert math.isclose(s * s + c * c, 1.0, rel_tol=1e-12)
            else:
                assert (s, c) == (0.0, 0.0)


def to_zone(d: datetime, tz: timezone) -> datetime | None:
    try:
        return d.astimezone(tz)
    except OverflowError:  # the instant is not representable in that zone (year 0 or 10000)
        return None


@FAST
@given(event=AWARE, request=st.one_of(RECENT, AWARE), zone=ZONES, zone2=ZONES)
def test_same_instant_in_another_zone_encodes_identically(event, request, zone, zone2):
    """An aware datetime is an instant: its zone never changes the encoding."""
    if request.tzinfo is None:
        request = request.replace(tzinfo=timezone.utc)
    event2, request2 = to_zone(event, zone), to_zone(request, zone2)
    if event2 is None or request2 is None:
        return
    assert event2 == event and request2 == request
    assert ENC.encode_values({"last_watch_ts": event}, request) == \
        ENC.encode_values({"last_watch_ts": event2}, request2)


@FAST
@given(event=NAIVE, request=st.one_of(NAIVE, RECENT.map(lambda d: d.replace(tzinfo=None))))
def test_naive_datetime_is_the_same_wall_time_in_utc(event, request):
    """Naive datetimes (and naive ISO strings) are read as UTC, never as the machine's zone."""
    utc = timezone.utc
    naive = ENC.encode_values({"last_watch_ts": event}, request)
    aware = ENC.encode_values({"last_watch_ts": event.replace(tzinfo=utc)},
                              request.replace(tzinfo=utc))
    assert naive == aware
    as_text = ENC.encode_values({"last_watch_ts": event.isoformat()}, request.isoformat())
    assert as_text == naive


@FAST
@given(x=st.one_of(TEXT, SCALARS))
@example("Te\u0301le\u0301novela")
@example(" \u212a ")
def test_as_category_is_idempotent(x):
    """The vocabulary fast path looks raw ``str`` inputs up directly; that is only right if a
    canonical category is its own canonical form."""
    c = as_category(x)
    if c is not None:
        assert type(c) is str and c
        assert as_category(c) == c


@FAST
@given(x=st.one_of(TEXT, SCALARS))
@example("H\u0331")  # "H" + COMBINING MACRON BELOW; lower() gives "h\u0331", NFC is "\u1e96"
def test_lowercased_category_is_idempotent(x):
    """Same property for ``lowercase=True`` specs, whose fast path relies on it too."""
    c = as_category_cased(x, True)
    if c is not None:
        assert as_category_cased(c, True) == c


@FAST
@given(train=st.lists(TEXT, min_size=1, max_size=8), probe=TEXT, lowercase=st.booleans())
@example(train=["H\u0331"], probe="h\u0331", lowercase=True)
def test_vocabulary_lookup_agrees_with_coercion(train, probe, lowercase):
    """VocabIndex and HashBucket give a raw string the answer of its canonical category (the
    fast path must agree with ``as_category_cased``), for tokens and for their raw forms."""
    rows = [{"g": t} for t in train]
    if all(as_category_cased(t, lowercase) is None for t in train):
        return
    specs = [VocabIndex("v", input="g", lowercase=lowercase),
             HashBucket("h", input="g", num_buckets=97, lowercase=lowercase)]
    enc = fit(specs, collect_statistics(rows, stat_requests(specs)))
    tokens = enc.encoders[0].state.tokens
    for x in [probe, *train, *tokens]:
        c = as_category_cased(x, lowercase)
        want_v = 0 if c is None else (tokens.index(c) + 2 if c in tokens else 1)
        want_h = 97 if c is None else stable_bucket(c, 97)
        assert enc.encode_values({"g": x}) == [want_v, want_h], (x, c, tokens)


@settings(max_examples=50, deadline=None)
@given(train=st.lists(TEXT, min_size=1, max_size=6))
@example(train=["\ud800x", "ok"])  # a lone surrogate is a present category for as_category
def test_vocabulary_of_any_text_round_trips_through_save_and_load(train):
    """Any category the coercion accepts can be published: ``save`` then ``load`` gives the set
    with the same content hash (invariants 2 and 3), never an encoding error."""
    if all(as_category(t) is None for t in train):
        return
    specs = [VocabIndex("v", input="g"), OneHot("o", input="g")]
    enc = fit(specs, collect_statistics([{"g": t} for t in train], stat_requests(specs)))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "encoder_set.json")
        save(enc, path)
        assert load(path, expected_hash=enc.content_hash) == enc


MOMENT_VALUES = st.lists(st.one_of(st.none(), st.floats(-1e9, 1e9), st.integers(-10**6, 10**6)
                                   .map(float), st.floats(-1.0, 1.0)), max_size=40)


@FAST
@given(values=MOMENT_VALUES, cuts=st.lists(st.integers(0, 40), max_size=3))
def test_moments_merge_of_parts_equals_moments_of_the_whole(values, cuts):
    """Chan's merge of any split (including empty parts) is one pass over the whole, within
    1e-9 relative; the absolute floor is the float noise of the data's magnitude (a mean or m2
    that cancels to ~0 cannot be relatively exact in float64 on either side). Counts, missing
    counts, min and max are exact."""
    bounds = sorted({0, len(values), *[min(c, len(values)) for c in cuts]})
    parts = [values[a:b] for a, b in zip(bounds, bounds[1:])] or [[]]
    merged = Moments.of(parts[0])
    for part in parts[1:]:
        merged = merged.merge(Moments.of(part))
    whole = Moments.of(values)
    assert (merged.count, merged.missing) == (whole.count, whole.missing)
    assert (merged.min, merged.max) == (whole.min, whole.max)
    big = max((abs(v) for v in values if v is not None), default=0.0)
    tiny = 1e-300  # subnormal rounding: mean of [5e-324, 0.0] is 0.0 one way, 5e-324 the other
    assert math.isclose(merged.mean, whole.mean, rel_tol=1e-9, abs_tol=1e-12 * big + tiny)
    assert math.isclose(merged.m2, whole.m2, rel_tol=1e-9,
                        abs_tol=1e-12 * max(whole.count, 1) * big * big + tiny)
    assert math.isclose(merged.variance, whole.variance, rel_tol=1e-9,
                        abs_tol=1e-12 * big * big + tiny)


@FAST
@given(category=st.text(CHARS, max_size=20), n=st.one_of(st.integers(1, 5000),
                                                        st.integers(1, 2**80)))
def test_stable_bucket_in_range_and_equal_across_calls(category, n):
    b = stable_bucket(category, n)
    assert type(b) is int and 0 <= b < n
    assert stable_bucket(category, n) == b
    assert stable_bucket(str(category), n) == b


def test_stable_bucket_is_the_same_in_other_processes():
    """No ``hash()``: other interpreters with other hash seeds give the same buckets."""
    cats = ["US", "Télénovela", "\ud800x", "", "a\x1fb"]
    here = [stable_bucket(c, 1009) for c in cats]
    code = ("import sys; from encoders import stable_bucket; "
            f"print([stable_bucket(c, 1009) for c in {cats!r}])")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": root}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True, cwd=root).stdout
        assert out.strip() == repr(here)
