"""EncoderSet: fixed schema, ordering, input list, and errors for bad use."""

from __future__ import annotations

import pytest

from demo.specs import DEMO_SPECS, request_times, synthetic_rows
from encoders import (
    EncoderSet,
    FittedEncoder,
    NoState,
    Numeric,
    SpecError,
    StatisticsError,
    ZScore,
    collect_statistics,
    fit,
    stat_requests,
)


@pytest.fixture(scope="module")
def demo():
    return fit(DEMO_SPECS, collect_statistics(synthetic_rows(2000, seed=1),
                                              stat_requests(DEMO_SPECS)))


def test_schema_depends_only_on_specs_and_state(demo) -> None:
    names = demo.names
    for row, t in zip(synthetic_rows(300, seed=9), request_times(300)):
        assert len(demo.encode_values(row, t)) == len(names)
        assert list(demo.encode_row(row, t)) == list(names)
    assert len(demo.encode_values({}, None)) == len(names)
    assert demo.width == 47 and len(demo.encoders) == 20


def test_vector_is_floats_in_schema_order(demo) -> None:
    row, t = synthetic_rows(1, seed=2)[0], request_times(1)[0]
    values, vector = demo.encode_values(row, t), demo.encode_vector(row, t)
    assert vector == [float(v) for v in values]
    assert all(type(v) is float for v in vector)


def test_inputs_are_listed_once_in_first_use_order(demo) -> None:
    assert demo.inputs[:2] == ("watch_minutes_7d", "watch_minutes_28d")
    assert demo.inputs.count("country") == 1
    assert demo.uses_request_time


def test_extra_keys_are_ignored_and_row_is_not_mutated(demo) -> None:
    row = dict(synthetic_rows(1, seed=2)[0])
    before = dict(row)
    with_extra = {**row, "unrelated": object()}
    assert demo.encode_values(with_extra) == demo.encode_values(row)
    assert row == before


def test_row_that_is_not_a_mapping_names_the_fix(demo) -> None:
    for bad in (None, [1.0, 2.0], "watch_minutes_7d"):
        with pytest.raises(TypeError, match="row must be a mapping"):
            demo.encode_values(bad)


def test_duplicate_names_are_rejected() -> None:
    a, b = Numeric("n", input="x"), Numeric("n", input="y")
    with pytest.raises(SpecError, match="unique name"):
        EncoderSet.of((a, NoState()), (b, NoState()))
    clash = Numeric("n__missing", input="y")
    with pytest.raises(SpecError, match="duplicate output names"):
        EncoderSet.of((Numeric("n", input="x", missing_indicator=True), NoState()),
                      (clash, NoState()))
    with pytest.raises(SpecError, match="equal input names"):
        EncoderSet.of((Numeric("x", input="x"), NoState()))
    with pytest.raises(SpecError, match="tuple of FittedEncoder"):
        EncoderSet([FittedEncoder(a, NoState())])  # type: ignore[arg-type]


def test_fit_requires_every_statistic() -> None:
    spec = ZScore("z", input="x")
    assert stat_requests([spec, spec]) == stat_requests([spec])
    with pytest.raises(StatisticsError, match="no moments statistic"):
        fit([spec], collect_statistics([], ()))
