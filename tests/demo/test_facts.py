"""The fact generator: determinism, schemas, partitions and the shape of the data."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from demo.facts import FactsSummary, generate_facts
from demo.facts_schema import (
    COLD_START_MEMBER_ID_BASE,
    PARTITIONED_TABLES,
    SCHEMAS,
    FactsConfig,
    preset,
    read_manifest,
)

ROOT = Path(__file__).resolve().parents[2]
TS = pa.timestamp("us", tz="UTC")


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _table(facts: FactsSummary, name: str) -> pa.Table:
    path = facts.out_dir / name
    if name in PARTITIONED_TABLES:
        return ds.dataset(path, format="parquet", partitioning="hive").to_table()
    return pq.read_table(path)


def test_same_seed_gives_byte_identical_files(tiny_facts: FactsSummary, tmp_path: Path) -> None:
    again = generate_facts(preset("tiny"), tmp_path / "again")
    assert _digests(again.out_dir) == _digests(tiny_facts.out_dir)


def test_other_seed_gives_other_data(tiny_facts: FactsSummary, tmp_path: Path) -> None:
    other = generate_facts(preset("tiny", seed=8), tmp_path / "other")
    a, b = _digests(tiny_facts.out_dir), _digests(other.out_dir)
    for table in SCHEMAS:
        part = "date=2024-01-10/" if table in PARTITIONED_TABLES else ""
        name = f"{table}/{part}part-0.parquet"
        assert a[name] != b[name], table


def test_every_file_has_the_declared_schema_with_utc_micros(tiny_facts: FactsSummary) -> None:
    for table, schema in SCHEMAS.items():
        files = sorted((tiny_facts.out_dir / table).rglob("*.parquet"))
        assert files, table
        for path in files:
            assert pq.read_schema(path).equals(schema, check_metadata=False), path
    timestamp_fields = [f for s in SCHEMAS.values() for f in s if pa.types.is_timestamp(f.type)]
    assert timestamp_fields and all(f.type == TS for f in timestamp_fields)


def test_event_tables_are_partitioned_by_utc_date(tiny_facts: FactsSummary) -> None:
    config = tiny_facts.config
    window = {(config.start + timedelta(days=i)).isoformat() for i in range(config.days)}
    for table, ts_col in (("viewing_events", "start_ts"), ("thumbs", "event_ts")):
        parts = sorted(p.name for p in (tiny_facts.out_dir / table).iterdir())
        assert all(p.startswith("date=") for p in parts)
        assert {p.removeprefix("date=") for p in parts} >= (window if table == "viewing_events"
                                                             else set())  # fmt: skip
        data = _table(tiny_facts, table).to_pandas()
        event_day = data[ts_col].dt.strftime("%Y-%m-%d")
        assert (event_day == data["date"].astype(str)).all(), table


def test_row_counts_match_the_manifest(tiny_facts: FactsSummary) -> None:
    assert read_manifest(tiny_facts.out_dir) == tiny_facts.config
    for table in SCHEMAS:
        assert _table(tiny_facts, table).num_rows == tiny_facts.rows[table], table
    # n_events is a target; only events before signup or after churn are dropped
    assert 0.9 * tiny_facts.config.n_events <= tiny_facts.rows["viewing_events"] <= 20_000


def test_shape_of_viewing_events(tiny_facts: FactsSummary) -> None:
    ev = _table(tiny_facts, "viewing_events").to_pandas()
    titles = pq.read_table(tiny_facts.out_dir / "titles").to_pandas()
    lag = ev["created_ts"] - ev["start_ts"]
    late = lag > np.timedelta64(1, "D")
    assert 0.002 < late.mean() < 0.01  # ~0.5 % late rows, 1-3 days late
    assert (lag[late] <= np.timedelta64(3, "D")).all() and (lag >= np.timedelta64(0)).all()
    assert (ev["start_ts"] == ev["start_ts"].dt.floor("D")).sum() > 0  # exact midnight starts
    assert (ev["created_ts"] == ev["created_ts"].dt.floor("D")).sum() > 0
    joined = ev.merge(titles, on="title_id")
    known = joined["runtime_minutes"].notna()
    assert (joined.loc[known, "minutes_watched"] <= joined.loc[known, "runtime_minutes"]).all()
    assert (ev["minutes_watched"] > 0).all()
    plays = ev["title_id"].value_counts()
    assert plays.iloc[0] > 10 * plays.median()  # Zipf-like popularity
    activity = ev["member_id"].value_counts()
    top_decile = activity.iloc[: max(1, len(activity) // 10)].sum()
    assert top_decile > 0.3 * len(ev)  # heavy-tailed member activity
    hours = ev["start_ts"].dt.hour.value_counts()
    assert hours.get(20, 0) > 3 * hours.get(5, 0)  # evening peak
    assert set(ev["device"]) <= {"tv", "mobile", "web", "tablet", "console"}


def test_nulls_and_non_ascii_values_exist(tiny_facts: FactsSummary) -> None:
    members = pq.read_table(tiny_facts.out_dir / "members").to_pandas()
    titles = pq.read_table(tiny_facts.out_dir / "titles").to_pandas()
    assert members["country"].isna().any() and members["country"].notna().mean() > 0.9
    assert titles["genre"].isna().any() and titles["runtime_minutes"].isna().any()
    assert "Télénovela" in set(titles["genre"].dropna())
    assert members["member_id"].max() < COLD_START_MEMBER_ID_BASE


def test_churned_members_stop(tiny_facts: FactsSummary) -> None:
    members = pq.read_table(tiny_facts.out_dir / "members").to_pandas()
    churned = members.dropna(subset=["churn_ts"])
    assert len(churned) >= 10
    for table, ts_col in (("viewing_events", "start_ts"), ("thumbs", "event_ts")):
        rows = _table(tiny_facts, table).to_pandas().merge(churned, on="member_id")
        assert len(rows) > 0, table  # churned members did watch before churning
        assert (rows[ts_col] < rows["churn_ts"]).all(), table
        assert (rows[ts_col] >= rows["signup_ts"]).all(), table


def test_plans_start_at_signup_and_every_change_differs(tiny_facts: FactsSummary) -> None:
    plans = pq.read_table(tiny_facts.out_dir / "member_plans").to_pandas()
    members = pq.read_table(tiny_facts.out_dir / "members").to_pandas()
    first = plans.groupby("member_id").first().join(members.set_index("member_id"))
    assert len(first) == len(members)
    assert (first["event_ts"] == first["signup_ts"]).all()
    assert (plans["created_ts"] > plans["event_ts"]).all()
    assert set(plans["plan"]) == {"basic", "standard", "premium"}
    previous = plans.groupby("member_id")["plan"].shift()
    changed = previous.notna()
    assert changed.sum() > 20 and (plans.loc[changed, "plan"] != previous[changed]).all()


def test_thumbs_are_plus_or_minus_one(tiny_facts: FactsSummary) -> None:
    thumbs = _table(tiny_facts, "thumbs").to_pandas()
    assert set(thumbs["thumb"]) == {1, -1}
    assert (thumbs["created_ts"] > thumbs["event_ts"]).all()


def test_config_validation_names_the_fix() -> None:
    with pytest.raises(ValueError, match="choose one of tiny, small, medium, large"):
        preset("huge")
    with pytest.raises(ValueError, match="late_rate must be within"):
        replace(FactsConfig(), late_rate=1.5)
    with pytest.raises(ValueError, match="datetime.date"):
        FactsConfig(start="2024-01-01")  # type: ignore[arg-type]
    assert preset("medium").n_events == 1_000_000 and preset("large").n_events == 10_000_000


def test_refuses_to_overwrite_without_being_asked(tiny_facts: FactsSummary) -> None:
    with pytest.raises(FileExistsError, match="--overwrite"):
        generate_facts(preset("tiny"), tiny_facts.out_dir)


def test_cli_generates_and_rejects_bad_input(tmp_path: Path) -> None:
    script = str(ROOT / "scripts" / "generate_facts.py")
    small = FactsConfig(n_members=50, n_titles=30, n_events=500, days=3, start=date(2024, 3, 1))
    assert small.end == date(2024, 3, 4)
    ok = subprocess.run(
        [sys.executable, script, "--preset", "tiny", "--out", str(tmp_path / "f"), "--seed", "3"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert read_manifest(tmp_path / "f").seed == 3
    bad = subprocess.run(
        [sys.executable, script, "--preset", "huge", "--out", str(tmp_path / "g")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "choose from" in bad.stderr
    again = subprocess.run(
        [sys.executable, script, "--out", str(tmp_path / "f")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert again.returncode == 2 and "--overwrite" in again.stderr
