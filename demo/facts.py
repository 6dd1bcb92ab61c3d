"""Seeded, deterministic streaming-service facts written as Parquet (µs UTC timestamps).

Layout, schemas, vocabularies and presets live in ``demo.facts_schema`` (re-exported here).

Determinism: each table (and each day of an event table) draws from its own
``Generator(PCG64(SeedSequence(seed, spawn_key=(stream, day))))``, so the same config writes
byte-identical files (same pyarrow version) and no draw depends on another table's size.

Shape and edge cases, on purpose:

* ``n_events`` is a target: events that would fall before the member's signup or at/after
  their churn are dropped (a few percent), so the row count is slightly lower.
* Member activity is lognormal (heavy tail); title popularity is Zipf-like (exponent 1.1);
  members prefer one genre; start times follow an evening-peaked diurnal curve.
* About ``churn_rate`` of members churn: no viewing or thumbs at or after ``churn_ts``.
* About ``late_rate`` of viewing events and thumbs arrive 1-3 days late (``created_ts``);
  the rest arrive 5 s + Exp(90 s) after ``start_ts`` (thumbs: after ``event_ts``).
* ``boundary_rate`` of viewing events start exactly at 00:00:00 UTC, and about one in ten
  events starting in the last 30 minutes of a day get ``created_ts`` exactly at the next
  midnight: they test inclusive/exclusive window edges.
* Nulls: ``members.country``, ``titles.genre`` and ``titles.runtime_minutes`` (at least one
  each when the table has 20+ rows). ``minutes_watched`` never exceeds the title's true
  runtime, also when the catalog runtime is null. One genre name is non-ASCII (Télénovela).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from demo.facts_schema import (
    COUNTRIES,
    COUNTRY_WEIGHTS,
    DAY_US,
    DEVICE_WEIGHTS,
    DEVICES,
    GENRE_WEIGHTS,
    GENRES,
    MANIFEST_NAME,
    MEMBER_ID_BASE,
    MEMBER_PLANS_SCHEMA,
    MEMBERS_SCHEMA,
    PLAN_WEIGHTS,
    PLANS,
    PRESETS,
    RATING_WEIGHTS,
    RATINGS,
    SCHEMAS,
    SECOND_US,
    THUMBS_SCHEMA,
    TITLE_ID_BASE,
    TITLES_SCHEMA,
    TS,
    VIEWING_EVENTS_SCHEMA,
    FactsConfig,
    epoch_us,
    preset,
    read_manifest,
    table_path,
)

# Public API (the layout names are re-exported for convenience).
__all__ = [
    "PRESETS", "FactsConfig", "FactsSummary", "diurnal_offsets_us", "generate_facts", "preset",
    "read_manifest", "rng_for", "table_path",
]  # fmt: skip


# Random streams (first element of the SeedSequence spawn key).
_S_MEMBERS, _S_TITLES, _S_DAYS, _S_EVENTS, _S_THUMBS, _S_PLANS = range(6)


@dataclass(frozen=True)
class FactsSummary:
    """Where the facts went and how many rows each table got."""

    out_dir: Path
    config: FactsConfig
    rows: dict[str, int]


def rng_for(seed: int, stream: int, index: int = 0) -> np.random.Generator:
    """Independent generator for one (stream, index) pair of a seed."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(stream, index)))
    )


def diurnal_offsets_us(rng: np.random.Generator, size: int) -> np.ndarray:
    """Times of day in µs, ``[0, DAY_US)``: 70 % around 20:30 (sd 2.5 h, wrapped), 30 % uniform."""
    peak = rng.normal(20.5 * 3600e6, 2.5 * 3600e6, size)
    flat = rng.random(size) * DAY_US
    use_peak = rng.random(size) < 0.7
    tod = np.where(use_peak, peak, flat)
    return np.floor(np.mod(tod, DAY_US)).astype(np.int64)


def _cdf(weights: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
    return cdf / cdf[-1]


def _draw(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    """Indices drawn with probabilities given by ``cdf`` (vectorised inverse-CDF sampling)."""
    idx = np.searchsorted(cdf, rng.random(size), side="right")
    return np.minimum(idx, len(cdf) - 1).astype(np.int64)


def _null_mask(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Bernoulli(rate) mask; forces one True when ``rate > 0`` and ``n >= 20``."""
    u = rng.random(n)
    mask = u < rate
    if rate > 0 and n >= 20 and not mask.any():
        mask[int(np.argmin(u))] = True
    return mask


def _ts(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(values.astype(np.int64), type=pa.int64(), mask=null).cast(TS)


def _strings(choices: tuple[str, ...], idx: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    values = np.asarray(choices, dtype=object)[idx]
    return pa.array(values, type=pa.string(), mask=null)


@dataclass(frozen=True)
class _Members:
    ids: np.ndarray
    signup_us: np.ndarray
    churn_us: np.ndarray  # int64 max when not churned
    churned: np.ndarray
    activity: np.ndarray
    fav_genre: np.ndarray


@dataclass(frozen=True)
class _Titles:
    ids: np.ndarray
    true_genre: np.ndarray
    true_runtime: np.ndarray
    popularity: np.ndarray


def _members(config: FactsConfig) -> tuple[_Members, pa.Table]:
    rng = rng_for(config.seed, _S_MEMBERS)
    n = config.n_members
    start_us, end_us = epoch_us(config.start), epoch_us(config.end)
    ids = MEMBER_ID_BASE + np.arange(n, dtype=np.int64)
    pre = rng.random(n) < config.pre_window_signup_share
    before = rng.integers(DAY_US, 3 * 365 * DAY_US, n)
    inside = rng.integers(0, max(1, (config.days - 1) * DAY_US), n)
    signup = np.where(pre, start_us - before, start_us + inside)
    lo = np.maximum(signup, start_us) + DAY_US
    churned = (rng.random(n) < config.churn_rate) & (lo < end_us)
    churn = lo + np.floor(rng.random(n) * np.maximum(end_us - lo, 0)).astype(np.int64)
    churn = np.where(churned, churn, np.iinfo(np.int64).max)
    country = _draw(rng, _cdf(np.array(COUNTRY_WEIGHTS)), n)
    country_null = _null_mask(rng, n, config.country_null_rate)
    activity = rng.lognormal(0.0, 1.2, n)
    fav = _draw(rng, _cdf(np.array(GENRE_WEIGHTS)), n)
    table = pa.Table.from_arrays(
        [
            pa.array(ids, pa.int64()),
            _strings(COUNTRIES, country, country_null),
            _ts(signup),
            _ts(np.where(churned, churn, 0), ~churned),
        ],
        schema=MEMBERS_SCHEMA,
    )
    return _Members(ids, signup, churn, churned, activity, fav), table


def _titles(config: FactsConfig) -> tuple[_Titles, pa.Table]:
    rng = rng_for(config.seed, _S_TITLES)
    n = config.n_titles
    ids = TITLE_ID_BASE + np.arange(n, dtype=np.int64)
    genre = _draw(rng, _cdf(np.array(GENRE_WEIGHTS)), n)
    genre_null = _null_mask(rng, n, config.genre_null_rate)
    episode = rng.random(n) < 0.4
    runtime = np.where(episode, rng.integers(20, 61, n), rng.integers(80, 161, n))
    runtime_null = _null_mask(rng, n, config.runtime_null_rate)
    age = np.minimum(np.floor(rng.exponential(7.0, n)), 60).astype(np.int64)
    rating = _draw(rng, _cdf(np.array(RATING_WEIGHTS)), n)
    popularity = (rng.permutation(n) + 1.0) ** -1.1
    table = pa.Table.from_arrays(
        [
            pa.array(ids, pa.int64()),
            _strings(GENRES, genre, genre_null),
            pa.array(config.start.year - age, pa.int64()),
            _strings(RATINGS, rating),
            pa.array(runtime.astype(np.int64), pa.int64(), mask=runtime_null),
        ],
        schema=TITLES_SCHEMA,
    )
    return _Titles(ids, genre, runtime.astype(np.int64), popularity), table


def _plans(config: FactsConfig, members: _Members) -> pa.Table:
    rng = rng_for(config.seed, _S_PLANS)
    n = config.n_members
    start_us, end_us = epoch_us(config.start), epoch_us(config.end)
    initial = _draw(rng, _cdf(np.array(PLAN_WEIGHTS)), n)
    initial_created = members.signup_us + rng.integers(SECOND_US, 30 * SECOND_US, n)
    lo = np.maximum(members.signup_us, start_us)
    hi = np.minimum(members.churn_us, end_us)
    n_changes = np.where(hi > lo, rng.poisson(config.plan_change_rate, n), 0)
    owner = np.repeat(np.arange(n), n_changes)
    when = lo[owner] + np.floor(rng.random(owner.size) * (hi - lo)[owner]).astype(np.int64)
    step = rng.integers(1, 3, owner.size)  # 1 or 2: the new plan always differs
    lag = rng.integers(SECOND_US, 30 * SECOND_US, owner.size)
    order = np.lexsort((when, owner))
    owner, when, step, lag = owner[order], when[order], step[order], lag[order]
    csum = np.cumsum(step)
    first = np.r_[True, owner[1:] != owner[:-1]] if owner.size else np.zeros(0, bool)
    group_base = np.maximum.accumulate(np.where(first, csum - step, 0))
    plan_idx = (initial[owner] + csum - group_base) % len(PLANS)
    all_owner = np.concatenate([np.arange(n), owner])
    all_plan = np.concatenate([initial, plan_idx])
    all_event = np.concatenate([members.signup_us, when])
    all_created = np.concatenate([initial_created, when + lag])
    order = np.lexsort((all_event, all_owner))
    return pa.Table.from_arrays(
        [
            pa.array(members.ids[all_owner[order]], pa.int64()),
            _strings(PLANS, all_plan[order]),
            _ts(all_event[order]),
            _ts(all_created[order]),
        ],
        schema=MEMBER_PLANS_SCHEMA,
    )


def _created_lag(rng: np.random.Generator, size: int, late_rate: float) -> np.ndarray:
    """Ingestion lag in µs: 5 s + Exp(90 s), or 1-3 days for a ``late_rate`` share."""
    lag = 5 * SECOND_US + np.floor(rng.exponential(90 * SECOND_US, size)).astype(np.int64)
    late = rng.random(size) < late_rate
    return np.where(late, rng.integers(DAY_US, 3 * DAY_US + 1, size), lag)


def _day_events(
    config: FactsConfig, day: int, k: int, members: _Members, titles: _Titles
) -> dict[str, np.ndarray]:
    rng = rng_for(config.seed, _S_EVENTS, day)
    day_us = epoch_us(config.start) + day * DAY_US
    eligible = (members.signup_us < day_us + DAY_US) & (members.churn_us > day_us)
    weights = members.activity * eligible
    if k == 0 or weights.sum() <= 0:
        return {}
    m = _draw(rng, _cdf(weights), k)
    tod = diurnal_offsets_us(rng, k)
    tod = np.where(rng.random(k) < config.boundary_rate, 0, tod)
    start = day_us + tod
    t = _draw(rng, _cdf(titles.popularity), k)
    use_fav = rng.random(k) < 0.45
    fav = members.fav_genre[m]
    for g in range(len(GENRES)):
        in_genre = np.flatnonzero(titles.true_genre == g)
        pick = np.flatnonzero(use_fav & (fav == g))
        if in_genre.size and pick.size:
            t[pick] = in_genre[_draw(rng, _cdf(titles.popularity[in_genre]), pick.size)]
    runtime = titles.true_runtime[t]
    full = rng.random(k) < 0.45
    fraction = np.where(full, rng.uniform(0.92, 1.0, k), rng.beta(1.1, 2.5, k))
    minutes = np.minimum(np.maximum(np.round(fraction * runtime, 2), 0.1), runtime)
    device = _draw(rng, _cdf(np.array(DEVICE_WEIGHTS)), k)
    lag = _created_lag(rng, k, config.late_rate)
    at_midnight = (tod >= DAY_US - 1800 * SECOND_US) & (lag < DAY_US) & (rng.random(k) < 0.1)
    created = np.where(at_midnight, day_us + DAY_US, start + lag)
    keep = (start >= members.signup_us[m]) & (start < members.churn_us[m])
    cols = {
        "m": m, "t": t, "start": start, "minutes": minutes, "device": device,
        "completed": fraction >= 0.9, "created": created,
    }  # fmt: skip
    cols = {name: values[keep] for name, values in cols.items()}
    order = np.lexsort((cols["t"], cols["m"], cols["start"]))
    return {name: values[order] for name, values in cols.items()}


def _day_thumbs(
    config: FactsConfig, day: int, ev: dict[str, np.ndarray], members: _Members
) -> dict[str, np.ndarray]:
    rng = rng_for(config.seed, _S_THUMBS, day)
    n = ev["m"].size
    pick = rng.random(n) < config.thumbs_rate
    offset = np.floor(ev["minutes"] * 60 * SECOND_US).astype(np.int64)
    event = ev["start"] + offset + rng.integers(0, 1200 * SECOND_US, n)
    up = rng.random(n) < np.where(ev["completed"], 0.85, 0.35)
    created = event + _created_lag(rng, n, config.late_rate)
    keep = pick & (event < members.churn_us[ev["m"]])
    return {
        "m": ev["m"][keep], "t": ev["t"][keep], "event": event[keep],
        "thumb": np.where(up, 1, -1)[keep].astype(np.int64), "created": created[keep],
    }  # fmt: skip


def _events_table(ev: dict[str, np.ndarray], members: _Members, titles: _Titles) -> pa.Table:
    return pa.Table.from_arrays(
        [
            pa.array(members.ids[ev["m"]], pa.int64()),
            pa.array(titles.ids[ev["t"]], pa.int64()),
            _ts(ev["start"]),
            pa.array(ev["minutes"], pa.float64()),
            _strings(DEVICES, ev["device"]),
            pa.array(ev["completed"], pa.bool_()),
            _ts(ev["created"]),
        ],
        schema=VIEWING_EVENTS_SCHEMA,
    )


def _thumbs_table(th: dict[str, np.ndarray], members: _Members, titles: _Titles) -> pa.Table:
    order = np.lexsort((th["t"], th["m"], th["event"]))
    return pa.Table.from_arrays(
        [
            pa.array(members.ids[th["m"][order]], pa.int64()),
            pa.array(titles.ids[th["t"][order]], pa.int64()),
            _ts(th["event"][order]),
            pa.array(th["thumb"][order], pa.int64()),
            _ts(th["created"][order]),
        ],
        schema=THUMBS_SCHEMA,
    )


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="snappy")


def _partition(facts_dir: Path, table: str, day: date) -> Path:
    return facts_dir / table / f"date={day.isoformat()}" / "part-0.parquet"


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    keys = parts[0].keys()
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def _prepare_out_dir(out: Path, overwrite: bool) -> None:
    owned = [out / MANIFEST_NAME, *(out / name for name in SCHEMAS)]
    if any(p.exists() for p in owned):
        if not overwrite:
            raise FileExistsError(
                f"{out} already holds facts: choose another --out or pass --overwrite"
            )
        for p in owned:
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)


def generate_facts(
    config: FactsConfig, out_dir: str | Path, overwrite: bool = False
) -> FactsSummary:
    """Write all fact tables for ``config`` under ``out_dir`` (layout in the module docstring).

    Works day by day, so memory stays at one day of events (~n_events/days rows).
    Raises FileExistsError when ``out_dir`` already holds facts and ``overwrite`` is false;
    with ``overwrite`` only the fact tables and the manifest are removed first.
    """
    out = Path(out_dir)
    _prepare_out_dir(out, overwrite)
    members, members_table = _members(config)
    titles, titles_table = _titles(config)
    _write(members_table, out / "members" / "part-0.parquet")
    _write(titles_table, out / "titles" / "part-0.parquet")
    plans = _plans(config, members)
    _write(plans, out / "member_plans" / "part-0.parquet")
    rows = {"members": members_table.num_rows, "titles": titles_table.num_rows}
    rows.update({"member_plans": plans.num_rows, "viewing_events": 0, "thumbs": 0})

    day_rng = rng_for(config.seed, _S_DAYS)
    weekday = np.array([(config.start + timedelta(days=d)).weekday() for d in range(config.days)])
    weights = (1.0 + 0.25 * (weekday >= 5)) * (1.0 + 0.3 * np.arange(config.days) / config.days)
    counts = day_rng.multinomial(config.n_events, weights / weights.sum())
    pending: list[dict[str, np.ndarray]] = []  # thumbs whose event_ts fell on a later day
    for d in range(config.days):
        day = config.start + timedelta(days=d)
        ev = _day_events(config, d, int(counts[d]), members, titles)
        if ev and ev["m"].size:
            _write(_events_table(ev, members, titles), _partition(out, "viewing_events", day))
            rows["viewing_events"] += int(ev["m"].size)
            pending.append(_day_thumbs(config, d, ev, members))
        next_us = epoch_us(day) + DAY_US
        rows["thumbs"] += _flush_thumbs(out, pending, next_us, members, titles)
    rows["thumbs"] += _flush_thumbs(out, pending, None, members, titles)

    manifest = {"format": 1, "config": config.to_json_dict(), "rows": rows}
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return FactsSummary(out_dir=out, config=config, rows=rows)


def _flush_thumbs(
    out: Path,
    pending: list[dict[str, np.ndarray]],
    before_us: int | None,
    members: _Members,
    titles: _Titles,
) -> int:
    """Write pending thumbs with ``event_ts < before_us`` (all when None) by date; keep the rest."""
    if not pending:
        return 0
    th = _concat(pending)
    pending.clear()
    ready = np.ones(th["m"].size, bool) if before_us is None else th["event"] < before_us
    if (~ready).any():
        pending.append({k: v[~ready] for k, v in th.items()})
    th = {k: v[ready] for k, v in th.items()}
    written = 0
    day_index = th["event"] // DAY_US
    for day_number in np.unique(day_index):
        sel = day_index == day_number
        day = date(1970, 1, 1) + timedelta(days=int(day_number))
        _write(
            _thumbs_table({k: v[sel] for k, v in th.items()}, members, titles),
            _partition(out, "thumbs", day),
        )
        written += int(sel.sum())
    return written
