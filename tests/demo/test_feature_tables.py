"""Feature tables: an independent DuckDB oracle, a hand-computed scenario, time travel."""

from __future__ import annotations

import json
import math
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import TimestampType

from demo.facts import FactsSummary
from demo.facts_schema import MANIFEST_NAME, SCHEMAS, FactsConfig
from demo.feature_tables import (
    MEMBER_FEATURES_SCHEMA,
    TITLE_FEATURES_SCHEMA,
    FeatureTablesResult,
    build_feature_tables,
    compute_member_features_as_of,
    compute_title_features_as_of,
    read_feature_table,
)

# ---------------------------------------------------------------- oracle (DuckDB, from the rules)

_SETUP = """
SET TimeZone = 'UTC';
CREATE VIEW titles AS SELECT * FROM read_parquet('{f}/titles/*.parquet');
CREATE VIEW members AS SELECT * FROM read_parquet('{f}/members/*.parquet');
CREATE VIEW plans AS SELECT * FROM read_parquet('{f}/member_plans/*.parquet');
CREATE VIEW thumbs AS SELECT * FROM read_parquet('{f}/thumbs/*/*.parquet');
CREATE VIEW views AS
    SELECT v.*, t.genre FROM read_parquet('{f}/viewing_events/*/*.parquet') v
    LEFT JOIN titles t USING (title_id);
CREATE TABLE days AS SELECT CAST(d AS TIMESTAMPTZ) AS d FROM unnest({days}::DATE[]) AS u(d);
"""

# Versions straight from the definition: a base row when any fact with ts < D was known at D,
# one restatement per distinct created_ts of a fact with ts < D < created_ts.
_VERSIONS = """
CREATE TABLE {name} AS
    SELECT DISTINCT f.k, days.d, days.d AS c FROM ({facts}) f, days
    WHERE f.ts < days.d AND f.created_ts <= days.d
    UNION
    SELECT DISTINCT f.k, days.d, f.created_ts AS c FROM ({facts}) f, days
    WHERE f.ts < days.d AND f.created_ts > days.d;
"""

_KNOWN = "x.ts < q.d AND x.created_ts <= q.c"
_MEMBER_QUERY = f"""
SELECT q.k AS member_id, q.d AS event_timestamp, q.c AS created_timestamp,
  (SELECT COALESCE(SUM(x.minutes_watched::DECIMAL(18, 6)), 0)::DOUBLE
     FROM (SELECT start_ts AS ts, * FROM views) x
    WHERE x.member_id = q.k AND {_KNOWN} AND x.ts >= q.d - INTERVAL 7 DAY) AS watch_minutes_7d,
  (SELECT COALESCE(SUM(x.minutes_watched::DECIMAL(18, 6)), 0)::DOUBLE
     FROM (SELECT start_ts AS ts, * FROM views) x
    WHERE x.member_id = q.k AND {_KNOWN} AND x.ts >= q.d - INTERVAL 28 DAY) AS watch_minutes_28d,
  (SELECT COUNT(DISTINCT x.title_id) FROM (SELECT start_ts AS ts, * FROM views) x
    WHERE x.member_id = q.k AND {_KNOWN} AND x.ts >= q.d - INTERVAL 7 DAY) AS titles_started_7d,
  (SELECT SUM(x.completed::BIGINT)::DOUBLE / NULLIF(COUNT(*), 0)
     FROM (SELECT start_ts AS ts, * FROM views) x
    WHERE x.member_id = q.k AND {_KNOWN} AND x.ts >= q.d - INTERVAL 28 DAY) AS completion_rate_28d,
  (SELECT x.genre FROM (SELECT start_ts AS ts, * FROM views) x
    WHERE x.member_id = q.k AND {_KNOWN} AND x.ts >= q.d - INTERVAL 28 DAY
      AND x.genre IS NOT NULL
    GROUP BY x.genre
    ORDER BY SUM(x.minutes_watched::DECIMAL(18, 6)) DESC, x.genre ASC LIMIT 1) AS top_genre_28d,
  (SELECT date_trunc('second', MAX(x.ts)) FROM (SELECT start_ts AS ts, * FROM views) x
    WHERE x.member_id = q.k AND {_KNOWN}) AS last_watch_ts,
  (SELECT SUM((x.thumb = 1)::BIGINT)::DOUBLE / NULLIF(COUNT(*), 0)
     FROM (SELECT event_ts AS ts, * FROM thumbs) x
    WHERE x.member_id = q.k AND {_KNOWN}) AS thumbs_up_ratio,
  m.country,
  (SELECT x.plan FROM (SELECT event_ts AS ts, * FROM plans) x
    WHERE x.member_id = q.k AND {_KNOWN}
    ORDER BY x.ts DESC, x.created_ts DESC, x.plan DESC LIMIT 1) AS plan,
  (epoch_us(q.d) - epoch_us(m.signup_ts)) // 86400000000 AS tenure_days
FROM member_versions q LEFT JOIN members m ON m.member_id = q.k
"""
_TITLE_QUERY = f"""
SELECT q.k AS title_id, q.d AS event_timestamp, q.c AS created_timestamp,
  (SELECT COUNT(*) FROM (SELECT start_ts AS ts, * FROM views) x
    WHERE x.title_id = q.k AND {_KNOWN} AND x.ts >= q.d - INTERVAL 7 DAY) AS title_plays_7d,
  (SELECT SUM(x.completed::BIGINT)::DOUBLE / NULLIF(COUNT(*), 0)
     FROM (SELECT start_ts AS ts, * FROM views) x
    WHERE x.title_id = q.k AND {_KNOWN} AND x.ts >= q.d - INTERVAL 28 DAY)
    AS title_completion_rate_28d,
  (SELECT SUM((x.thumb = 1)::BIGINT)::DOUBLE / NULLIF(COUNT(*), 0)
     FROM (SELECT event_ts AS ts, * FROM thumbs) x
    WHERE x.title_id = q.k AND {_KNOWN}) AS title_thumbs_up_rate,
  t.genre AS title_genre, t.release_year, t.maturity_rating, t.runtime_minutes
FROM title_versions q LEFT JOIN titles t ON t.title_id = q.k
"""
_MEMBER_FACTS = """
    SELECT member_id AS k, start_ts AS ts, created_ts FROM views
    UNION ALL SELECT member_id, event_ts, created_ts FROM thumbs
    UNION ALL SELECT member_id, event_ts, created_ts FROM plans"""
_TITLE_FACTS = """
    SELECT title_id AS k, start_ts AS ts, created_ts FROM views
    UNION ALL SELECT title_id, event_ts, created_ts FROM thumbs"""


def _oracle(facts_dir: Path, days: list[date]) -> tuple[list[dict], list[dict]]:
    con = duckdb.connect()
    try:
        con.execute(_SETUP.format(f=facts_dir, days=[d.isoformat() for d in days]))
        con.execute(_VERSIONS.format(name="member_versions", facts=_MEMBER_FACTS))
        con.execute(_VERSIONS.format(name="title_versions", facts=_TITLE_FACTS))
        return _records(con, _MEMBER_QUERY), _records(con, _TITLE_QUERY)
    finally:
        con.close()


def _records(con: duckdb.DuckDBPyConnection, query: str) -> list[dict]:
    cur = con.execute(query)
    names = [c[0] for c in cur.description]
    return [_normalise(dict(zip(names, row, strict=True))) for row in cur.fetchall()]


def _normalise(row: dict) -> dict:
    """Timestamps as µs since the epoch, so Python time zones cannot interfere."""
    out = {}
    for name, value in row.items():
        if isinstance(value, datetime):
            assert value.tzinfo is not None, name
            delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
            value = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        out[name] = value
    return out


def _spark_rows(df: DataFrame) -> list[dict]:
    cols = [
        F.unix_micros(f.name).alias(f.name) if isinstance(f.dataType, TimestampType) else f.name
        for f in df.schema.fields
        if f.name != "snapshot_date"
    ]
    return [row.asDict() for row in df.select(*cols).collect()]


def _assert_same(actual: list[dict], expected: list[dict], key: str) -> None:
    def index(rows: list[dict]) -> dict[tuple, dict]:
        return {(r[key], r["event_timestamp"], r["created_timestamp"]): r for r in rows}

    got, want = index(actual), index(expected)
    assert len(got) == len(actual) and len(want) == len(expected), "duplicate version keys"
    assert sorted(got) == sorted(want), (
        f"missing {sorted(set(want) - set(got))[:5]}, extra {sorted(set(got) - set(want))[:5]}"
    )
    for k, w in want.items():
        g = got[k]
        for name, value in w.items():
            if isinstance(value, float) and isinstance(g[name], float):
                assert math.isclose(g[name], value, rel_tol=1e-12, abs_tol=1e-9), (k, name)
            else:
                assert g[name] == value, (k, name, g[name], value)


def _oracle_days(result: FeatureTablesResult, facts_dir: Path) -> list[date]:
    """First, week and month edges, last, and the two days with the most restatements."""
    start = min(result.days)
    busiest = duckdb.sql(
        f"SELECT snapshot_date FROM read_parquet('{result.member_path}/*/*.parquet', "
        "hive_partitioning = true) "
        "WHERE created_timestamp > event_timestamp GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2"
    ).fetchall()
    picked = {start, start + timedelta(days=7), start + timedelta(days=28), max(result.days)}
    return sorted(picked | {row[0] for row in busiest})


def test_tables_match_the_duckdb_oracle(
    spark, tiny_facts: FactsSummary, tiny_features: FeatureTablesResult
) -> None:
    days = _oracle_days(tiny_features, tiny_facts.out_dir)
    member_rows, title_rows = _oracle(tiny_facts.out_dir, days)
    assert sum(r["created_timestamp"] > r["event_timestamp"] for r in member_rows) > 5
    assert any(r["completion_rate_28d"] is None for r in member_rows)
    assert any(r["top_genre_28d"] == "Télénovela" for r in member_rows)
    stored_members = read_feature_table(spark, tiny_features.member_path, days)
    stored_titles = read_feature_table(spark, tiny_features.title_path, days)
    _assert_same(_spark_rows(stored_members), member_rows, "member_id")
    _assert_same(_spark_rows(stored_titles), title_rows, "title_id")


# ------------------------------------------------------------ hand-computed scenario at one day

D = datetime(2024, 1, 10, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)


def _us(ts: datetime) -> int:
    return _normalise({"t": ts})["t"]


def _write_facts(root: Path, tables: dict[str, list[dict]]) -> None:
    config = FactsConfig(start=date(2023, 12, 1), days=45)
    for name, rows in tables.items():
        schema = SCHEMAS[name]
        if name in ("viewing_events", "thumbs"):
            ts_col = "start_ts" if name == "viewing_events" else "event_ts"
            by_day: dict[date, list[dict]] = {}
            for row in rows:
                by_day.setdefault(row[ts_col].date(), []).append(row)
            for day, part in by_day.items():
                path = root / name / f"date={day.isoformat()}" / "part-0.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(pa.Table.from_pylist(part, schema=schema), path)
        else:
            (root / name).mkdir(parents=True)
            pq.write_table(
                pa.Table.from_pylist(rows, schema=schema), root / name / "part-0.parquet"
            )
    manifest = {"format": 1, "config": config.to_json_dict(), "rows": {}}
    (root / MANIFEST_NAME).write_text(json.dumps(manifest))


def _jan(day: int, h: int = 0, m: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(2024, 1, day, h, m, s, us, tzinfo=timezone.utc)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)  # type: ignore[misc]


SEC = timedelta(seconds=1)
LATE = _utc(2024, 1, 11, 8)  # when member 1's late view arrives


def _rows(names: str, *values: tuple) -> list[dict]:
    keys = names.split()
    return [dict(zip(keys, row, strict=True)) for row in values]


TITLE_ROWS = _rows(
    "title_id genre release_year maturity_rating runtime_minutes",
    (1, "Terror", 2020, "R", 100),
    (2, "Télénovela", 2021, "PG", 50),
    (3, None, 2022, "G", None),
)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four members, three titles, facts placed on every window and created-time edge of D."""
    root = tmp_path_factory.mktemp("scenario")
    view = "member_id title_id start_ts minutes_watched completed created_ts device"
    _write_facts(root, {
        "titles": TITLE_ROWS,
        "members": _rows(
            "member_id country signup_ts churn_ts",
            (1, "FR", _utc(2023, 12, 31, 12), None),
            (2, None, _jan(9, 23), None),
            (3, "BR", _jan(9, 23, 59, 50), None),
            (4, "US", _utc(2023, 1, 1), None),
        ),
        "member_plans": _rows(
            "member_id plan event_ts created_ts",
            (1, "basic", _utc(2023, 12, 31, 12), _utc(2023, 12, 31, 12, 0, 5)),
            (1, "standard", _jan(5, 10), _jan(5, 10, 0, 10)),
            (1, "premium", D, D + SEC),  # takes effect at D: not yet in D's row
            (2, "basic", _jan(9, 23), _jan(9, 23, 0, 5)),
            (3, "basic", _jan(9, 23, 59, 50), D + 10 * SEC),  # signup known only after D
            (4, "premium", _utc(2023, 1, 1), _utc(2023, 1, 1, 0, 1)),
        ),
        "viewing_events": _rows(
            view,
            (1, 1, _jan(3), 30.0, False, _jan(3) + MIN, "tv"),  # exactly D - 7 d: inside 7 d
            (1, 2, _jan(2, 23, 59, 59, 999_999), 30.0, True, _jan(3) + MIN, "tv"),  # 28 d only
            (1, 2, D, 50.0, True, D + MIN, "tv"),  # starts at D: excluded
            (1, 3, _jan(9, 12), 80.0, False, _jan(9, 12) + MIN, "tv"),  # null genre
            (1, 1, _jan(9, 20), 10.0, True, LATE, "tv"),  # late: restatement at LATE
            (1, 3, _jan(9, 23, 59), 5.0, False, D, "tv"),  # created exactly at D: included
            (4, 2, _utc(2023, 12, 1, 20), 20.0, True, _utc(2023, 12, 1, 20, 1), "tv"),  # > 28 d
        ),
        "thumbs": _rows(
            "member_id title_id event_ts thumb created_ts",
            (1, 1, _jan(5), 1, _jan(5) + SEC),
            (1, 2, _jan(9), -1, D + SEC),  # late by one second
        ),
    })  # fmt: skip
    return root


def _member(member: int, created: datetime, **values: object) -> dict:
    base = {"member_id": member, "watch_minutes_7d": 0.0, "watch_minutes_28d": 0.0,
            "titles_started_7d": 0, "completion_rate_28d": None, "top_genre_28d": None,
            "last_watch_ts": None, "thumbs_up_ratio": None, "event_timestamp": _us(D),
            "created_timestamp": _us(created)}  # fmt: skip
    return base | values


def test_member_rules_on_a_hand_computed_scenario(spark, scenario: Path) -> None:
    sec, late = SEC, LATE
    last_watch = _us(datetime(2024, 1, 9, 23, 59, tzinfo=timezone.utc))
    a = {"country": "FR", "plan": "standard", "tenure_days": 9, "last_watch_ts": last_watch,
         "top_genre_28d": "Terror", "titles_started_7d": 2}  # fmt: skip
    expected = [
        # Terror 30 min ties Télénovela 30 min: the smaller code point wins ('e' < 'é');
        # the null-genre title (85 min) never wins.
        _member(1, D, watch_minutes_7d=115.0, watch_minutes_28d=145.0,
                completion_rate_28d=0.25, thumbs_up_ratio=1.0, **a),
        _member(1, D + sec, watch_minutes_7d=115.0, watch_minutes_28d=145.0,
                completion_rate_28d=0.25, thumbs_up_ratio=0.5, **a),  # late thumb known
        _member(1, late, watch_minutes_7d=125.0, watch_minutes_28d=155.0,
                completion_rate_28d=0.4, thumbs_up_ratio=0.5, **a),  # late view known
        _member(2, D, country=None, plan="basic", tenure_days=0),  # history = plan only
        _member(3, D + 10 * sec, country="BR", plan="basic", tenure_days=0),  # late signup
        _member(4, D, country="US", plan="premium", tenure_days=374,
                last_watch_ts=_us(datetime(2023, 12, 1, 20, tzinfo=timezone.utc))),
    ]  # fmt: skip
    got = _spark_rows(compute_member_features_as_of(spark, scenario, D.date()))
    assert sorted(got, key=lambda r: (r["member_id"], r["created_timestamp"])) == expected


def test_title_rules_on_a_hand_computed_scenario(spark, scenario: Path) -> None:
    sec, late = SEC, LATE
    names = {"genre": "title_genre"}
    static = {
        r["title_id"]: {names.get(k, k): v for k, v in r.items() if k != "title_id"}
        for r in TITLE_ROWS
    }

    def row(title: int, created: datetime, plays: int, rate: float | None, up: float | None):
        return {"title_id": title, "title_plays_7d": plays, "title_completion_rate_28d": rate,
                "title_thumbs_up_rate": up, **static[title], "event_timestamp": _us(D),
                "created_timestamp": _us(created)}  # fmt: skip

    expected = [
        row(1, D, 1, 0.0, 1.0),
        row(1, late, 2, 0.5, 1.0),
        row(2, D, 0, 1.0, None),  # the member-4 view is older than 28 d
        row(2, D + sec, 0, 1.0, 0.0),
        row(3, D, 2, 0.0, None),
    ]
    got = _spark_rows(compute_title_features_as_of(spark, scenario, D.date()))
    assert sorted(got, key=lambda r: (r["title_id"], r["created_timestamp"])) == expected


# ----------------------------------------------------------------------------- time travel


def _by_key(rows: list) -> list:
    """Rows sorted by (entity, snapshot, created): unique keys, so no None is ever compared."""
    return sorted(rows, key=lambda r: (r[0], r.event_timestamp, r.created_timestamp))


def test_recomputing_a_past_day_gives_the_stored_rows(
    spark, tiny_facts: FactsSummary, tiny_features: FeatureTablesResult
) -> None:
    days = _oracle_days(tiny_features, tiny_facts.out_dir)
    day = days[-2]  # a busy restatement day in the past
    stored = read_feature_table(spark, tiny_features.member_path, [day])
    again = compute_member_features_as_of(spark, tiny_facts.out_dir, day)
    assert stored.schema == again.schema
    stored_rows, again_rows = _by_key(stored.collect()), _by_key(again.collect())
    assert len(stored_rows) > 100 and stored_rows == again_rows
    assert any(r.created_timestamp > r.event_timestamp for r in stored_rows)
    stored_t = read_feature_table(spark, tiny_features.title_path, [day]).collect()
    again_title = compute_title_features_as_of(spark, tiny_facts.out_dir, day)
    again_t = again_title.collect()
    assert len(stored_t) > 50 and _by_key(stored_t) == _by_key(again_t)
    assert read_feature_table(spark, tiny_features.title_path, [day]).schema == again_title.schema


def test_stored_files_are_utc_micros_one_file_per_day(tiny_features: FeatureTablesResult) -> None:
    for path, schema in (
        (tiny_features.member_path, MEMBER_FEATURES_SCHEMA),
        (tiny_features.title_path, TITLE_FEATURES_SCHEMA),
    ):
        parts = sorted(path.glob("snapshot_date=*"))
        assert [p.name.removeprefix("snapshot_date=") for p in parts] == [
            d.isoformat() for d in tiny_features.days
        ]
        for part in parts:
            files = list(part.glob("*.parquet"))
            assert len(files) == 1, part
        arrow = pq.read_schema(files[0])
        expected = [f.name for f in schema.fields if f.name != "snapshot_date"]
        assert arrow.names == expected
        for field in arrow:
            if pa.types.is_timestamp(field.type):
                assert field.type == pa.timestamp("us", tz="UTC"), field


def test_rebuilding_a_day_replaces_only_that_day(
    spark, tiny_facts: FactsSummary, tiny_features: FeatureTablesResult, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="at least one date"):
        build_feature_tables(spark, tiny_facts.out_dir, tmp_path, [])
    out = tmp_path / "features"
    shutil.copytree(tiny_features.member_path.parent, out)
    day = tiny_features.days[3]
    before = {p.name: sorted(p.iterdir()) for p in (out / "member_features").iterdir()}
    result = build_feature_tables(spark, tiny_facts.out_dir, out, [day])
    after = {p.name: sorted(p.iterdir()) for p in (out / "member_features").iterdir()}
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {f"snapshot_date={day.isoformat()}"}
    assert result.days == (day,)
    # the row counts (read from the Parquet footers) are those of the rebuilt day only
    assert result.member_rows == read_feature_table(spark, result.member_path, [day]).count() > 0
    assert result.title_rows == read_feature_table(spark, result.title_path, [day]).count() > 0
    for table in (result.member_path, result.title_path):
        rebuilt = read_feature_table(spark, table).collect()
        original = read_feature_table(spark, tiny_features.member_path.parent / table.name)
        assert _by_key(rebuilt) == _by_key(original.collect())
