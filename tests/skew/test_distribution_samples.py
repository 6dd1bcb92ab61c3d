"""Bounded samples from a (hand-made, tiny) training set folder and a real VectorLog folder."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from serving.vector_log import VectorLog
from skew.samples import (
    SkewInputError,
    read_manifest,
    read_served_sample,
    read_training_sample,
)
from spark_jobs.training_set import DATA, MANIFEST, Manifest

NAMES = ["a", "b"]
STATE = "sha256:" + "1" * 64
WHEN = datetime(2024, 2, 1, tzinfo=timezone.utc)


def make_training_set(root: Path, n_files: int = 3, rows_per_file: int = 400) -> Path:
    """Parquet files with a = row position (float), b = row position % 5 (int, some null)."""
    (root / DATA).mkdir(parents=True)
    for f in range(n_files):
        pos = np.arange(f * rows_per_file, (f + 1) * rows_per_file)
        b = pa.array([None if p % 97 == 0 else int(p % 5) for p in pos], pa.int64())
        pq.write_table(pa.table({"a": pos.astype(float), "b": b, "label": pos % 2}),
                       root / DATA / f"part-{f:05d}.parquet")
    (root / DATA / "_SUCCESS").write_text("")
    manifest = Manifest(state_hash=STATE, feature_service="svc", feature_refs=(),
                        row_count=n_files * rows_per_file, time_range=("", ""),
                        entity_keys=("member_id",), label_columns=("label",),
                        request_columns=(), schema=(("a", "float64"), ("b", "int64")),
                        inputs={}, created_at=WHEN.isoformat())
    (root / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
    return root


def write_log(directory: Path, n_requests: int, rows_per_request: int, state: str = STATE,
              names: list[str] = NAMES, **kw) -> Path:
    log = VectorLog(directory, **kw)
    k = 0
    for r in range(n_requests):
        rows = []
        for _ in range(rows_per_request):
            rows.append({"member_id": k, "statuses": {}, "values": [float(k), k % 3]})
            k += 1
        log.write(request_id=f"r{r}", request_time=WHEN, endpoint="/features",
                  state_hash=state, model_id=None, names=names, rows=rows)
    log.close()
    return directory


def test_training_sample_reads_all_rows_under_the_cap(tmp_path: Path) -> None:
    root = make_training_set(tmp_path / "ts")
    assert read_manifest(root).state_hash == STATE
    s = read_training_sample(root, NAMES, max_rows=10_000)
    assert (s.rows_total, s.rows_read, s.sampled) == (1200, 1200, False)
    assert np.array_equal(s.columns["a"], np.arange(1200.0))  # files in path order
    assert np.isnan(s.columns["b"]).sum() == len(range(0, 1200, 97))  # nulls are NaN
    assert s.describe() == "1,200 rows (all)"


def test_training_sample_is_uniform_without_replacement_and_seeded(tmp_path: Path) -> None:
    root = make_training_set(tmp_path / "ts")
    s = read_training_sample(root, NAMES, max_rows=300, seed=4)
    a = s.columns["a"]
    assert (s.rows_total, s.rows_read, a.size) == (1200, 300, 300)
    assert len(set(a)) == 300 and set(a) <= set(np.arange(1200.0))
    assert all((a >= lo).any() and (a < lo + 400).any() for lo in (0, 400, 800))  # every file
    assert np.array_equal(a, read_training_sample(root, NAMES, max_rows=300, seed=4).columns["a"])
    assert not np.array_equal(a, read_training_sample(root, NAMES, 300, seed=5).columns["a"])
    assert s.describe() == "300 of 1,200 rows (uniform sample)"


def test_training_set_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SkewInputError, match="not a folder.*skewless training-set"):
        read_manifest(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    with pytest.raises(SkewInputError, match="not a complete training set"):
        read_manifest(tmp_path / "half")
    root = make_training_set(tmp_path / "ts")
    with pytest.raises(SkewInputError, match=r"lacks encoded columns \['c'\]"):
        read_training_sample(root, ["a", "c"])
    with pytest.raises(SkewInputError, match="max_rows=0"):
        read_training_sample(root, NAMES, max_rows=0)


def test_served_sample_reads_rotated_files_in_order(tmp_path: Path) -> None:
    d = write_log(tmp_path / "log", 40, 10, max_bytes=2_000, backups=50)
    assert len(list(d.glob("vectors.jsonl*"))) > 2  # rotated
    s = read_served_sample(d, NAMES, STATE, max_rows=1000)
    assert (s.rows_total, s.rows_read) == (400, 400)
    assert np.array_equal(s.columns["a"], np.arange(400.0))
    assert np.array_equal(s.columns["b"], np.arange(400) % 3)


def test_served_sample_reservoir_cap(tmp_path: Path) -> None:
    d = write_log(tmp_path / "log", 100, 50)
    s = read_served_sample(d, NAMES, STATE, max_rows=700, seed=1)
    a = s.columns["a"]
    assert (s.rows_total, s.rows_read, a.size) == (5000, 700, 700)
    assert len(set(a)) == 700 and set(a) <= set(np.arange(5000.0))
    assert a.mean() == pytest.approx(2500, rel=0.1)  # not just the first rows
    assert s.sampled


def test_served_log_errors(tmp_path: Path) -> None:
    with pytest.raises(SkewInputError, match="no served-vector log.*not a folder"):
        read_served_sample(tmp_path / "none", NAMES, STATE)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SkewInputError, match="is empty"):
        read_served_sample(tmp_path / "empty", NAMES, STATE)
    other = "sha256:" + "2" * 64
    d = write_log(tmp_path / "mixed", 3, 4)
    write_log(d, 2, 5, state=other, names=["x"])  # appends: a redeploy with another state
    with pytest.raises(SkewInputError, match=(r"state-version problem.*10 rows served with "
                                              rf"{other} \(and 12 with the training set's")):
        read_served_sample(d, NAMES, STATE)
    torn = tmp_path / "torn"
    torn.mkdir()
    (torn / "vectors.jsonl").write_text('{"request_id": "x", "rows": [{"val')  # the only line
    with pytest.raises(SkewInputError, match=r"is empty.*skipped 1 log line\(s\)"):
        read_served_sample(torn, NAMES, STATE)


def test_served_sample_skips_a_torn_line_and_counts_drops(tmp_path: Path, caplog) -> None:
    """A SIGKILL's torn last line is skipped with a warning naming file and line, and a drop
    marker (requests the writer could not log) is skipped and counted, both in the notes."""
    d = write_log(tmp_path / "log", 3, 4)
    path = d / "vectors.jsonl"
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"marker": "dropped", "requests": 2, "rows": 7, "services": {}}\n')
        fh.write('{"request_id": "x", "rows": [{"val')
    with caplog.at_level("WARNING", logger="skewless.vector_log"):
        s = read_served_sample(d, NAMES, STATE)
    assert (s.rows_total, s.rows_read) == (12, 12)
    assert np.array_equal(s.columns["a"], np.arange(12.0))
    assert f"{path} line 5" in caplog.text
    assert len(s.notes) == 2
    assert s.notes[0].startswith(f"skipped 1 log line(s) that are not JSON: {path} line 5: ")
    assert s.notes[1] == ("the server's log writer dropped 2 requests (7 rows) when its queue "
                          "was full: not in the log")
