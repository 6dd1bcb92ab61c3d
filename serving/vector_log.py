"""The served-vector log: every vector the server returns, as JSON lines, rotated by size.

Each line is one request: ``request_id``, ``time`` (the request time, ISO-8601 UTC),
``logged_at`` (when it was queued), ``endpoint``, ``service`` (the encoded service that
answered; null when the writer named none), ``state_hash``, ``model_id`` (or null), ``names``
(the vector's column names, once per line), and ``rows``: for each entity row its join keys,
its request inputs, per-view statuses and the values in schema order. Datetime request inputs
are written as ISO-8601 text. The skew checks read these files through
:class:`serving.log_reader.LogReader`.

**A request never waits for the log**, the log is bounded, sampled and counts what it
drops: :mod:`serving.log_queue` (shared with the Parquet served-facts log,
:mod:`serving.facts_log`). This module is the JSON-lines format: the writer thread serializes a
batch and appends it to the file with one ``write`` per ~1 MB, so each batch is handed to the OS
as soon as it is serialized, not only on close. Serialization uses ``pydantic_core.to_json``
(Rust; ~7x cheaper than ``json.dumps`` on a 100-row line, which matters because the writer
thread holds the GIL the requests need). A drop marker is a line of its own.

**What each failure loses** (``tests/reliability/test_vector_log_kill.py`` measures SIGKILL):

* ``close()`` (the server's SIGTERM shutdown): nothing — everything queued is written, then a
  last marker for drops not yet recorded;
* SIGKILL or a crash: the rows accepted but not yet handed to the OS, at most
  ``max_queued_rows`` (or one larger request), plus the drops since the last marker line
  (counted on ``/health`` only); the last line may be torn (readers skip it, naming it). Lines
  handed to the OS survive the process. In time: the writer spends ~4 µs of CPU per row
  (``python -m bench.bench_vector_log --writer-only``), so the default bound is ~40 ms of its work
  on a free core, longer on a busy machine or a slow disk;
* power loss or an OS crash: also what the OS had not yet written to disk (no ``fsync``);
* the writer behind (requests arrive faster than it writes): whole requests dropped, counted;
  memory stays bounded by ``max_queued_rows`` rows;
* a write error (disk full): that batch's requests are counted as dropped, the error is logged
  and the writer goes on.

Writes after :meth:`VectorLog.close` are counted as dropped and never written. Line edge
cases: a float is written in its shortest round-trip form (``1e-7``, where ``json.dumps`` writes
``1e-07``: the same double when read back); a non-finite value (no encoder produces one) is
written as ``null``, as the HTTP responses do, never as a bare ``NaN`` token; a string
``to_json`` cannot encode as UTF-8 (a lone surrogate) makes that line fall back to
``json.dumps`` with ASCII escapes, so the line is still written. Files rotate at ``max_bytes``
keeping ``backups`` old ones (``vectors.jsonl``, ``vectors.jsonl.1``, …, ``.1`` the newest).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from stat import S_ISREG
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

from encoders.values import as_utc
from serving.log_queue import (
    DEFAULT_MAX_QUEUED_ROWS,
    DROP_MARKER,
    Drops,
    LogStats,
    Pending,
    QueuedLog,
    ServiceDrops,
    iso,
)

__all__ = ["DEFAULT_MAX_QUEUED_ROWS", "DROP_MARKER", "FILE_NAME", "LogStats", "ServiceDrops",
           "VectorLog"]

FILE_NAME = "vectors.jsonl"
_CHUNK_BYTES = 1 << 20  # the writer hands lines to the OS at least every this many bytes

log = logging.getLogger("skewless.vector_log")


def _json_default(value: Any) -> str:
    """JSON for a value ``to_json`` refused; anything but a datetime is a bug of the writer."""
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    raise TypeError(f"a served-vector log row holds {type(value).__name__}; log JSON values")


def _line(p: Pending) -> bytes:
    """One JSON line (with its newline) for ``p``; rows are built here when deferred."""
    rows = p.built_rows()
    if any(isinstance(v, datetime) for row in rows for v in row.values()):
        # datetime request inputs as ISO-8601 text (``+00:00``); the caller's dicts stay as is
        rows = [{k: as_utc(v).isoformat() if isinstance(v, datetime) else v
                 for k, v in row.items()} for row in rows]
    entry = {"request_id": p.request_id,
             "time": as_utc(p.request_time).isoformat(),
             "logged_at": iso(p.logged_at), "endpoint": p.endpoint, "service": p.service,
             "state_hash": p.state_hash, "model_id": p.model_id, "names": p.names,
             "rows": rows}
    try:
        return to_json(entry, inf_nan_mode="null") + b"\n"
    except PydanticSerializationError:  # e.g. a lone surrogate: ASCII escapes always encode
        return (json.dumps(entry, separators=(",", ":"), ensure_ascii=True,
                           default=_json_default) + "\n").encode("ascii")


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1)


class _RotatingFile:
    """Appends bytes to ``path``, rotating to ``path.1`` … ``path.<backups>`` before a line
    would take the file past ``max_bytes`` (``max_bytes`` or ``backups`` 0: never rotates;
    nor does a path that is not a regular file, e.g. a named pipe). Opened at the first write,
    so a path that blocks on open (a pipe without reader) holds the writer, never start-up.
    Opening a regular file whose last byte is not a newline (a torn line left by a crash or a
    failed write) first ends that line, so what follows starts a line of its own."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self._fh: Any = None
        self._size = 0
        self._rotates = False

    def write(self, lines: Sequence[bytes]) -> None:
        """Hand ``lines`` to the OS (one ``write`` per file they land in); raises ``OSError``."""
        if self._fh is None:
            self._fh = open(self.path, "ab", buffering=0)  # noqa: SIM115 (kept open)
            st = os.fstat(self._fh.fileno())
            self._size = st.st_size
            self._rotates = bool(self.max_bytes and self.backups and S_ISREG(st.st_mode))
            if S_ISREG(st.st_mode) and st.st_size and _last_byte(self.path) != b"\n":
                # a torn last line (SIGKILL, failed write): end it, so the first line written
                # now is not glued onto it (readers skip the torn one, naming it)
                self._write_all(b"\n")
        start, size = 0, self._size
        for i, line in enumerate(lines):
            if self._rotates and size and size + len(line) > self.max_bytes:
                if i > start:
                    self._write_all(b"".join(lines[start:i]))
                self._rotate()
                start, size = i, 0
            size += len(line)
        self._write_all(b"".join(lines[start:]))

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = self._fh.write(view)
            view = view[n:]
            self._size += n

    def _rotate(self) -> None:
        self.close()
        for i in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._fh = open(self.path, "ab", buffering=0)  # noqa: SIM115 (kept open)
        self._size = 0

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class VectorLog(QueuedLog):
    """Asynchronous, bounded, rotating JSON-lines log of served vectors (module docstring)."""

    FORMAT = "jsonl"

    def __init__(self, directory: str | Path, max_bytes: int = 50_000_000,
                 backups: int = 10, max_queued_rows: int = DEFAULT_MAX_QUEUED_ROWS,
                 sample_rate: float = 1.0) -> None:
        super().__init__(directory, max_queued_rows, sample_rate)
        self._file = _RotatingFile(self.directory / FILE_NAME, max_bytes, backups)
        self._start()

    def _write_batch(self, batch: Sequence[Pending], drops: Drops | None
                     ) -> tuple[Sequence[Pending], bool]:
        """Hand ``drops``' marker (if any) and ``batch``'s lines to the OS, in ~1 MB chunks;
        return how many requests of ``batch`` (a prefix) and whether the marker reached it.
        A write error stops there: the rest is the caller's to count as dropped. Edge case: a
        chunk that failed midway may have put some of its lines in the file; they are counted
        as dropped (an over-count of at most one chunk), and a torn tail is ended on reopen."""
        done, in_chunk, marker_written = 0, 0, drops is None
        try:
            lines, size = ([drops.marker()] if drops is not None else []), 0
            for p in batch:  # handed to the OS every ~1 MB: no batch-sized copy in memory
                lines.append(_line(p))
                in_chunk += 1
                size += len(lines[-1])
                if size >= _CHUNK_BYTES:
                    self._file.write(lines)
                    done, in_chunk, marker_written = done + in_chunk, 0, True
                    lines, size = [], 0
            if lines:
                self._file.write(lines)
                done, marker_written = done + in_chunk, True
        except Exception:  # a full disk must not stop the writer (nor the server)
            self._write_errors += 1
            self._file.close()
            log.exception("served-vector log: writing %d requests to %s failed; they are "
                          "counted as dropped", len(batch) - done, self.directory / FILE_NAME)
        return batch[:done], marker_written

    def _seal(self, final: bool) -> list[tuple[str | None, int, int]]:
        if final:  # every line is already in the OS's hands: closing loses nothing
            self._file.close()
        return []
