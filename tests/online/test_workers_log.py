"""Several server processes (``SKEWLESS_WORKERS``): each writes its own served-vector log in
``worker-<k>`` of the log folder (a slot held by a lock), and ``read_log`` reads them all."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from serving.log_reader import read_log
from serving.vector_log import VectorLog
from serving.workers import log_dir_of_worker

ROOT = Path(__file__).resolve().parents[2]
WHEN = datetime(2024, 2, 5, 12, tzinfo=timezone.utc)


def _write(directory: Path, request_id: str) -> None:
    log = VectorLog(directory)
    log.write(request_id=request_id, request_time=WHEN, endpoint="/rank", state_hash="h",
              model_id=None, names=["x"], rows=[{"k": 1, "statuses": {}, "values": [0.5]}])
    log.close()


def test_one_worker_logs_in_the_folder_itself(tmp_path) -> None:
    assert log_dir_of_worker(tmp_path, 1) == tmp_path
    assert not list(tmp_path.iterdir())


def test_each_worker_gets_a_folder_of_its_own_and_read_log_reads_them_all(tmp_path) -> None:
    first = log_dir_of_worker(tmp_path, 2)
    # another process, while this one holds slot 0, takes slot 1
    other = subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; "
         "from serving.workers import log_dir_of_worker; "
         "print(log_dir_of_worker(Path(sys.argv[1]), 2))", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert (first, Path(other)) == (tmp_path / "worker-0", tmp_path / "worker-1")
    # the other process has exited: its slot is free again, ours is still held
    assert log_dir_of_worker(tmp_path, 2) == tmp_path / "worker-1"
    _write(tmp_path / "worker-1", "from-worker-1")
    _write(first, "from-worker-0")
    _write(tmp_path, "top-level")
    assert [e["request_id"] for e in read_log(tmp_path)] == [
        "top-level", "from-worker-0", "from-worker-1"]


def test_replay_limit_keeps_the_latest_requests_across_workers(tmp_path) -> None:
    """Files come worker by worker; ``limit`` must keep the latest request times anyway."""
    from datetime import timedelta

    from skew.replay import logged_rows

    for k, hours in ((0, (3, 1)), (1, (2, 0))):  # worker-0 holds the newest request
        log = VectorLog(tmp_path / f"worker-{k}")
        for h in hours:
            log.write(request_id=f"w{k}-{h}", request_time=WHEN - timedelta(hours=h),
                      endpoint="/rank", state_hash="h", model_id=None, names=["x"],
                      rows=[{"k": 1, "statuses": {}, "values": [0.5]}])
        log.close()
    got = logged_rows(read_log(tmp_path), limit=2)
    assert [r["request_id"] for r in got] == ["w0-1", "w1-0"]
