"""Impressions with the label ``played_within_7d``, from generated facts, via DuckDB.

An impression is (member_id, title_id, impression_ts): the title was shown to the member.
``played_within_7d`` is 1 when the member has a viewing event of that title with
``impression_ts <= start_ts < impression_ts + horizon_days`` (start inclusive, end exclusive),
else 0. Labels are ground truth: every viewing event counts, late-arriving ones included
(``created_ts`` is ignored), because the label is only used once the horizon has passed.

Sampling (seeded, vectorised numpy; the label join runs in DuckDB, so 10M rows are fine):

* impression times lie in ``[start + warmup_days, end - horizon_days)`` so that every
  label's horizon is fully inside the facts window; ``days > warmup_days + horizon_days``
  is required.
* ``follow_rate`` of impressions precede a real viewing event by a lag: 40 % uniform in
  (0, 7 d), 40 % uniform in (7 d, 14 d), 10 % exactly 0 (label 1: start is inclusive),
  10 % exactly 7 d (label 0 from that view: the end is exclusive).
* ``boundary_rate`` of impressions sit exactly at 00:00:00 UTC of a day.
* ``cold_start_rate`` of impressions are for members with no history at all: ids from
  ``COLD_START_MEMBER_ID_BASE`` up, which no fact table contains. Their label is 0.
* the rest: members drawn in proportion to their number of viewing events (active members),
  titles in proportion to their plays (popular titles), times with the diurnal curve.
* ``device`` (a request-time input): the device of the followed view for follow-up
  impressions, else drawn with the facts' device weights; ``device_null_rate`` are null.

Output under ``out_dir``: ``date=YYYY-MM-DD/part-0.parquet`` (by UTC date of
``impression_ts``), rows ordered by ``impression_id`` (= order of impression_ts, member_id,
title_id), plus ``_labels_manifest.json``. Same facts + same config => byte-identical files.
"""

from __future__ import annotations

import json
import os
import shutil
import types
from dataclasses import asdict, dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from demo.facts import diurnal_offsets_us, rng_for
from demo.facts_schema import (
    COLD_START_MEMBER_ID_BASE,
    DAY_US,
    DEVICE_WEIGHTS,
    DEVICES,
    TS,
    epoch_us,
    read_manifest,
    table_path,
)

LABELS_MANIFEST_NAME = "_labels_manifest.json"
LABELS_SCHEMA = pa.schema(
    [
        ("impression_id", pa.int64()),
        ("member_id", pa.int64()),
        ("title_id", pa.int64()),
        ("impression_ts", TS),
        ("device", pa.string()),
        ("played_within_7d", pa.int64()),
    ]
)
_S_LABELS = 100


@dataclass(frozen=True)
class LabelsConfig:
    """How many impressions, of which kinds, and the label horizon."""

    seed: int = 11
    n_impressions: int = 5_000
    horizon_days: int = 7
    warmup_days: int = 7
    follow_rate: float = 0.3
    boundary_rate: float = 0.02
    cold_start_rate: float = 0.03
    device_null_rate: float = 0.01

    def __post_init__(self) -> None:
        if self.n_impressions < 1:
            raise ValueError("LabelsConfig.n_impressions must be >= 1")
        if self.horizon_days < 1 or self.warmup_days < 0:
            raise ValueError("LabelsConfig needs horizon_days >= 1 and warmup_days >= 0")
        if not 0 <= self.seed < 2**63:
            raise ValueError("LabelsConfig.seed must be in [0, 2**63)")
        rates = (self.follow_rate, self.boundary_rate, self.cold_start_rate)
        if min(rates) < 0 or sum(rates) > 1:
            raise ValueError("LabelsConfig rates must be >= 0 and add up to at most 1")
        if not 0 <= self.device_null_rate <= 1:
            raise ValueError("LabelsConfig.device_null_rate must be within [0, 1]")


LABEL_PRESETS: dict[str, LabelsConfig] = {
    "tiny": LabelsConfig(),
    "small": LabelsConfig(n_impressions=100_000),
    "medium": LabelsConfig(n_impressions=1_000_000),
    "large": LabelsConfig(n_impressions=10_000_000),
}


def labels_preset(name: str, seed: int | None = None) -> LabelsConfig:
    """A named preset, optionally with another seed. Unknown names raise ValueError."""
    if name not in LABEL_PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(LABEL_PRESETS)}")
    config = LABEL_PRESETS[name]
    return config if seed is None else replace(config, seed=seed)


@dataclass(frozen=True)
class LabelsSummary:
    """Where the labels went, how many, how many positive."""

    out_dir: Path
    rows: int
    positives: int


def _load_views(facts_dir: str | Path) -> tuple[np.ndarray, ...]:
    """(member_id, title_id, start_us, device code) of all viewing events, sorted by start,
    member, title, device code. Device codes index ``DEVICES``; -1 for other or null."""
    table = pq.read_table(
        table_path(facts_dir, "viewing_events"),
        columns=["member_id", "title_id", "start_ts", "device"],
    )
    members = table.column("member_id").to_numpy()
    titles = table.column("title_id").to_numpy()
    starts = table.column("start_ts").cast(pa.int64()).to_numpy()
    codes = pc.index_in(table.column("device"), value_set=pa.array(DEVICES))
    devices = pc.fill_null(codes, -1).to_numpy().astype(np.int64)
    order = np.lexsort((devices, titles, members, starts))
    return members[order], titles[order], starts[order], devices[order]


def _weighted(rng: np.random.Generator, values: np.ndarray, size: int) -> np.ndarray:
    """Draw ``size`` values of ``values`` in proportion to how often each occurs."""
    uniq, counts = np.unique(values, return_counts=True)
    cdf = np.cumsum(counts, dtype=np.float64)
    idx = np.searchsorted(cdf / cdf[-1], rng.random(size), side="right")
    return uniq[np.minimum(idx, len(uniq) - 1)]


def sample_impressions(facts_dir: str | Path, config: LabelsConfig) -> pa.Table:
    """Impressions (no label yet) with ``impression_id`` 0..n-1, sorted by time, with device.

    Raises ValueError when the facts window is too short or has no viewing events.
    """
    facts = read_manifest(facts_dir)
    if facts.days <= config.warmup_days + config.horizon_days:
        raise ValueError(
            f"facts cover {facts.days} days but labels need more than warmup_days + "
            f"horizon_days = {config.warmup_days + config.horizon_days}: generate more days "
            "or lower warmup_days"
        )
    members, titles, starts, devices = _load_views(facts_dir)
    if members.size == 0:
        raise ValueError(f"{facts_dir} has no viewing events: generate facts with n_events > 0")
    rng = rng_for(config.seed, _S_LABELS)
    first_day = facts.start + timedelta(days=config.warmup_days)
    n_days = facts.days - config.warmup_days - config.horizon_days
    lo_us = epoch_us(first_day)
    hi_us = lo_us + n_days * DAY_US
    n = config.n_impressions
    n_follow = round(n * config.follow_rate)
    n_boundary = round(n * config.boundary_rate)
    n_cold = round(n * config.cold_start_rate)
    n_random = n - n_follow - n_boundary - n_cold

    # Impressions that precede a real view by a chosen lag.
    kind = rng.choice(4, size=n_follow, p=[0.4, 0.4, 0.1, 0.1])
    lag = np.select(
        [kind == 0, kind == 1, kind == 2],
        [rng.integers(1, 7 * DAY_US, n_follow), rng.integers(7 * DAY_US + 1, 14 * DAY_US, n_follow),
         np.zeros(n_follow, np.int64)],
        7 * DAY_US,
    )  # fmt: skip
    first = np.searchsorted(starts, lo_us + lag, side="left")
    stop = np.searchsorted(starts, hi_us + lag, side="left")
    pick = first + np.floor(rng.random(n_follow) * (stop - first)).astype(np.int64)
    ok = stop > first
    pick = pick[ok]
    f_member, f_title, f_ts = members[pick], titles[pick], starts[pick] - lag[ok]
    f_device = devices[pick]  # shown on the device the member then watched on

    def random_times(size: int) -> np.ndarray:
        return lo_us + rng.integers(0, n_days, size) * DAY_US + diurnal_offsets_us(rng, size)

    n_random += n_follow - pick.size  # keep the total when a lag found no view
    r_member, r_title = _weighted(rng, members, n_random), _weighted(rng, titles, n_random)
    r_ts = random_times(n_random)
    b_member, b_title = _weighted(rng, members, n_boundary), _weighted(rng, titles, n_boundary)
    b_ts = lo_us + rng.integers(0, n_days, n_boundary) * DAY_US
    c_member = COLD_START_MEMBER_ID_BASE + np.arange(n_cold, dtype=np.int64)
    c_title, c_ts = _weighted(rng, titles, n_cold), random_times(n_cold)

    member = np.concatenate([f_member, r_member, b_member, c_member]).astype(np.int64)
    title = np.concatenate([f_title, r_title, b_title, c_title]).astype(np.int64)
    ts = np.concatenate([f_ts, r_ts, b_ts, c_ts]).astype(np.int64)
    n_other = member.size - f_device.size
    device_cdf = np.cumsum(DEVICE_WEIGHTS, dtype=np.float64) / sum(DEVICE_WEIGHTS)
    other_device = np.searchsorted(device_cdf, rng.random(n_other), side="right")
    device = np.concatenate([f_device, np.minimum(other_device, len(DEVICES) - 1)])
    device = np.where(rng.random(device.size) < config.device_null_rate, -1, device)
    order = np.lexsort((device, title, member, ts))
    device_names = np.asarray(DEVICES, dtype=object)[np.maximum(device[order], 0)]
    return pa.table(
        {
            "impression_id": pa.array(np.arange(order.size, dtype=np.int64)),
            "member_id": pa.array(member[order]),
            "title_id": pa.array(title[order]),
            "impression_ts": pa.array(ts[order]).cast(TS),
            "device": pa.array(device_names, pa.string(), mask=device[order] < 0),
        }
    )


def _duckdb() -> types.ModuleType:
    try:
        import duckdb
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("labels need DuckDB: pip install 'duckdb>=1.1,<3'") from exc
    return duckdb


def label_impressions(
    facts_dir: str | Path, impressions: pa.Table, horizon_days: int = 7
) -> pa.Table:
    """Add ``played_within_7d`` to ``impressions`` with one DuckDB semi-join over all viewing
    events (rule in the module docstring). Output follows ``LABELS_SCHEMA``, ordered by id."""
    if horizon_days < 1:
        raise ValueError("horizon_days must be >= 1")
    con = _duckdb().connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("imp", impressions)
        events = str(table_path(facts_dir, "viewing_events") / "*" / "*.parquet")
        query = f"""
            WITH ev AS (
                SELECT member_id, title_id, start_ts
                FROM read_parquet('{events.replace("'", "''")}', hive_partitioning = false)
            ), hit AS (
                SELECT DISTINCT i.impression_id
                FROM imp i JOIN ev v
                  ON v.member_id = i.member_id AND v.title_id = i.title_id
                 AND v.start_ts >= i.impression_ts
                 AND v.start_ts < i.impression_ts + INTERVAL ({int(horizon_days)}) DAY
            )
            SELECT i.impression_id, i.member_id, i.title_id, i.impression_ts, i.device,
                   CAST(h.impression_id IS NOT NULL AS BIGINT) AS played_within_7d
            FROM imp i LEFT JOIN hit h USING (impression_id)
            ORDER BY i.impression_id
        """
        rel = con.sql(query)
        table = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
    finally:
        con.close()
    return table.cast(LABELS_SCHEMA)


def _write_partitions(table: pa.Table, out: Path) -> None:
    days = table.column("impression_ts").cast(pa.int64()).to_numpy() // DAY_US
    bounds = np.flatnonzero(np.diff(days)) + 1
    starts = np.r_[0, bounds]
    stops = np.r_[bounds, days.size]
    for lo, hi in zip(starts, stops, strict=True):
        day = date(1970, 1, 1) + timedelta(days=int(days[lo]))
        path = out / f"date={day.isoformat()}" / "part-0.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.slice(int(lo), int(hi - lo)), path, compression="snappy")


def generate_labels(
    facts_dir: str | Path, out_dir: str | Path, config: LabelsConfig, overwrite: bool = False
) -> LabelsSummary:
    """Sample impressions, label them and write them under ``out_dir`` (see module docstring).

    Raises FileExistsError when ``out_dir`` already holds labels and ``overwrite`` is false;
    with ``overwrite`` only the ``date=*`` partitions and the manifest are removed first.
    """
    out = Path(out_dir)
    old = [*out.glob("date=*"), out / LABELS_MANIFEST_NAME] if out.exists() else []
    old = [p for p in old if p.exists()]
    if old and not overwrite:
        raise FileExistsError(
            f"{out} already holds labels: choose another --out or pass --overwrite"
        )
    for path in old:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    labelled = label_impressions(
        facts_dir, sample_impressions(facts_dir, config), config.horizon_days
    )
    _write_partitions(labelled, out)
    positives = int(pc.sum(labelled.column("played_within_7d")).as_py() or 0)
    manifest = {
        "format": 1,
        "config": asdict(config),
        "facts": read_manifest(facts_dir).to_json_dict(),
        "rows": labelled.num_rows,
        "positives": positives,
    }
    (out / LABELS_MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return LabelsSummary(out_dir=out, rows=labelled.num_rows, positives=positives)


def read_labels(spark: Any, path: str | os.PathLike[str]) -> Any:
    """Generated labels as the training-set builder wants them: ``impression_ts`` becomes
    ``event_timestamp`` (the request time) and ``played_within_7d`` becomes ``label``."""
    from pyspark.sql import functions as F

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no labels at {p}; generate them (scripts/generate_labels.py)")
    df = spark.read.parquet(str(p))
    need = {"member_id", "title_id", "impression_ts", "played_within_7d", "device"}
    missing = sorted(need - set(df.columns))
    if missing:
        raise ValueError(f"labels at {p} lack {missing}; regenerate them with "
                         "scripts/generate_labels.py")
    return df.select("member_id", "title_id", F.col("impression_ts").alias("event_timestamp"),
                     F.col("played_within_7d").alias("label"), "device")
