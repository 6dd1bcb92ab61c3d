""""The latest row as known at T" is one rule: Spark, its Python twin and the engine's Arrow pass
agree on generated rows (restatements, ties on event time, null created times, rows created
after T, entities with no known row)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
from feast.value_type import ValueType
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from materialization.redis_writer import ViewWritePlan, _newest_per_entity
from spark_jobs.as_known import latest_as_known, latest_as_known_rows

UTC = timezone.utc
T0 = datetime(2024, 3, 1, tzinfo=UTC)
ROWS = st.lists(st.fixed_dictionaries({
    "k": st.sampled_from(["a", "b", "c"]),
    "ev": st.integers(0, 4).map(lambda d: T0 + timedelta(days=d)),
    "cr": st.one_of(st.none(), st.integers(0, 8 * 24).map(lambda h: T0 + timedelta(hours=h))),
}), max_size=14)
KNOWN = st.one_of(st.none(), st.integers(0, 8 * 24).map(lambda h: T0 + timedelta(hours=h)))


def _triples(rows) -> list[tuple]:
    return sorted((r["k"], r["ev"], r["cr"] or T0 - timedelta(days=1)) for r in rows)


def test_python_twin_on_a_hand_made_case() -> None:
    d = [T0 + timedelta(days=i) for i in range(3)]
    rows = [{"k": "a", "ev": d[1], "cr": d[1]}, {"k": "a", "ev": d[1], "cr": d[2]},  # restated
            {"k": "a", "ev": d[0], "cr": d[0]}, {"k": "b", "ev": d[2], "cr": None},
            {"k": "b", "ev": d[0], "cr": d[0]}]
    assert latest_as_known_rows(rows, ["k"], "ev", "cr") == [rows[1], rows[3]]  # event first
    # known at d[1]: the restatement and b's null-created row are not known yet
    assert latest_as_known_rows(rows, ["k"], "ev", "cr", d[1]) == [rows[0], rows[4]]
    assert latest_as_known_rows(rows, ["k", "ev"], "ev", "cr") == [rows[1], rows[2], rows[3],
                                                                    rows[4]]
    assert latest_as_known_rows(rows, ["k"], "ev") == [rows[0], rows[3]]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ROWS, KNOWN, st.booleans())
def test_spark_equals_python_twin(spark, rows, known_at, per_event) -> None:
    by = ["k", "ev"] if per_event else ["k"]
    schema = "k string, ev timestamp, cr timestamp"
    df = spark.createDataFrame([(r["k"], r["ev"], r["cr"]) for r in rows], schema)
    got = latest_as_known(df, by, "ev", "cr", known_at).collect()
    got = [{"k": r["k"], "ev": r["ev"].replace(tzinfo=UTC) if r["ev"] else None,
            "cr": r["cr"].replace(tzinfo=UTC) if r["cr"] else None} for r in got]
    assert _triples(got) == _triples(latest_as_known_rows(rows, by, "ev", "cr", known_at))


@settings(max_examples=60, deadline=None)
@given(ROWS)
def test_engine_arrow_pass_equals_python_twin(rows) -> None:
    plan = ViewWritePlan(project="p", view="v", join_keys=(("k", ValueType.STRING),),
                         features=(), feature_fields=(), event_column="ev",
                         created_column="cr", entity_key_version=3, key_ttl_seconds=None,
                         chunk_rows=10)
    stamp = pa.timestamp("us", tz="UTC")
    table = pa.table({"k": pa.array([r["k"] for r in rows], pa.string()),
                      "ev": pa.array([r["ev"] for r in rows], stamp),
                      "cr": pa.array([r["cr"] for r in rows], stamp)})
    got = _newest_per_entity(plan, table).to_pylist()
    assert _triples(got) == _triples(latest_as_known_rows(rows, ["k"], "ev", "cr"))
