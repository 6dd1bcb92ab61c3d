"""Several frames collected side by side come back as each frame's own ``toArrow``: same
columns, same Arrow types, same rows — frames sharing column names of other types included."""

from __future__ import annotations

from datetime import datetime, timezone

from spark_jobs.collect import collect_together


def test_each_frame_comes_back_as_its_own_to_arrow(spark) -> None:
    when = datetime(2024, 1, 10, 12, tzinfo=timezone.utc)
    a = spark.createDataFrame([(1, "x", when), (2, None, None)],
                              "id long, v string, t timestamp")
    b = spark.createDataFrame([(1.5, 7), (None, 8), (2.5, 9)], "v double, n int")
    c = spark.createDataFrame([], "id long")
    got = collect_together([a, b, c])
    for frame, table in zip((a, b, c), got):
        want = frame.toArrow()
        assert table.schema == want.schema
        assert sorted(table.to_pylist(), key=str) == sorted(want.to_pylist(), key=str)
    assert collect_together([]) == []
