"""Impressions and played_within_7d: determinism, shape, and an independent pandas oracle."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest

from demo.facts import FactsSummary
from demo.facts_schema import COLD_START_MEMBER_ID_BASE, DEVICES, PARTITIONED_TABLES
from demo.labels import LABELS_SCHEMA, LabelsConfig, generate_labels, labels_preset

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def labels_dir(tiny_facts: FactsSummary, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("labels") / "tiny"
    generate_labels(tiny_facts.out_dir, out, labels_preset("tiny"))
    return out


def _read(path: Path) -> pd.DataFrame:
    return ds.dataset(path, format="parquet", partitioning="hive").to_table().to_pandas()


def _digests(root: Path) -> dict[str, str]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_labels_are_deterministic(
    tiny_facts: FactsSummary, labels_dir: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    generate_labels(tiny_facts.out_dir, again, labels_preset("tiny"))
    assert _digests(again) == _digests(labels_dir)
    other = tmp_path / "other"
    generate_labels(tiny_facts.out_dir, other, labels_preset("tiny", seed=12))
    assert _digests(other) != _digests(labels_dir)


def test_schema_partitions_and_window(tiny_facts: FactsSummary, labels_dir: Path) -> None:
    files = sorted(labels_dir.rglob("*.parquet"))
    assert files and all(p.parent.name.startswith("date=") for p in files)
    assert all(ds.dataset(p).schema.equals(LABELS_SCHEMA, check_metadata=False) for p in files)
    labels = _read(labels_dir)
    config, facts = labels_preset("tiny"), tiny_facts.config
    assert len(labels) == config.n_impressions
    assert labels["impression_id"].tolist() == list(range(len(labels)))
    assert labels["impression_ts"].is_monotonic_increasing
    lo = pd.Timestamp(facts.start + timedelta(days=config.warmup_days), tz="UTC")
    hi = pd.Timestamp(facts.end - timedelta(days=config.horizon_days), tz="UTC")
    assert labels["impression_ts"].min() >= lo and labels["impression_ts"].max() < hi
    assert (labels["impression_ts"].dt.strftime("%Y-%m-%d") == labels["date"].astype(str)).all()
    assert set(labels["played_within_7d"]) == {0, 1}
    devices = labels["device"]
    assert set(devices.dropna()) == set(DEVICES) and 0 < devices.isna().mean() < 0.05


def test_cold_start_and_boundary_impressions(tiny_facts: FactsSummary, labels_dir: Path) -> None:
    labels = _read(labels_dir)
    known = set()
    for table in ("members", "member_plans", *PARTITIONED_TABLES):
        known |= set(ds.dataset(tiny_facts.out_dir / table).to_table(["member_id"])["member_id"]
                     .to_pylist())  # fmt: skip
    cold = labels[~labels["member_id"].isin(known)]
    assert len(cold) >= 100 and (cold["member_id"] >= COLD_START_MEMBER_ID_BASE).all()
    assert (cold["played_within_7d"] == 0).all()
    midnight = labels["impression_ts"] == labels["impression_ts"].dt.floor("D")
    assert midnight.sum() >= 100


def test_labels_match_a_pandas_oracle(tiny_facts: FactsSummary, labels_dir: Path) -> None:
    labels = _read(labels_dir)
    views = _read(tiny_facts.out_dir / "viewing_events")[["member_id", "title_id", "start_ts"]]
    pairs = labels.merge(views, on=["member_id", "title_id"], how="inner")
    offset = pairs["start_ts"] - pairs["impression_ts"]
    hit = (offset >= pd.Timedelta(0)) & (offset < pd.Timedelta(days=7))
    positive = set(pairs.loc[hit, "impression_id"])
    expected = labels["impression_id"].isin(positive).astype("int64")
    assert (labels["played_within_7d"] == expected).all()
    # The exact edges are exercised: a view at the impression instant, and one exactly 7 d on.
    assert (offset == pd.Timedelta(0)).any() and (offset == pd.Timedelta(days=7)).any()
    assert 0.05 < expected.mean() < 0.95


def test_config_errors_name_the_fix(tiny_facts: FactsSummary, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="add up to at most 1"):
        LabelsConfig(follow_rate=0.9, cold_start_rate=0.2)
    with pytest.raises(ValueError, match="generate more days or lower warmup_days"):
        generate_labels(tiny_facts.out_dir, tmp_path / "x", replace(LabelsConfig(), warmup_days=30))
    with pytest.raises(ValueError, match="choose one of"):
        labels_preset("huge")


def test_cli(tiny_facts: FactsSummary, tmp_path: Path) -> None:
    script = str(ROOT / "scripts" / "generate_labels.py")
    args = [sys.executable, script, "--facts", str(tiny_facts.out_dir), "--out", str(tmp_path)]
    ok = subprocess.run([*args, "--n-impressions", "300"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert len(_read(tmp_path)) == 300
    again = subprocess.run(args, capture_output=True, text=True)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    missing = subprocess.run(
        [sys.executable, script, "--facts", str(tmp_path / "nope"), "--out", str(tmp_path / "o")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 2 and "generate_facts.py" in missing.stderr
