"""Shared fixtures for the offline tests: one SparkSession, one tiny facts/features build, and
one published pipeline (private Feast repo, fitted state, training set) over it.

No skips: when Java 17+ is missing the ``spark`` fixture fails with the fix in its message.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from demo.facts import FactsSummary, generate_facts, preset
from demo.feature_tables import FeatureTablesResult, build_feature_tables
from demo.labels import generate_labels, labels_preset, read_labels
from encoders import load
from feast_bridge.services import registry_state_hash
from feast_bridge.store import feast_cli, open_store
from spark_jobs.fit_publish import fit_service
from spark_jobs.spark_session import get_spark
from spark_jobs.training_set import build_training_set

# The library's own fixtures (skew.pytest_plugin's ``parity_redis``) and the code under test
# read SKEWLESS_REDIS_PORT; a suite pointed at its own server with SKEWLESS_TEST_REDIS_PORT
# must reach that server there too, never the default one another checkout uses.
if "SKEWLESS_TEST_REDIS_PORT" in os.environ:
    os.environ.setdefault("SKEWLESS_REDIS_PORT", os.environ["SKEWLESS_TEST_REDIS_PORT"])


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """The one SparkSession of the test run (local[2], small shuffle)."""
    try:
        session = get_spark("skewless-tests", conf={"spark.sql.shuffle.partitions": "4"})
    except RuntimeError as exc:
        pytest.fail(f"Spark could not start: {exc}", pytrace=False)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def tiny_facts(tmp_path_factory: pytest.TempPathFactory) -> FactsSummary:
    """The ``tiny`` preset, generated once per run."""
    return generate_facts(preset("tiny"), tmp_path_factory.mktemp("facts") / "tiny")


@pytest.fixture(scope="session")
def tiny_features(
    spark: object, tiny_facts: FactsSummary, tmp_path_factory: pytest.TempPathFactory
) -> FeatureTablesResult:
    """Feature tables for every snapshot day of the tiny facts."""
    out: Path = tmp_path_factory.mktemp("features")
    return build_feature_tables(spark, tiny_facts.out_dir, out)  # type: ignore[arg-type]


GAP = (date(2024, 1, 15), date(2024, 1, 18))  # snapshot days removed: ttl expiry inside
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pipeline(spark, tiny_facts, tiny_features, tmp_path_factory):
    """A private Feast repo over the tiny feature tables (with a gap), fitted and published."""
    from pyspark.sql import functions as F

    base = tmp_path_factory.mktemp("pipeline")
    data = base / "data"
    for table, path in (("member_features", tiny_features.member_path),
                        ("title_features", tiny_features.title_path)):
        df = spark.read.parquet(str(path))
        df = df.where(~F.col("snapshot_date").between(*GAP))
        df.write.partitionBy("snapshot_date").parquet(str(data / "features" / table))
    labels_dir = base / "labels"
    generate_labels(tiny_facts.out_dir, labels_dir, labels_preset("tiny"))
    repo = base / "feature_repo"
    repo.mkdir()
    for name in ("feature_store.yaml", "definitions.py"):
        shutil.copy(ROOT / "feature_repo" / name, repo / name)
    mp = pytest.MonkeyPatch()
    mp.setenv("SKEWLESS_DATA_DIR", str(data))
    mp.setenv("SKEWLESS_FEATURE_REPO", str(repo))
    mp.setenv("SKEWLESS_STATE_PATH", str(repo / "encoder_state.json"))
    raw_apply = feast_cli("apply", repo=repo)  # before any state: raw views only
    store = open_store(repo)
    pub = fit_service(spark, store, "ranker", datetime(2024, 1, 1, tzinfo=timezone.utc),
                      datetime(2024, 1, 29, tzinfo=timezone.utc))
    enc = load(pub.state_path, expected_hash=registry_state_hash(store, "ranker"))
    labels = read_labels(spark, labels_dir)
    out = base / "training" / "v1"
    manifest = build_training_set(store, labels, enc, out)
    yield {"store": store, "enc": enc, "labels": labels, "labels_dir": labels_dir, "out": out,
           "manifest": manifest, "data": data, "raw_apply": raw_apply, "repo": repo,
           "spark": spark}
    mp.undo()
