"""The measured roles of ``bench/bench_training_set.py`` and its set-up, each run in its
own subprocess by that script (``--role``): ``do_setup`` (facts, feature tables, labels per
size, a private Feast repo with fitted state; cached), ``run_spark`` (either join), ``run_feast``
and ``run_floor`` (see that module's docstring for what each path does and how it is measured).
"""

from __future__ import annotations

import os
import shutil
import time
from collections import deque
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

KEYS = ["member_id", "title_id", "event_timestamp"]
KEEP = ["member_id", "title_id", "event_timestamp", "label", "device"]
LABEL_COLS = ["impression_id", "member_id", "title_id", "impression_ts", "device",
              "played_within_7d"]
TTL_DAYS, FIT_DAYS = 2, 28


def do_setup(work: Path, facts_preset: str, sizes: list[int]) -> dict:
    from datetime import datetime, timedelta, timezone

    from demo.facts import generate_facts, preset, read_manifest
    from demo.feature_tables import build_feature_tables
    from demo.labels import LabelsConfig, generate_labels
    from feast_bridge.store import feast_cli, open_store
    from spark_jobs.fit_publish import fit_service
    from spark_jobs.spark_session import get_spark

    facts, feats, repo, spent = work / "facts", work / "data" / "features", work / "repo", {}

    def step(name: str, folder: Path, build) -> None:  # cached: a folder with .done is kept
        if not (folder / ".done").exists():
            t = time.perf_counter()
            build()
            (folder / ".done").touch()
            spent[name] = time.perf_counter() - t

    def publish() -> None:
        repo.mkdir(parents=True, exist_ok=True)
        for name in ("feature_store.yaml", "definitions.py"):
            shutil.copy(ROOT / "feature_repo" / name, repo / name)
        start = datetime.combine(read_manifest(facts).start, datetime.min.time(), timezone.utc)
        feast_cli("apply", repo=repo)  # the raw service, then fit it from its batch sources
        fit_service(spark, open_store(repo), "ranker", start, start + timedelta(days=FIT_DAYS))

    step("facts", facts, lambda: generate_facts(preset(facts_preset), facts, overwrite=True))
    spark = get_spark("bench-setup")
    step("feature_tables", feats, lambda: build_feature_tables(spark, facts, feats))
    for n in sizes:
        out = work / f"labels_{n}"
        step(out.name, out, partial(generate_labels, facts, out, LabelsConfig(n_impressions=n),
                                    overwrite=True))
    step("fit_publish", repo, publish)
    return {"rows": 0, "phases": spent}


def _store_and_state(labels: Path):
    """As ``skewless training-set`` starts: the JVM starts in a thread (the quick-compiler one
    when the labels are small, ``short_job_for``) while Feast is imported and the registry
    read."""
    from spark_jobs.spark_session import short_job_for, start_spark

    starting = start_spark("bench-training-set", short_job=short_job_for(labels))
    from encoders import load
    from feast_bridge.services import registry_state_hash
    from feast_bridge.store import open_store

    store = open_store()
    enc = load(os.environ["SKEWLESS_STATE_PATH"], expected_hash=registry_state_hash(store))
    return starting.result(), store, enc


def run_spark(labels: Path, out: Path, join: str = "skewless") -> dict:
    """``build_training_set`` with skewless' point-in-time join, or Feast's (``join``)."""
    from demo.labels import read_labels
    from spark_jobs.training_set import build_training_set

    spark, store, enc = _store_and_state(labels)
    t = time.perf_counter()
    m = build_training_set(store, read_labels(spark, labels), enc, out / "set", overwrite=True,
                           join=join)
    return {"rows": m.row_count, "phases": {"build_training_set": time.perf_counter() - t},
            "join": join}


def run_feast(labels: Path, out: Path) -> dict:
    import pandas as pd
    from feast.on_demand_feature_view import OnDemandFeatureView

    spark, store, _ = _store_and_state(labels)
    spent = {"odfv_transform_arrow": 0.0}
    original = OnDemandFeatureView.transform_arrow

    def timed(self, *a, **k):  # measurement only: where does to_df spend its time?
        t = time.perf_counter()
        try:
            return original(self, *a, **k)
        finally:
            spent["odfv_transform_arrow"] += time.perf_counter() - t

    OnDemandFeatureView.transform_arrow = timed
    t0 = time.perf_counter()
    df = pd.read_parquet(labels, columns=LABEL_COLS[1:]).rename(
        columns={"impression_ts": "event_timestamp", "played_within_7d": "label"})
    df["request_time"] = df["event_timestamp"]
    t1 = time.perf_counter()
    res = store.get_historical_features(
        entity_df=df, features=store.get_feature_service("ranker"),
        filter_by_created_timestamp=True).to_df()
    t2 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    res.to_parquet(out / "data.parquet", index=False)
    spent.update(read_labels_pandas=t1 - t0, get_historical_features_to_df=t2 - t1,
                 to_parquet=time.perf_counter() - t2,
                 arrow_enabled=spark.conf.get("spark.sql.execution.arrow.pyspark.enabled"))
    return {"rows": len(res), "phases": spent, "columns": list(res.columns)}


_ENC = None


def _floor_init(state_json: str) -> None:
    global _ENC
    from encoders.columns import encoder_set_from_text

    _ENC = encoder_set_from_text(state_json)


def _floor_encode(batch):
    import pyarrow as pa

    from encoders.columns import encode_columns

    reads = [c for c in (*_ENC.inputs, "event_timestamp") if c in batch.schema.names]
    encoded = encode_columns(_ENC, {c: batch.column(c).to_pylist() for c in reads},
                             "event_timestamp")
    arrays = [batch.column(c) for c in KEEP]
    arrays += [pa.array(encoded[f.name], pa.int64() if f.dtype == "int64" else pa.float64())
               for f in _ENC.schema]
    return pa.RecordBatch.from_arrays(arrays, names=KEEP + list(_ENC.names))


def floor_query(work: Path, labels: Path) -> str:
    from demo.specs import MEMBER_INPUTS, TITLE_INPUTS

    feats = work / "data" / "features"

    def timeline(alias: str, table: str, key: str, cols: tuple[str, ...]) -> str:
        # each (key, avail) keeps its best row; then only rows beating every earlier one: an
        # ASOF join on avail then finds, for time T, the best row usable at T.
        return f"""{alias} AS (SELECT * FROM (
            SELECT {key}, event_timestamp AS ets, created_timestamp AS cts,
                   greatest(event_timestamp, created_timestamp) AS avail, {", ".join(cols)}
            FROM read_parquet('{feats}/{table}/*/*.parquet', hive_partitioning = false)
            QUALIFY row_number() OVER (PARTITION BY {key}, avail ORDER BY ets DESC, cts DESC) = 1)
          QUALIFY coalesce((ets, cts) > max((ets, cts)) OVER (PARTITION BY {key} ORDER BY avail
                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), true))"""

    def pick(alias: str, cols: tuple[str, ...]) -> str:
        ttl = f"{alias}.ets >= l.impression_ts - INTERVAL {TTL_DAYS} DAY"
        return ", ".join(f"CASE WHEN {ttl} THEN {alias}.{c} END AS {c}" for c in cols)

    return f"""WITH {timeline("m", "member_features", "member_id", MEMBER_INPUTS)},
        {timeline("t", "title_features", "title_id", TITLE_INPUTS)}
        SELECT l.member_id, l.title_id, l.impression_ts AS event_timestamp,
               l.played_within_7d AS label, l.device, {pick("m", MEMBER_INPUTS)},
               {pick("t", TITLE_INPUTS)}
        FROM read_parquet('{labels}/**/*.parquet', hive_partitioning = false) l
        ASOF LEFT JOIN m ON l.member_id = m.member_id AND l.impression_ts >= m.avail
        ASOF LEFT JOIN t ON l.title_id = t.title_id AND l.impression_ts >= t.avail"""


def run_floor(labels: Path, out: Path, work: Path, procs: int) -> dict:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    import duckdb
    import pyarrow.parquet as pq

    state_json = Path(os.environ["SKEWLESS_STATE_PATH"]).read_text(encoding="utf-8")
    out.mkdir(parents=True, exist_ok=True)
    t0, rows, writer, waited = time.perf_counter(), 0, None, 0.0
    with ProcessPoolExecutor(procs, mp_context=mp.get_context("spawn"),
                             initializer=_floor_init, initargs=(state_json,)) as pool:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        reader = con.sql(floor_query(work, labels)).to_arrow_reader(50_000)
        pending: deque = deque()

        def drain(limit: int) -> None:
            nonlocal writer, rows, waited
            while len(pending) > limit:
                t = time.perf_counter()
                batch = pending.popleft().result()
                waited += time.perf_counter() - t
                writer = writer or pq.ParquetWriter(out / "data.parquet", batch.schema)
                writer.write_batch(batch)
                rows += batch.num_rows

        for batch in reader:
            pending.append(pool.submit(_floor_encode, batch))
            drain(2 * procs)
        drain(0)
        if writer:
            writer.close()
    return {"rows": rows, "phases": {"total": time.perf_counter() - t0,
                                     "waiting_for_encoders": waited}}
