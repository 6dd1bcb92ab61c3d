"""Pure-Python statistics collector, for small data and tests.

It computes exactly what the Spark collector computes with built-in aggregations, from the same
coerced values, so both feed the same ``fit``. Rows are mappings of raw values; each request's
input is coerced with :func:`~encoders.values.as_number` or
:func:`~encoders.values.as_category_cased` first, so ``NaN``, ``±inf``, empty strings and the
other edge inputs count as *missing* here exactly as they do when encoding. Quantiles are exact
(the Spark collector's ``percentile_approx`` approximates the same definition).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from encoders.stats import Moments, Quantiles, Statistics, StatRequest, ValueCounts
from encoders.values import as_category_cased, as_number


def coerced_column(rows: Iterable[Mapping[str, Any]], request: StatRequest) -> list:
    """The request's input from every row, coerced as the encoders read it."""
    key = request.input
    if request.coerce == "category":
        return [as_category_cased(r.get(key), request.lowercase) for r in rows]
    return [as_number(r.get(key)) for r in rows]


def collect_statistics(rows: Iterable[Mapping[str, Any]],
                       requests: Iterable[StatRequest]) -> Statistics:
    """Answer every request over ``rows`` (materialised once; fine for small data)."""
    rows = list(rows)
    out: dict[StatRequest, Any] = {}
    for req in requests:
        col = coerced_column(rows, req)
        if req.kind == "moments":
            out[req] = Moments.of(col)
        elif req.kind == "quantiles":
            out[req] = Quantiles.of(col, req.probabilities)
        else:
            out[req] = ValueCounts.of(col)
    return Statistics(out)
