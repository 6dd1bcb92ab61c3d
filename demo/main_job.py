"""The demo's main job, end to end on the embedded defaults (``skewless demo``,
``scripts/demo.sh``), written against skewless' public API only.

Stages (data under ``SKEWLESS_DATA_DIR``, default ``<checkout>/data``):

1. facts: seeded streaming-service facts (``preset``, default ``tiny``);
2. labels: impressions labelled "played within 7 days";
3. feature tables: daily member and title snapshots on Spark (time travel);
4. ``feast apply`` of the demo repo (raw views; the service awaits its fit), Feast's own apply
   in this process (:func:`feast_bridge.apply.apply_repo`: one ``import feast``, one Spark
   session and one registry for the whole job);
5. fit the ``ranker`` service on Spark over the first 28 days and publish the state
   (:func:`spark_jobs.fit_publish.fit_service`, which applies the repo again, in-process);
6. training set (:func:`spark_jobs.training_set.build_training_set`): Feast's Spark
   point-in-time join + the same encoders in Spark, Parquet and a manifest;
7. train the ranking model (:func:`scoring.train.train`, JSON with the state hash);
8. Redis: the configured one, or a real Redis started on loopback when none answers
   (:func:`clusters.services.ensure_redis`, which ``scripts/setup.sh`` runs too);
9. materialize into Redis (:func:`materialization.materialize.materialize`);
10. serve a few requests through the HTTP app in-process (``/features``, ``/rank``,
    ``/health``);
11. traffic (:mod:`demo.traffic`): a sample of label requests through the server at their own
    request times (a scratch Redis database materialized daily; logged to
    ``<data>/traffic/vector_log``);
12. reports: the skew report (``<data>/reports/skew.html``) and ``skewless consistency`` for
    each day the traffic covers (``<data>/reports/consistency/``).

Existing facts, labels and feature tables are reused unless ``fresh`` (their manifest must
match the preset). Edge cases: an unknown preset raises ``ValueError`` listing the presets;
the Redis stage raises ``RuntimeError`` naming the fix when a configured remote Redis does not
answer or a local one cannot be started (an installed copy starts one just as a checkout does).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from demo.facts import PRESETS, generate_facts, preset, read_manifest

DEMO_SERVICE = "ranker"
FIT_DAYS = 28
#: Presets up to this many events run as a short Spark job (``get_spark(short_job=True)``).
SHORT_JOB_EVENTS = 200_000

Progress = Callable[[str], AbstractContextManager[Any]]


def _print(line: str) -> None:
    print(line, flush=True)


@dataclass
class Stages:
    """Times each stage, prints ``[name] ...`` / ``[name] done in Xs`` and wraps it in
    ``progress(name)`` (e.g. a spinner)."""

    progress: Progress = nullcontext
    echo: Callable[[str], None] = _print
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.echo(f"[{name}] ...")
        t0 = time.perf_counter()
        with self.progress(name):
            yield
        self.timings[name] = time.perf_counter() - t0
        self.echo(f"[{name}] done in {self.timings[name]:.1f}s")


@dataclass
class MainJobResult:
    """What the summary prints (see :func:`summary_lines`)."""

    data: Path
    repo: Path
    published: Any
    manifest: Any
    training_dir: Path
    sample: dict[str, Any]
    vector: list[float]
    width: int
    model: dict[str, Any]
    model_path: Path
    materialized: Any
    served: dict[str, Any]
    encode_us: float
    encoders: int
    timings: dict[str, float]
    traffic: list[str] = field(default_factory=list)



def run_main_job(preset_name: str = "tiny", fresh: bool = False, *, repo: Path | None = None,
                 progress: Progress = nullcontext, echo: Callable[[str], None] = _print
                 ) -> MainJobResult:
    """Run every stage (see module docstring) and return what the summary prints."""
    from clusters.services import ensure_redis
    from demo.feature_tables import build_feature_tables, default_days
    from demo.labels import generate_labels, labels_preset, read_labels
    from feast_bridge.apply import apply_repo
    from feast_bridge.services import get_service
    from feast_bridge.store import data_dir, open_store, repo_path
    from materialization.materialize import materialize
    from scoring.train import train
    from spark_jobs.fit_publish import fit_service
    from spark_jobs.spark_session import get_spark
    from spark_jobs.training_set import build_training_set

    if preset_name not in PRESETS:
        raise ValueError(f"unknown preset {preset_name!r}; choose one of {sorted(PRESETS)}")
    stage = Stages(progress, echo)
    data, repo = data_dir(), (repo or repo_path()).resolve()
    facts_dir, labels_dir = data / "facts", data / "labels"
    features_dir, training_dir = data / "features", data / "training" / "v1"
    config = preset(preset_name)
    reuse = (not fresh and (facts_dir / "_facts_manifest.json").exists()
             and read_manifest(facts_dir) == config and (features_dir / "title_features").exists()
             and labels_dir.exists())

    with stage("spark"):
        spark = get_spark("skewless-main-job", short_job=config.n_events <= SHORT_JOB_EVENTS)
    if reuse:
        echo(f"reusing facts, labels and feature tables in {data} (--fresh to rebuild)")
    else:
        with stage("facts"):
            generate_facts(config, facts_dir, overwrite=True)
        with stage("labels"):
            generate_labels(facts_dir, labels_dir, labels_preset(preset_name), overwrite=True)
        with stage("feature tables"):
            build_feature_tables(spark, facts_dir, features_dir)
    with stage("feast apply"):
        store = open_store(repo)
        apply_repo(store)  # Feast's apply in this process (no second `import feast`)
    start = datetime(config.start.year, config.start.month, config.start.day,
                     tzinfo=timezone.utc)
    with stage("fit + publish"):
        pub = fit_service(spark, store, DEMO_SERVICE, start, start + timedelta(days=FIT_DAYS))
    enc = get_service(store, DEMO_SERVICE).load_state()
    with stage("training set"):
        manifest = build_training_set(store, read_labels(spark, labels_dir), enc, training_dir,
                                      service=DEMO_SERVICE, overwrite=True,
                                      inputs={"labels": str(labels_dir)})
    model_path = data / "models" / f"{DEMO_SERVICE}.json"
    with stage("train model"):
        model = train(training_dir, model_path)
    with stage("redis"):
        echo("  " + ensure_redis())
    with stage("materialize"):
        materialized = materialize(store, start - timedelta(days=365 * 4),
                                   start + timedelta(days=config.days + 1))
    last = default_days(facts_dir)[-1]  # the newest snapshot: 00:00 UTC of that day
    when = datetime(last.year, last.month, last.day, 12, tzinfo=timezone.utc)
    with stage("serve"):
        served = serve_a_few(spark, labels_dir, when, repo)
    traffic = representative_traffic(stage, spark, repo, enc, labels_dir, training_dir,
                                     data / "reports")

    # through Arrow: the label time stays an aware UTC datetime (collect() gives local time)
    sample = spark.read.parquet(str(training_dir / "data")).limit(1).toArrow().to_pylist()[0]
    return MainJobResult(
        data=data, repo=repo, published=pub, manifest=manifest, training_dir=training_dir,
        sample=sample, vector=[sample[n] for n in enc.names], width=enc.width, model=model,
        model_path=model_path, materialized=materialized, served=served,
        encode_us=encode_speed(enc), encoders=len(enc.encoders), timings=stage.timings,
        traffic=traffic)


def representative_traffic(stage: Stages, spark: Any, repo: Path, enc: Any, labels_dir: Path,
                           training_dir: Path, reports: Path) -> list[str]:
    """Stages 11–12 (:mod:`demo.traffic`): label requests through the server at their own
    times, then the skew report and the consistency of each day they cover; returns the
    summary's lines."""
    from demo.traffic import judge_log, send_label_traffic
    from demo.traffic import summary_lines as traffic_lines
    from serving.settings import Settings

    with stage("traffic"):
        traffic = send_label_traffic(spark, repo, DEMO_SERVICE, labels_dir, Settings.from_env(),
                                     reports.parent / "traffic" / "vector_log",
                                     timestamp_column="impression_ts")
    with stage("reports"):
        judged = judge_log(spark, repo, DEMO_SERVICE, enc, training_dir, traffic, reports)
    return traffic_lines(traffic, judged)


def encode_speed(enc: Any, rows: int = 2000, repeats: int = 5) -> float:
    """Median µs per row of ``enc.encode_vector`` over the demo's synthetic rows."""
    from demo.specs import request_times, synthetic_rows

    per_row = []
    data, times = synthetic_rows(rows, seed=3), request_times(rows)
    for _ in range(repeats):
        t0 = time.perf_counter()
        for r, t in zip(data, times):
            enc.encode_vector(r, t)
        per_row.append((time.perf_counter() - t0) / rows * 1e6)
    return statistics.median(per_row)


def serve_a_few(spark: Any, labels_dir: Path, when: datetime, repo: Path) -> dict[str, Any]:
    """Start the HTTP app in-process (on ``repo``) and send it a few requests."""
    from fastapi.testclient import TestClient

    from serving.api import create_app
    from serving.settings import Settings

    os.environ["SKEWLESS_FEATURE_REPO"] = str(repo)  # the app reads its repo from here
    member = spark.read.parquet(str(labels_dir)).where("member_id < 2000000").orderBy(
        "impression_ts").first()["member_id"]
    settings = Settings.from_env()
    with TestClient(create_app(settings)) as client:
        feats = _ok(client.post("/features", json={
            "entities": [{"member_id": member, "title_id": 500000}],
            "request_time": when.isoformat(), "device": "tv"}))
        cands = list(range(500000, 500100))
        rank = _ok(client.post("/rank", json={"member_id": member, "candidates": cands,
                                              "request_time": when.isoformat(),
                                              "device": "tv"}))
        health = _ok(client.get("/health"))
    return {"member": member, "when": when.isoformat(), "vector": feats["vectors"][0],
            "statuses": feats["statuses"][0], "ranking": rank["ranking"],
            "candidates": len(cands), "health": health, "log": settings.log_dir}


def _ok(response: Any) -> Any:
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.method} {response.request.url.path} answered "
                           f"{response.status_code}: {response.text}")
    return response.json()


def _head(values: list[float], n: int = 16) -> str:
    return ", ".join(f"{v:.4g}" for v in values[:n]) + f", … ({len(values)} values)"


def summary_lines(r: MainJobResult) -> list[str]:
    """The summary the main job prints at the end."""
    s, m, srv, mf = r.sample, r.model, r.served, r.manifest
    rows = r.materialized.rows_written
    return [
        "=== skewless main job ===",
        f"data           {r.data}",
        f"feature repo   {r.repo}",
        f"encoder state  {r.published.state_path}  {r.published.content_hash}",
        f"               fitted on {r.published.rows_per_view}",
        f"training set   {r.training_dir}  {mf.row_count} rows, "
        f"{mf.time_range[0]} .. {mf.time_range[1]}",
        f"sample row     member {s['member_id']} title {s['title_id']} at "
        f"{s['event_timestamp']} label {s['label']}",
        f"               {_head(r.vector)}",
        f"model          {m['model_id']}: {m['rows']} rows, hold-out AUC "
        f"{m['holdout_auc']:.3f} -> {r.model_path}",
        f"materialized   {'?' if rows is None else rows} entity rows into Redis "
        f"({r.materialized.engine}, {r.materialized.seconds:.1f}s)",
        f"served         /features member {srv['member']} at {srv['when']}: "
        f"statuses {srv['statuses']}",
        f"               {_head(srv['vector'])}",
        f"               /rank top 5 of {srv['candidates']}: "
        + ", ".join(f"{x['title_id']} ({x['score']:.3f})" for x in srv["ranking"][:5]),
        f"               /health ok={srv['health'].get('ok')}; vector log {srv['log']}",
        f"encode speed   median {r.encode_us:.2f} µs/row ({r.encoders} encoders, "
        f"{r.width} outputs)",
        *r.traffic,
        "timings        " + ", ".join(f"{k} {v:.1f}s" for k, v in r.timings.items()),
    ]
