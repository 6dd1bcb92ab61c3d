"""Results do not depend on the process time zone: the point-in-time, parity and fit cases run
in a process of their own under ``TZ`` west of UTC (America/New_York) and east of it, off the
whole hour (Asia/Kolkata), and must give what UTC gives (:mod:`tests.time_zones.zone_run`).

The labels sit where a zone-dependent bound shows: exactly at a snapshot's ttl (the Jan 14
snapshot + 2 days, the Jan 15-18 snapshots removed: the oldest label of the set), 1 µs past
it, just before midnight UTC, exactly at midnight UTC on a snapshot (the newest labels) and a
few hours after it. Feast's Spark store once read the label time range in the local zone:
New York then lost the Jan 25 snapshot, Kolkata the Jan 14 one.

Expected values come from the DuckDB oracle (UTC) and the encoders applied to its rows in
this process; the parity check compares the offline join with the materialized online store
at the same times; a fit over a naive window (UTC) must give the pipeline's state.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from demo.specs import MEMBER_INPUTS, TITLE_INPUTS
from tests.real_redis import TEST_REDIS_PORT, real_redis
from tests.spark_jobs.pit_oracle import pit_oracle

# The first test's set-up runs both zones (and, alone, builds the pipeline): more than the
# default per-test timeout on a loaded machine.
pytestmark = pytest.mark.timeout(1800)

ZONES = ("America/New_York", "Asia/Kolkata")
UTC = timezone.utc
MIDNIGHT = datetime(2024, 1, 25, tzinfo=UTC)  # a snapshot's event (and created) time
TIMES = (
    datetime(2024, 1, 16, tzinfo=UTC),  # the Jan 14 snapshot exactly at ttl (2 days)
    datetime(2024, 1, 16, 0, 0, 0, 1, tzinfo=UTC),  # 1 µs past it: expired
    MIDNIGHT - timedelta(microseconds=1),
    MIDNIGHT,
    MIDNIGHT + timedelta(hours=3, minutes=17),
)
# Naive, so UTC: the same snapshots (Jan 2 .. Jan 28, all at 00:00) as the pipeline's fit over
# [Jan 1, Jan 29), but read in New York the start passes Jan 2 00:00 and read in Kolkata the
# end falls before Jan 28 00:00.
FIT_WINDOW = (datetime(2024, 1, 1, 22), datetime(2024, 1, 28, 3))
PARITY_DBS = (8, 9)  # a scratch database per zone (see tests/scaleout for the others)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cases(pipeline, tmp_path_factory) -> dict:
    """Labels (Parquet) and parity pairs at :data:`TIMES` from sampled label rows."""
    base = tmp_path_factory.mktemp("time_zones")
    rows = pq.read_table(pipeline["labels_dir"], columns=[
        "member_id", "title_id", "device", "played_within_7d"]).to_pylist()
    seen, picked = set(), []
    for r in rows[::7]:  # spread over the labels: active and cold-start members
        if (r["member_id"], r["title_id"]) not in seen:
            seen.add((r["member_id"], r["title_id"]))
            picked.append(r)
    picked = picked[:60]
    labels = [{"impression_id": i * len(TIMES) + j, "member_id": r["member_id"],
               "title_id": r["title_id"], "device": r["device"],
               "label": r["played_within_7d"], "event_timestamp": t}
              for i, r in enumerate(picked) for j, t in enumerate(TIMES)]
    (base / "labels").mkdir()
    schema = pa.schema([("impression_id", pa.int64()), ("member_id", pa.int64()),
                        ("title_id", pa.int64()), ("device", pa.string()),
                        ("label", pa.int64()), ("event_timestamp", pa.timestamp("us", "UTC"))])
    pq.write_table(pa.Table.from_pylist(labels, schema), base / "labels" / "part-0.parquet")
    pairs = [{"member_id": r["member_id"], "title_id": r["title_id"], "device": r["device"],
              "event_timestamp": r["event_timestamp"].isoformat()} for r in labels[::2]]
    for db in PARITY_DBS:
        client = real_redis(db)
        client.flushdb()
        client.close()
    return {"base": base, "labels": str(base / "labels"), "pairs": pairs, "rows": labels,
            "repo": str(pipeline["repo"]), "fit_window": [t.isoformat() for t in FIT_WINDOW]}


@pytest.fixture(scope="module")
def zone_runs(cases) -> dict[str, dict]:
    """The cases run under ``TZ=<zone>``, one process per zone, side by side (each its own
    Spark driver and Redis database); zone -> its result, plus where its training set is."""
    procs = {}
    for zone, db in zip(ZONES, PARITY_DBS):
        slug = zone.replace("/", "_")
        out, spec = cases["base"] / f"training_{slug}", cases["base"] / f"cases_{slug}.json"
        spec.write_text(json.dumps({
            **{k: v for k, v in cases.items() if k not in ("base", "rows")}, "out": str(out),
            "redis": {"host": "127.0.0.1", "port": TEST_REDIS_PORT, "db": db}}),
            encoding="utf-8")
        log = (cases["base"] / f"log_{slug}.txt").open("w", encoding="utf-8")
        env = {**os.environ, "TZ": zone, "SKEWLESS_SPARK_DRIVER_MEMORY": "1g",
               "PYTHONPATH": str(ROOT)}
        result = cases["base"] / f"result_{slug}.json"
        procs[zone] = (subprocess.Popen(
            [sys.executable, "-m", "tests.time_zones.zone_run", str(spec), str(result)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log, result, out)
    codes = {}
    try:
        for zone, (proc, _, _, _) in procs.items():
            codes[zone] = proc.wait(timeout=900)
    finally:  # a timeout (ours or pytest's) leaves no process behind
        for zone, (proc, log, _, _) in procs.items():
            if proc.poll() is None:
                proc.kill()
                codes[zone] = proc.wait()
            log.close()
    runs = {}
    for zone, (_, log, result, out) in procs.items():
        if (code := codes[zone]) != 0:
            tail = Path(log.name).read_text(encoding="utf-8")[-4000:]
            pytest.fail(f"the {zone} run exited with {code}:\n{tail}", pytrace=False)
        runs[zone] = {**json.loads(result.read_text(encoding="utf-8")), "zone_name": zone,
                      "training_set": out}
    return runs


@pytest.fixture(params=ZONES)
def zone_run(request, zone_runs) -> dict:
    return zone_runs[request.param]


def test_the_process_really_runs_in_the_zone(zone_run) -> None:
    assert zone_run["zone"]["offset_s"] != 0, zone_run["zone"]
    west = zone_run["zone_name"].startswith("America/")
    assert (zone_run["zone"]["offset_s"] < 0) == west


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _expected(pipeline, cases) -> dict[int, dict]:
    """impression_id -> the encoded vector the UTC oracle's raw rows give."""
    glob = f"{cases['labels']}/*.parquet"
    data = pipeline["data"]
    member = pit_oracle(data, glob, "member_features", "member_id", MEMBER_INPUTS,
                        "event_timestamp").to_arrow_table().to_pylist()
    title = pit_oracle(data, glob, "title_features", "title_id", TITLE_INPUTS,
                       "event_timestamp").to_arrow_table().to_pylist()
    enc, rows = pipeline["enc"], {r["impression_id"]: r for r in cases["rows"]}
    out = {}
    for m, t in zip(member, title):
        raw = {**{c: m[c] for c in MEMBER_INPUTS}, **{c: t[c] for c in TITLE_INPUTS},
               "device": rows[m["impression_id"]]["device"]}
        out[m["impression_id"]] = enc.encode_row(raw, request_time=m["ts"])
    # the cases hold what they claim: the row at ttl counts, 1 µs later it has expired
    at_ttl = [m for m in member if m["ts"] == TIMES[0] and m["fts"] is not None]
    assert at_ttl and all(m["fts"] == TIMES[0] - timedelta(days=2) for m in at_ttl)
    assert not any(m["fts"] for m in member if m["ts"] == TIMES[1])
    assert any(m["fts"] == MIDNIGHT for m in member if m["ts"] == MIDNIGHT)
    return out


def test_training_set_equals_the_utc_oracle(zone_run, pipeline, cases) -> None:
    want = _expected(pipeline, cases)
    table = pq.read_table(zone_run["training_set"] / "data").to_pylist()
    ids = {(r["member_id"], r["title_id"], r["event_timestamp"]): r["impression_id"]
           for r in cases["rows"]}
    assert len(table) == len(want)
    bad = []
    for g in table:
        i = ids[(g["member_id"], g["title_id"], g["event_timestamp"])]
        bad += [(g["member_id"], g["event_timestamp"].isoformat(), n, v, g[n])
                for n, v in want[i].items() if not _same(v, g[n])]
    assert not bad, f"{zone_run['zone_name']}: {len(bad)} cells differ, e.g. {bad[:5]}"


def test_parity_has_zero_differences(zone_run, cases) -> None:
    parity = zone_run["parity"]
    assert parity["compared_rows"] == len(cases["pairs"])
    assert parity["ok"], f"{zone_run['zone_name']}: {parity['by_class']}\n" + \
        "\n".join(parity["examples"])
    expired = [s for s in parity["status_counts"] if s[0] == "online" and s[2] == "expired"]
    assert expired, "the pairs include rows past ttl"


def _snapshots(pipeline, lo: datetime, hi: datetime) -> list:
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    return con.execute(f"""
        SELECT DISTINCT event_timestamp FROM read_parquet(
            '{pipeline["data"]}/features/*/*/*.parquet', hive_partitioning = true)
        WHERE event_timestamp >= ? AND event_timestamp < ? ORDER BY 1""", [lo, hi]).fetchall()


def test_a_naive_fit_window_means_utc(zone_run, pipeline) -> None:
    """The naive window read as UTC holds exactly the snapshots of the pipeline's fit, read
    in the zone it does not; the state fitted in the zone is the pipeline's."""
    lo, hi = (t.replace(tzinfo=UTC) for t in FIT_WINDOW)
    local = [t.replace(tzinfo=ZoneInfo(zone_run["zone_name"])) for t in FIT_WINDOW]
    fitted = _snapshots(pipeline, datetime(2024, 1, 1, tzinfo=UTC),
                        datetime(2024, 1, 29, tzinfo=UTC))
    assert _snapshots(pipeline, lo, hi) == fitted != _snapshots(pipeline, *local)
    assert zone_run["fit"] == pipeline["enc"].content_hash
