"""The linear model: the bound scorer (the server's fast path) equals ``score`` on the model's
columns for any layout of the vector, and both equal the logistic of the exact dot product."""

from __future__ import annotations

import math
import sys
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from encoders import StateError
from scoring.linear_model import LinearModel

FINITE = st.floats(-1e3, 1e3, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 6), st.integers(0, 4), st.data())
def test_bound_scorer_equals_score(k: int, extra: int, data) -> None:
    names = tuple(f"m{i}" for i in range(k))
    coef = tuple(data.draw(st.lists(FINITE, min_size=k, max_size=k)))
    model = LinearModel("m", "sha256:x", names, coef, data.draw(FINITE))
    schema = list(names) + [f"other{i}" for i in range(extra)]
    layout = data.draw(st.permutations(schema))
    values = dict(zip(schema, data.draw(st.lists(FINITE, min_size=len(schema),
                                                 max_size=len(schema)))))
    got = model.bind(layout)([values[n] for n in layout])
    assert got == model.score([values[n] for n in names])
    z = Fraction(model.intercept) + sum(Fraction(c) * Fraction(values[n])
                                        for n, c in zip(names, coef))
    # score rounds each product, the sum (fsum: once) and the intercept's addition, so its z is
    # within eps * (sum |c x| + |intercept| + |z|) of the exact one; the sigmoid's relative
    # error is at most that (|d log s / dz| <= 1), plus a few ulps of exp and the division
    bound = sys.float_info.epsilon * (sum(abs(c * values[n]) for n, c in zip(names, coef))
                                      + abs(model.intercept) + abs(float(z)))
    assert math.isclose(got, 1 / (1 + math.exp(-float(z))) if z >= 0 else
                        math.exp(float(z)) / (1 + math.exp(float(z))),
                        rel_tol=bound + 1e-14)


def test_bind_names_the_missing_columns() -> None:
    model = LinearModel("m", "sha256:x", ("a", "b"), (1.0, 2.0), 0.0)
    with pytest.raises(StateError, match=r"columns \['b'\].*retrain"):
        model.bind(["a", "c"])


HOSTILE = st.one_of(
    FINITE, st.sampled_from([0.0, -0.0, 1e-300, -1e-300, 5e-324, 1e300, -1e300,
                             1.7976931348623157e308, math.inf, -math.inf, math.nan]),
    st.floats(allow_nan=False, allow_infinity=False))


def _outcome(fn, *args):
    """The value(s) ``fn`` returns (nan compared as nan), or the exception type it raises."""
    try:
        got = fn(*args)
    except (OverflowError, ValueError) as exc:
        return type(exc)
    return [("nan",) if isinstance(x, float) and math.isnan(x) else x for x in got]


@settings(max_examples=400, deadline=None)
@given(st.integers(2, 8), st.integers(0, 12), st.data())
def test_batch_scorer_equals_the_row_scorer_bit_for_bit(k: int, n: int, data) -> None:
    """``bind_many`` (constant columns summed once, exactly) gives the row scorer's floats
    for any batch: some columns constant, some not; huge, tiny, signed-zero, inf and nan
    values; coefficients as hostile as the values."""
    names = tuple(f"m{i}" for i in range(k))
    coef = tuple(data.draw(st.lists(HOSTILE.filter(math.isfinite), min_size=k, max_size=k)))
    model = LinearModel("m", "sha256:x", names, coef, data.draw(FINITE))
    schema = data.draw(st.permutations(list(names) + ["id"]))
    constant = data.draw(st.lists(st.booleans(), min_size=k, max_size=k))
    first = dict(zip(names, data.draw(st.lists(HOSTILE, min_size=k, max_size=k))))
    vectors = []
    for _ in range(n):
        row = {nm: first[nm] if same else data.draw(HOSTILE)
               for nm, same in zip(names, constant)}
        row["id"] = 7
        vectors.append(tuple(row[c] for c in schema))
    one = model.bind(schema)
    want = _outcome(lambda vs: [one(v) for v in vs], vectors)
    assert _outcome(model.bind_many(schema), vectors) == want


def test_batch_scorer_takes_the_shared_path_and_equals_the_exact_sum() -> None:
    """Constant columns whose products cancel to the last bit: the batch scorer (shared
    partials) and the row scorer both give the correctly rounded sum, which a naive
    left-to-right sum of the same products does not."""
    model = LinearModel("m", "sha256:x", ("a", "b", "c"), (1.0, 1.0, 1.0), 0.0)
    vectors = [(1e16, 1.0, -1e16 + x) for x in (0.0, 2.0, 4.0, 6.0)]
    got = model.bind_many(["a", "b", "c"])(vectors)
    exact = [1 / (1 + math.exp(-float(Fraction(1e16) + 1 + Fraction(v[2])))) for v in vectors]
    assert got == [model.score(v) for v in vectors] == exact
    assert [1 / (1 + math.exp(-((1e16 + 1.0) + v[2]))) for v in vectors] != exact


@settings(max_examples=300, deadline=None)
@given(st.lists(HOSTILE, max_size=40))
def test_exact_terms_sum_exactly_to_the_values_sum(values: list[float]) -> None:
    """The few floats standing for the batch-constant products sum, as real numbers, to
    exactly the values' sum; ``None`` only when a value or a partial sum is not finite."""
    from scoring.linear_model import _exact_terms

    terms = _exact_terms(values)
    if terms is None:
        try:
            total = math.fsum(values)
        except (OverflowError, ValueError):
            return
        assert not math.isfinite(total)
        return
    assert sum(map(Fraction, terms)) == sum(map(Fraction, values))
    assert len(terms) <= 40
