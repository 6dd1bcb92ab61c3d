"""Jobs interrupted half-way, with real processes:

* Redis is SIGKILLed while ``materialize`` (a subprocess, through ``open_store`` and whatever
  batch engine ``feature_store.yaml`` configures) is writing: the job fails, and after a
  restart (Redis keeps what it acknowledged: append-only file) re-running completes with Redis
  contents equal, key for key and byte for byte, to a clean run's;
* the training-set job (``scripts/build_training_set.py``) is SIGKILLed — with its Spark JVM —
  while Spark writes the Parquet: nothing that looks complete is left (no target folder, no
  manifest), and re-running gives the same rows and the same manifest as an uninterrupted
  build (bar ``created_at`` and the recorded inputs)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from materialization.materialize import feast_key_pattern, materialize, redis_snapshot
from spark_jobs.training_set import MANIFEST, Manifest
from tests.reliability.conftest import END, ROOT, START, RedisProcess

_MATERIALIZE = (
    "import sys; from datetime import datetime; "
    "from materialization.materialize import materialize; "
    "r = materialize(sys.argv[1], datetime.fromisoformat(sys.argv[2]), "
    "datetime.fromisoformat(sys.argv[3]), count_rows=False); print('done', r.seconds)"
)


def _env(served, **extra: str) -> dict[str, str]:
    return {**os.environ, **served["env"], "PYTHONPATH": str(ROOT), **extra}


def test_redis_killed_mid_materialize_then_rerun_equals_a_clean_run(served, tmp_path) -> None:
    clean = redis_snapshot(served["redis"].client(), match=feast_key_pattern("skewless"))
    assert clean, "the clean run left no keys"
    target = RedisProcess(tmp_path / "redis").start()
    client = target.client()
    env = _env(served, SKEWLESS_REDIS_PORT=str(target.port))
    job = subprocess.Popen(
        [sys.executable, "-c", _MATERIALIZE, str(served["repo"]), START.isoformat(),
         END.isoformat()], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        while job.poll() is None and time.monotonic() < deadline:
            if client.dbsize() > 0:  # the first write landed: stop Redis mid-run
                target.kill()
                break
            time.sleep(0.002)
        out, _ = job.communicate(timeout=600)
    finally:
        if job.poll() is None:
            job.kill()
    text = out.decode(errors="replace")
    assert job.returncode != 0, f"materialize finished before Redis was stopped:\n{text[-2000:]}"
    assert "ConnectionError" in text or "Connection refused" in text, text[-3000:]

    target.start()  # same port and append-only file: what was acknowledged is back
    partial = redis_snapshot(target.client(), match=feast_key_pattern("skewless"))
    assert len(partial) < len(clean), "the interrupted run wrote everything"

    mp = pytest.MonkeyPatch()
    for name, value in served["env"].items():
        mp.setenv(name, value)
    mp.setenv("SKEWLESS_REDIS_PORT", str(target.port))
    try:
        materialize(served["repo"], START, END, count_rows=False)
    finally:
        mp.undo()
    again = redis_snapshot(target.client(), match=feast_key_pattern("skewless"))
    target.stop()
    assert again.keys() == clean.keys()
    assert again == clean


def _frame(path) -> pd.DataFrame:
    df = pd.read_parquet(path / "data")
    return df.sort_values(list(df.columns)).reset_index(drop=True)


def _comparable(manifest: dict) -> dict:
    return {k: v for k, v in manifest.items() if k not in ("created_at", "inputs")}


def test_training_set_killed_mid_write_leaves_nothing_complete(served, tmp_path) -> None:
    out = tmp_path / "v1"
    cmd = [sys.executable, str(ROOT / "scripts" / "build_training_set.py"),
           "--labels", str(served["labels_dir"]), "--out", str(out)]
    job = subprocess.Popen(cmd, cwd=ROOT, env=_env(served), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, start_new_session=True)
    killed_at = None
    try:
        deadline = time.monotonic() + 600
        while job.poll() is None and time.monotonic() < deadline:
            writing = [p for p in tmp_path.glob(".v1.tmp-*/data") if p.exists()]
            if writing:  # Spark has set up the output folder: the write is under way
                os.killpg(job.pid, signal.SIGKILL)  # the driver and its JVM
                killed_at = writing[0].parent
                break
            time.sleep(0.01)
        job.wait(timeout=60)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    text = job.stdout.read().decode(errors="replace")
    assert killed_at is not None, f"the job ended before its write began:\n{text[-2000:]}"
    assert job.returncode == -signal.SIGKILL
    assert not out.exists(), "a killed build left the target folder"
    assert not list(tmp_path.rglob(MANIFEST)), "a killed build left a manifest"
    with pytest.raises(FileNotFoundError, match="not a complete training set"):
        Manifest.read(out)

    rerun = subprocess.run(cmd, cwd=ROOT, env=_env(served), capture_output=True, text=True,
                           timeout=900)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-3000:]
    reference = served["out"]  # the uninterrupted build of the same labels and state
    got = json.loads((out / MANIFEST).read_text())
    want = json.loads((reference / MANIFEST).read_text())
    assert _comparable(got) == _comparable(want)
    assert got["inputs"]["filter_by_created_timestamp"] == want["inputs"][
        "filter_by_created_timestamp"]
    pd.testing.assert_frame_equal(_frame(out), _frame(reference))
