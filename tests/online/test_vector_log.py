"""The served-vector log under pressure (issue 14.2): a bounded queue whose drops are counted
(per service, in ``stats()`` and as marker lines in the log), a writer that hands each batch to
the OS before close and survives a failing disk, and a reader that skips torn lines and
markers, counting them (issue 14.6). The writer is held on purpose by a request whose rows
block until the test releases them, so every count below is exact."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from serving.log_reader import LogReader, read_log
from serving.online import EncodedRow
from serving.vector_log import FILE_NAME, VectorLog

WHEN = datetime(2024, 2, 5, 12, tzinfo=timezone.utc)
HEAD = dict(request_time=WHEN, endpoint="/rank", state_hash="sha256:x", model_id=None,
            names=["a", "b"])


class HeldKeys:
    """Join keys whose iteration (on the writer thread) waits until ``release`` is set."""

    def __init__(self, n: int, release: threading.Event) -> None:
        self.n, self.release = n, release
        self.reached = threading.Event()

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[dict]:
        self.reached.set()
        assert self.release.wait(30), "the test never released the writer"
        return iter([{"k": i} for i in range(self.n)])


def rows(n: int, first: int = 0) -> list[dict]:
    return [{"k": first + i, "statuses": {}, "values": [float(first + i), 0]} for i in range(n)]


def encoded(n: int) -> list[EncodedRow]:
    return [EncodedRow((float(i), 0), {}) for i in range(n)]


def hold_writer(log: VectorLog, n_rows: int) -> threading.Event:
    """Queue one request of ``n_rows`` rows that the writer takes and then waits on."""
    release = threading.Event()
    keys = HeldKeys(n_rows, release)
    log.write_encoded(request_id="held", keys=keys, context={}, encoded=encoded(n_rows),
                      service="svc", **HEAD)
    assert keys.reached.wait(10), "the writer did not take the held request"
    return release


def lines(directory: Path) -> list[dict]:
    return [json.loads(line) for line in (directory / FILE_NAME).read_text().splitlines()]


def test_a_stuck_writer_drops_past_the_bound_and_counts_per_service(tmp_path) -> None:
    log = VectorLog(tmp_path, max_queued_rows=50)
    release = hold_writer(log, 10)
    accepted = []

    def flood() -> None:  # never blocks, although the writer is stuck
        for i in range(20):
            accepted.append(log.write(request_id=f"r{i}", rows=rows(10, 10 * i),
                                      service="svc" if i % 2 else "other", **HEAD))

    t = threading.Thread(target=flood)
    t.start()
    t.join(10)
    assert not t.is_alive(), "a write blocked while the writer was behind"
    assert accepted == [True] * 4 + [False] * 16  # 10 held + 4 x 10 queued = the bound of 50
    s = log.stats()
    assert (s.queued_rows, s.dropped_requests, s.dropped_rows, s.written_requests) == \
        (50, 16, 160, 0)
    assert {d.service: (d.requests, d.rows) for d in s.dropped_by_service} == {
        "svc": (8, 80), "other": (8, 80)}
    release.set()
    assert log.flush(10)
    log.close()
    got = lines(tmp_path)
    assert [e.get("request_id") for e in got] == ["held", None, "r0", "r1", "r2", "r3"]
    marker = got[1]
    assert (marker["marker"], marker["requests"], marker["rows"]) == ("dropped", 16, 160)
    assert marker["services"] == {"other": {"requests": 8, "rows": 80},
                                  "svc": {"requests": 8, "rows": 80}}
    assert marker["first_at"] <= marker["last_at"]
    s = log.stats()
    assert (s.queued_rows, s.written_requests, s.written_rows) == (0, 5, 50)
    assert s.to_json()["dropped_by_service"]["svc"] == {"requests": 8, "rows": 80}
    reader = LogReader(tmp_path)
    assert [e["request_id"] for e in reader] == ["held", "r0", "r1", "r2", "r3"]
    assert (reader.dropped_requests, reader.dropped_rows, reader.skipped) == (16, 160, [])
    assert "dropped 16 requests (160 rows)" in " ".join(reader.notes())


def test_one_request_larger_than_the_bound_is_kept_when_nothing_is_pending(tmp_path) -> None:
    log = VectorLog(tmp_path, max_queued_rows=5)
    assert log.write(request_id="big", rows=rows(12), **HEAD)
    log.close()
    assert [len(e["rows"]) for e in read_log(tmp_path)] == [12]
    assert log.stats().dropped_requests == 0
    with pytest.raises(ValueError, match="SKEWLESS_LOG_QUEUE_MAX"):
        VectorLog(tmp_path, max_queued_rows=0)


def test_each_batch_reaches_the_os_without_close_and_drops_are_marked_when_idle(
        tmp_path) -> None:
    """What a SIGKILL leaves: lines handed over batch by batch (no close, no flush call), and
    a marker for drops written even when no request follows them."""
    log = VectorLog(tmp_path, max_queued_rows=10)
    release = hold_writer(log, 10)
    assert not log.write(request_id="dropped", rows=rows(3), service="svc", **HEAD)
    release.set()
    assert log.flush(10)
    got = lines(tmp_path)  # read from disk while the log is still open
    assert [e.get("request_id") for e in got] == ["held", None]
    assert got[1]["services"] == {"svc": {"requests": 1, "rows": 3}}
    for i in range(3):
        log.write(request_id=f"late{i}", rows=rows(1), **HEAD)
    assert log.flush(10)
    assert [e.get("request_id") for e in lines(tmp_path)][2:] == ["late0", "late1", "late2"]
    log.close()
    assert not log.write(request_id="after close", rows=rows(2), **HEAD)
    assert log.stats().dropped_rows == 3 + 2  # counted, never written
    assert [e.get("request_id") for e in lines(tmp_path)][-1] == "late2"


def test_a_failing_disk_drops_counted_and_the_writer_goes_on(tmp_path, caplog) -> None:
    (tmp_path / FILE_NAME).mkdir()  # opening the log file fails (IsADirectoryError)
    log = VectorLog(tmp_path)
    with caplog.at_level(logging.ERROR, logger="skewless.vector_log"):
        assert log.write(request_id="lost", rows=rows(4), service="svc", **HEAD)
        assert log.flush(10)
    s = log.stats()
    assert (s.write_errors, s.dropped_requests, s.dropped_rows, s.written_requests) == \
        (1, 1, 4, 0)
    assert "counted as dropped" in caplog.text
    (tmp_path / FILE_NAME).rmdir()
    log.write(request_id="kept", rows=rows(2), **HEAD)
    log.close()
    got = lines(tmp_path)
    assert [e.get("marker") for e in got] == ["dropped", None]
    assert (got[0]["requests"], got[0]["rows"], got[1]["request_id"]) == (1, 4, "kept")


def test_rotation_keeps_every_line_whole_and_in_order(tmp_path) -> None:
    log = VectorLog(tmp_path, max_bytes=1_500, backups=100)
    for i in range(60):
        log.write(request_id=f"r{i}", rows=rows(2, 2 * i), **HEAD)
    log.close()
    files = sorted(tmp_path.glob(FILE_NAME + "*"))
    assert len(files) > 3 and all(f.stat().st_size <= 1_500 for f in files)
    assert [e["request_id"] for e in read_log(tmp_path)] == [f"r{i}" for i in range(60)]


def test_reader_skips_torn_and_undecodable_lines_naming_file_and_line(tmp_path, caplog) -> None:
    log = VectorLog(tmp_path, max_bytes=400, backups=5)
    for i in range(4):
        log.write(request_id=f"r{i}", rows=rows(1, i), **HEAD)
    log.close()
    rotated = tmp_path / (FILE_NAME + ".1")
    assert rotated.exists()
    with rotated.open("ab") as fh:  # damage inside an older file, between whole lines
        fh.write(b'{"request_id": "x", "ro\xc3\n')
    with (tmp_path / FILE_NAME).open("ab") as fh:  # a SIGKILL mid-write: no newline
        fh.write(b'{"request_id": "torn", "rows": [{"val')
    reader = LogReader(tmp_path)
    with caplog.at_level(logging.WARNING, logger="skewless.vector_log"):
        got = [e["request_id"] for e in reader]
    assert got == ["r0", "r1", "r2", "r3"]
    assert [(Path(s.path).name, s.line) for s in reader.skipped] == [
        (rotated.name, sum(1 for _ in rotated.open("rb"))),
        (FILE_NAME, sum(1 for _ in (tmp_path / FILE_NAME).open("rb")))]
    assert f"{tmp_path / FILE_NAME} line " in caplog.text and "torn" in caplog.text
    assert reader.notes()[0].startswith("skipped 2 log line(s) that are not JSON")


def test_a_restart_after_a_torn_last_line_keeps_the_new_first_line(tmp_path, caplog) -> None:
    """A SIGKILL can leave a torn last line; the next server's first line must start a line of
    its own, not be glued onto the torn one (both would be skipped)."""
    first = VectorLog(tmp_path)
    first.write(request_id="r0", rows=rows(1), **HEAD)
    first.close()
    with (tmp_path / FILE_NAME).open("ab") as fh:
        fh.write(b'{"request_id": "torn", "rows": [{"k"')
    second = VectorLog(tmp_path)
    second.write(request_id="r1", rows=rows(1), **HEAD)
    second.close()
    reader = LogReader(tmp_path)
    with caplog.at_level(logging.WARNING, logger="skewless.vector_log"):
        assert [e["request_id"] for e in reader] == ["r0", "r1"]
    assert [s.line for s in reader.skipped] == [2]


def test_a_write_failing_midway_counts_only_what_missed_the_file(tmp_path, monkeypatch) -> None:
    """Three ~0.6 MB requests are written in ~1 MB chunks; the second chunk fails: the first
    chunk's two requests are written (and counted so), the third is dropped, counted once."""
    import serving.vector_log as vector_log

    big = rows(15_000)  # ~0.7 MB of JSON per request
    log = VectorLog(tmp_path, max_queued_rows=10**6)
    release = hold_writer(log, 1)  # the three requests below go in one batch
    for i in range(3):
        assert log.write(request_id=f"r{i}", rows=big, service="svc", **HEAD)
    real_write, calls = vector_log._RotatingFile.write, []

    def failing_second(self, lines):
        calls.append(len(lines))
        if len(calls) == 3:  # 1: the held request's batch, 2: first chunk, 3: the rest
            raise OSError("disk full")
        return real_write(self, lines)

    monkeypatch.setattr(vector_log._RotatingFile, "write", failing_second)
    release.set()
    assert log.flush(30)
    s = log.stats()
    assert (s.written_requests, s.dropped_requests, s.write_errors) == (3, 1, 1)
    monkeypatch.setattr(vector_log._RotatingFile, "write", real_write)
    log.close()
    got = LogReader(tmp_path)
    assert [e["request_id"] for e in got] == ["held", "r0", "r1"]
    assert (got.dropped_requests, got.dropped_rows) == (1, 15_000)


def test_naive_request_times_are_logged_as_utc(tmp_path, monkeypatch) -> None:
    """The log's one rule, whatever the process zone: a naive datetime means UTC."""
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        log = VectorLog(tmp_path)
        log.write(request_id="n", rows=[{"k": 1, "at": datetime(2024, 1, 1, 12)}],
                  **{**HEAD, "request_time": datetime(2024, 1, 1, 12)})
        log.close()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    (entry,) = read_log(tmp_path)
    assert entry["time"] == "2024-01-01T12:00:00+00:00"
    assert entry["rows"][0]["at"] == "2024-01-01T12:00:00+00:00"
