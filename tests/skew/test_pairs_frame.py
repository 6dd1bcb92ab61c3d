"""The pairs and entity frames the parity check hands to Spark (:mod:`skew.pairs`): one local
Arrow relation, typed as before (long, double, boolean, string, UTC timestamp), the same rows
whatever the process time zone; a column whose values fit no one type raises naming it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from skew.pairs import entities_frame, pairs_frame, values_frame
from skew.sources import AS_OF, ROW

T0 = datetime(2024, 3, 10, 23, 59, 59, 999999, tzinfo=timezone.utc)


def test_pairs_frame_keeps_types_rows_and_instants(spark) -> None:
    pairs = [{"k": 7, "s": "ø", "x": 1, "b": True, AS_OF: T0},
             {"k": 8, "s": None, "x": 2.5, "b": None, AS_OF: T0 + timedelta(microseconds=1)}]
    df = pairs_frame(spark, pairs, ["k", "s", "x", "b"])
    assert [(f.name, f.dataType.simpleString()) for f in df.schema.fields] == [
        (ROW, "bigint"), ("k", "bigint"), ("s", "string"), ("x", "double"), ("b", "boolean"),
        (AS_OF, "timestamp")]
    got = df.orderBy(ROW).toArrow().to_pylist()
    assert [(r[ROW], r["k"], r["s"], r["x"], r["b"]) for r in got] == [
        (0, 7, "ø", 1.0, True), (1, 8, None, 2.5, None)]
    assert [r[AS_OF].astimezone(timezone.utc) for r in got] == [p[AS_OF] for p in pairs]
    assert "LocalTableScan" in df._jdf.queryExecution().executedPlan().toString()


def test_entities_frame_is_the_distinct_keys_and_a_mixed_column_is_named(spark) -> None:
    rows = [{"a": 1, "b": "x"}, {"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert sorted(tuple(r) for r in entities_frame(spark, rows, ["a", "b"]).collect()) == [
        (1, "x"), (2, "y")]
    with pytest.raises(TypeError, match="column 'a' \\(string\\)"):
        values_frame(spark, [{"a": 1}, {"a": "one"}], ["a"])
