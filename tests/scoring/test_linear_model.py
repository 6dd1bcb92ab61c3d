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
