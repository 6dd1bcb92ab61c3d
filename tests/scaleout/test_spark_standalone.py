"""The training-set job runs unchanged on a Spark standalone cluster: the same script, with
``SKEWLESS_SPARK_MASTER=spark://127.0.0.1:<port>`` as the only change, writes a training set
equal, row for row and bit for bit, to the one local mode wrote for the same labels.

The job runs in a subprocess (one SparkContext per process: the session fixtures hold a
local one); the master's status page proves the job ran as an application of the cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spark_jobs.training_set import Manifest

pytestmark = [pytest.mark.scaleout, pytest.mark.spark]
ROOT = Path(__file__).resolve().parents[2]
APP = "skewless-training-set"  # the app name scripts/build_training_set.py gives its session


def test_training_set_on_standalone_cluster_equals_local_mode(pipeline, spark_cluster,
                                                              tmp_path) -> None:
    out = tmp_path / "training_on_cluster"
    env = {**os.environ, **spark_cluster.env()}  # the pipeline's repo/data/state variables too
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_training_set.py"),
         "--labels", str(pipeline["labels_dir"]), "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"build_training_set.py failed on the cluster:\n{proc.stderr}"

    status = spark_cluster.status()
    ran = [a for a in status["completedapps"] + status["activeapps"] if a["name"] == APP]
    assert ran, f"no {APP} application on {spark_cluster.master_url}: {status}"
    assert status["aliveworkers"] == 1

    local, remote = Manifest.read(pipeline["out"]), Manifest.read(out)
    for field in ("state_hash", "feature_service", "feature_refs", "row_count", "time_range",
                  "schema", "entity_keys", "label_columns", "request_columns"):
        assert getattr(remote, field) == getattr(local, field), field

    spark = pipeline["spark"]
    a = spark.read.parquet(str(pipeline["out"] / "data"))
    b = spark.read.parquet(str(out / "data"))
    assert b.dtypes == a.dtypes
    assert b.count() == a.count() == local.row_count > 0
    # Multiset equality in both directions: every row, every value, duplicates counted.
    assert a.exceptAll(b).count() == 0
    assert b.exceptAll(a).count() == 0
