"""The served-vector log: every vector the server returns, as JSON lines, rotated by size.

Each line is one request: ``request_id``, ``time`` (the request time, ISO-8601 UTC),
``logged_at`` (when it was queued), ``endpoint``, ``service`` (the encoded service that
answered; null when the writer named none), ``state_hash``, ``model_id`` (or null), ``names``
(the vector's column names, once per line), and ``rows``: for each entity row its join keys,
its request inputs, per-view statuses and the values in schema order. Datetime request inputs
are written as ISO-8601 text. The skew checks read these files through
:class:`serving.log_reader.LogReader`.

**A request never waits for the log.** :meth:`VectorLog.write_encoded` only appends the
request's pieces to an in-memory queue (even the per-row dicts are built later); one writer
thread takes everything queued as a batch, serializes it and appends it to the file with one
``write`` per batch, so each batch is handed to the OS as soon as it is serialized, not only on
close. Serialization uses ``pydantic_core.to_json`` (Rust; ~7x cheaper than ``json.dumps`` on a
100-row line, which matters because the writer thread holds the GIL the requests need).

**Bounded, with counted drops.** At most ``max_queued_rows`` rows (``SKEWLESS_LOG_QUEUE_MAX``,
default :data:`DEFAULT_MAX_QUEUED_ROWS`) are held between being accepted and being handed to
the OS — queued or in the writer's hands. A request that would pass the bound is *dropped*:
its answer is served as usual, its vectors are not logged, and the drop is counted per service
in :meth:`VectorLog.stats` (the server's ``/health``) and in the log itself, by a marker line
written before the next batch::

    {"marker": "dropped", "requests": 3, "rows": 300, "services": {"recommender": {"requests": 3,
     "rows": 300}}, "first_at": "...", "last_at": "...", "logged_at": "..."}

counting the drops since the previous marker (:class:`serving.log_reader.LogReader` skips and
counts these lines). Edge case: a single request with more rows than the bound is accepted
when nothing is pending, so a small bound never drops every large request.

**What each failure loses** (``tests/reliability/test_vector_log_kill.py`` measures SIGKILL):

* ``close()`` (the server's SIGTERM shutdown): nothing — everything queued is written, then a
  last marker for drops not yet recorded;
* SIGKILL or a crash: the rows accepted but not yet handed to the OS, at most
  ``max_queued_rows`` (or one larger request), plus the drops since the last marker line
  (counted on ``/health`` only); the last line may be torn (readers skip it, naming it). Lines
  handed to the OS survive the process. In time: the writer spends ~4 µs of CPU per row
  (``bench/bench_vector_log.py --writer-only``), so the default bound is ~40 ms of its work
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
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from stat import S_ISREG
from typing import Any, NamedTuple

from pydantic_core import PydanticSerializationError, to_json

from encoders.values import as_utc

FILE_NAME = "vectors.jsonl"
#: The ``marker`` value of a line counting dropped requests (module docstring).
DROP_MARKER = "dropped"
#: Rows accepted but not yet handed to the OS, at most (``SKEWLESS_LOG_QUEUE_MAX``): ~100
#: ``/rank`` requests of 100 candidates; the writer drains that in well under a second.
DEFAULT_MAX_QUEUED_ROWS = 10_000
_CHUNK_BYTES = 1 << 20  # the writer hands lines to the OS at least every this many bytes
_UNNAMED = "-"  # the per-service key of lines logged without a service name

log = logging.getLogger("skewless.vector_log")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def _json_default(value: Any) -> str:
    """JSON for a value ``to_json`` refused; anything but a datetime is a bug of the writer."""
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    raise TypeError(f"a served-vector log row holds {type(value).__name__}; log JSON values")


def _served_rows(keys: Sequence[Mapping[str, Any]], context: Mapping[str, Any],
                 encoded: Sequence[Any]) -> list[dict[str, Any]]:
    return [{**context, **row, "statuses": r.statuses, "values": r.values}
            for row, r in zip(keys, encoded)]


class _Pending(NamedTuple):
    """One accepted request, as the request thread left it (built into a line later)."""

    request_id: str
    request_time: datetime
    logged_at: float
    endpoint: str
    service: str | None
    state_hash: str
    model_id: str | None
    names: Sequence[str]
    rows: Sequence[dict[str, Any]] | Callable[[], list[dict[str, Any]]]
    n_rows: int


def _line(p: _Pending) -> bytes:
    """One JSON line (with its newline) for ``p``; rows are built here when deferred."""
    rows = p.rows() if callable(p.rows) else p.rows
    if any(isinstance(v, datetime) for row in rows for v in row.values()):
        # datetime request inputs as ISO-8601 text (``+00:00``); the caller's dicts stay as is
        rows = [{k: as_utc(v).isoformat() if isinstance(v, datetime) else v
                 for k, v in row.items()} for row in rows]
    entry = {"request_id": p.request_id,
             "time": as_utc(p.request_time).isoformat(),
             "logged_at": _iso(p.logged_at), "endpoint": p.endpoint, "service": p.service,
             "state_hash": p.state_hash, "model_id": p.model_id, "names": p.names,
             "rows": rows}
    try:
        return to_json(entry, inf_nan_mode="null") + b"\n"
    except PydanticSerializationError:  # e.g. a lone surrogate: ASCII escapes always encode
        return (json.dumps(entry, separators=(",", ":"), ensure_ascii=True,
                           default=_json_default) + "\n").encode("ascii")


@dataclass(frozen=True)
class ServiceDrops:
    """Requests and rows of one service dropped since the log was opened."""

    service: str
    requests: int
    rows: int


@dataclass(frozen=True)
class LogStats:
    """The log's counters since it was opened (``/health`` shows :meth:`to_json`).

    ``queued_rows``: accepted, not yet handed to the OS (at most ``max_queued_rows``, or one
    larger request); ``written_*``: handed to the OS; ``dropped_*``: not logged (queue full,
    write error, or written after close), per service in ``dropped_by_service``."""

    max_queued_rows: int
    queued_rows: int
    written_requests: int
    written_rows: int
    dropped_requests: int
    dropped_rows: int
    dropped_by_service: tuple[ServiceDrops, ...]
    write_errors: int

    def to_json(self) -> dict[str, Any]:
        return {"max_queued_rows": self.max_queued_rows, "queued_rows": self.queued_rows,
                "written_requests": self.written_requests, "written_rows": self.written_rows,
                "dropped_requests": self.dropped_requests, "dropped_rows": self.dropped_rows,
                "dropped_by_service": {d.service: {"requests": d.requests, "rows": d.rows}
                                       for d in self.dropped_by_service},
                "write_errors": self.write_errors}


class _Drops:
    """Dropped requests and rows per service, with the times of the first and last drop."""

    def __init__(self) -> None:
        self.by_service: dict[str, list[int]] = {}
        self.first_at = self.last_at = 0.0

    def add(self, service: str | None, requests: int, rows: int, at: float) -> None:
        counts = self.by_service.setdefault(service or _UNNAMED, [0, 0])
        counts[0] += requests
        counts[1] += rows
        self.first_at = self.first_at or at
        self.last_at = at

    def totals(self) -> tuple[int, int]:
        return (sum(c[0] for c in self.by_service.values()),
                sum(c[1] for c in self.by_service.values()))

    def marker(self) -> bytes:
        requests, rows = self.totals()
        return to_json({"marker": DROP_MARKER, "requests": requests, "rows": rows,
                        "services": {s: {"requests": c[0], "rows": c[1]}
                                     for s, c in sorted(self.by_service.items())},
                        "first_at": _iso(self.first_at), "last_at": _iso(self.last_at),
                        "logged_at": _iso(time.time())}) + b"\n"


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


class VectorLog:
    """Asynchronous, bounded, rotating JSON-lines log of served vectors (module docstring)."""

    def __init__(self, directory: str | Path, max_bytes: int = 50_000_000,
                 backups: int = 10, max_queued_rows: int = DEFAULT_MAX_QUEUED_ROWS) -> None:
        if max_queued_rows < 1:
            raise ValueError(f"max_queued_rows={max_queued_rows} must be >= 1 "
                             "(SKEWLESS_LOG_QUEUE_MAX)")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_queued_rows = max_queued_rows
        self._file = _RotatingFile(self.directory / FILE_NAME, max_bytes, backups)
        self._cond = threading.Condition()
        self._pending: list[_Pending] = []
        self._held_rows = 0       # accepted, not yet handed to the OS (queued or in hand)
        self._busy = False        # the writer holds a batch or a marker
        self._unreported = _Drops()   # drops not yet in a marker line
        self._marker_due = False  # a request was dropped: write a marker even if idle
        self._drops = _Drops()    # every drop since the log was opened
        self._written = [0, 0]    # requests, rows handed to the OS
        self._write_errors = 0
        self._closed = False
        self._idle = False        # the writer waits for work: the next request wakes it
        self._thread = threading.Thread(target=self._run, name="skewless-vector-log",
                                        daemon=True)
        self._thread.start()

    # --- the request side: never blocks on the disk -----------------------------------------

    def write(self, *, request_id: str, request_time: datetime, endpoint: str,
              state_hash: str, model_id: str | None, names: Sequence[str],
              rows: Sequence[dict[str, Any]], service: str | None = None) -> bool:
        """Queue one request's vectors (``rows``: keys, request inputs, statuses, values);
        ``False`` when it was dropped (counted) instead."""
        rows = list(rows)
        return self._put(_Pending(request_id, request_time, time.time(), endpoint, service,
                                  state_hash, model_id, names, rows, len(rows)))

    def write_encoded(self, *, request_id: str, request_time: datetime, endpoint: str,
                      state_hash: str, model_id: str | None, names: Sequence[str],
                      keys: Sequence[Mapping[str, Any]], context: Mapping[str, Any],
                      encoded: Sequence[Any], service: str | None = None) -> bool:
        """Queue one request's vectors as served: ``keys[i]`` (the row's join keys and own
        request inputs) and ``encoded[i]`` (an :class:`serving.online.EncodedRow`) make row
        ``i``, with the top-level request inputs ``context`` (a row's own value wins) — the
        same line as :meth:`write`, its rows built on the writer thread. The caller must not
        mutate ``keys`` or ``context`` afterwards (encoded rows are immutable). ``False`` when
        the request was dropped (counted) instead."""
        return self._put(_Pending(request_id, request_time, time.time(), endpoint, service,
                                  state_hash, model_id, names,
                                  partial(_served_rows, keys, context, encoded), len(keys)))

    def _put(self, p: _Pending) -> bool:
        with self._cond:
            if self._closed or (self._held_rows
                                and self._held_rows + p.n_rows > self.max_queued_rows):
                self._drop(p.service, 1, p.n_rows, p.logged_at)
                self._marker_due = not self._closed
                self._wake()
                return False
            self._pending.append(p)
            self._held_rows += p.n_rows
            self._wake()
            return True

    def _wake(self) -> None:
        """Wake the writer if it waits (the caller holds the lock). A busy writer looks for
        more work before it waits, so a request does not pay a wake-up per line (measured:
        ``Condition.notify`` was 6% of the server's GIL time at 16 clients)."""
        if self._idle:
            self._idle = False
            self._cond.notify_all()  # flush() may wait on the same condition

    def _drop(self, service: str | None, requests: int, rows: int, at: float) -> None:
        """Count a drop (the caller holds the lock)."""
        self._drops.add(service, requests, rows, at)
        self._unreported.add(service, requests, rows, at)

    # --- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self._pending or self._marker_due or self._closed):
                    self._idle = True
                    self._cond.wait()
                self._idle = False
                batch, self._pending = self._pending, []
                drops = self._unreported if self._unreported.by_service else None
                if drops is not None:
                    self._unreported = _Drops()
                self._marker_due = False
                if not batch and drops is None:
                    self._cond.notify_all()
                    return  # closed, everything written
                self._busy = True
                closing = self._closed
            done, marker_written = self._write_batch(batch, drops)
            ok = done == len(batch) and marker_written
            with self._cond:
                self._held_rows -= sum(p.n_rows for p in batch)
                self._busy = False
                self._written[0] += done
                self._written[1] += sum(p.n_rows for p in batch[:done])
                # what did not reach the OS is dropped, reported by the next marker written
                for p in batch[done:]:
                    self._drop(p.service, 1, p.n_rows, p.logged_at)
                if drops is not None and not marker_written:
                    for service, (n, r) in drops.by_service.items():
                        self._unreported.add(service, n, r, drops.last_at)
                self._cond.notify_all()
                if closing and not ok:
                    return  # do not retry a failing disk forever at shutdown

    def _write_batch(self, batch: Sequence[_Pending], drops: _Drops | None
                     ) -> tuple[int, bool]:
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
        return done, marker_written

    # --- control ----------------------------------------------------------------------------

    def stats(self) -> LogStats:
        """The counters now (see :class:`LogStats`); cheap, for ``/health``."""
        with self._cond:
            requests, rows = self._drops.totals()
            return LogStats(
                max_queued_rows=self.max_queued_rows, queued_rows=self._held_rows,
                written_requests=self._written[0], written_rows=self._written[1],
                dropped_requests=requests, dropped_rows=rows,
                dropped_by_service=tuple(ServiceDrops(s, c[0], c[1]) for s, c
                                         in sorted(self._drops.by_service.items())),
                write_errors=self._write_errors)

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every request accepted so far (and a marker for every drop so far) is
        handed to the OS, or counted as dropped after a write error (``stats().write_errors``);
        ``False`` if ``timeout`` seconds passed first. While the log is closing, waits for the
        writer to finish draining."""
        with self._cond:
            self._marker_due = self._marker_due or bool(self._unreported.by_service)
            self._cond.notify_all()
            return self._cond.wait_for(
                lambda: not (self._pending or self._busy or self._marker_due)
                or (self._closed and not self._thread.is_alive()), timeout)

    def close(self) -> None:
        """Write what is queued (and a last drop marker) and stop the writer; calling it
        again does nothing."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        self._file.close()
