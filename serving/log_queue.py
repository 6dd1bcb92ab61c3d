"""The served log's queue: what every log format shares (:mod:`serving.vector_log` writes JSON
lines of encoded vectors, :mod:`serving.facts_log` Parquet served facts).

**A request never waits for the log.** :meth:`QueuedLog.write_encoded` only appends the
request's pieces to an in-memory queue (rows are built later); one writer thread takes
everything queued as a batch and hands it to the format's :meth:`QueuedLog._write_batch`.

**Sampled.** ``sample_rate`` (``SKEWLESS_LOG_SAMPLE``, default 1: every request) keeps a
request when a hash of its request id falls below the rate, so the choice is the same in every
process and replayable; whole requests are kept or not (a ranking is logged with all its
candidates). Requests left out are counted (``sampled_out_*`` in :meth:`QueuedLog.stats`),
never as drops.

**Bounded, with counted drops.** At most ``max_queued_rows`` rows (``SKEWLESS_LOG_QUEUE_MAX``,
default :data:`DEFAULT_MAX_QUEUED_ROWS`) are held between being accepted and being handed to
the format's writer — queued or in the writer's hands. A request that would pass the bound is
*dropped*: its answer is served as usual, its vectors are not logged, and the drop is counted
per service in :meth:`QueuedLog.stats` (the server's ``/health``) and in the log itself, by a
marker record the format writes before the next batch::

    {"marker": "dropped", "requests": 3, "rows": 300, "services": {"recommender": {"requests": 3,
     "rows": 300}}, "first_at": "...", "last_at": "...", "logged_at": "..."}

counting the drops since the previous marker (:mod:`serving.log_reader` skips and counts
them). Edge case: a single request with more rows than the bound is accepted when nothing is
pending, so a small bound never drops every large request. Writes after
:meth:`QueuedLog.close` are counted as dropped and never written.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from pydantic_core import to_json

__all__ = ["DEFAULT_MAX_QUEUED_ROWS", "DROP_MARKER", "LogStats", "Pending", "QueuedLog",
           "ServiceDrops", "Drops", "is_sampled"]

#: The ``marker`` value of a record counting dropped requests (module docstring).
DROP_MARKER = "dropped"
#: Rows accepted but not yet handed to the writer, at most (``SKEWLESS_LOG_QUEUE_MAX``): ~100
#: ``/rank`` requests of 100 candidates; the writer drains that in well under a second.
DEFAULT_MAX_QUEUED_ROWS = 10_000
_UNNAMED = "-"  # the per-service key of requests logged without a service name


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def is_sampled(request_id: str, rate: float) -> bool:
    """Whether request ``request_id`` is kept at sampling ``rate`` (0 < rate <= 1): a CRC-32 of
    the id below ``rate`` of its range — the same answer in every process and on replay."""
    return rate >= 1.0 or zlib.crc32(request_id.encode()) < rate * 4_294_967_296


def _served_rows(keys: Sequence[Mapping[str, Any]], context: Mapping[str, Any],
                 encoded: Sequence[Any]) -> list[dict[str, Any]]:
    return [{**context, **row, "statuses": r.statuses, "values": r.values}
            for row, r in zip(keys, encoded)]


class Pending(NamedTuple):
    """One accepted request, as the request thread left it (built into records later).
    ``rows`` are the JSON-ready rows or a function building them; ``keys``, ``context``,
    ``encoded`` and ``views`` are the served pieces as the server holds them (``views``: per
    feature view what the online store answered, :class:`serving.online.ServedView`; empty
    for requests written with :meth:`QueuedLog.write`)."""

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
    keys: Sequence[Mapping[str, Any]] = ()
    context: Mapping[str, Any] | None = None
    encoded: Sequence[Any] = ()
    views: Sequence[Any] = ()

    def built_rows(self) -> Sequence[dict[str, Any]]:
        return self.rows() if callable(self.rows) else self.rows


@dataclass(frozen=True)
class ServiceDrops:
    """Requests and rows of one service dropped since the log was opened."""

    service: str
    requests: int
    rows: int


@dataclass(frozen=True)
class LogStats:
    """The log's counters since it was opened (``/health`` shows :meth:`to_json`).

    ``queued_rows``: accepted, not yet handed to the writer (at most ``max_queued_rows``, or one
    larger request); ``written_*``: handed to the OS; ``dropped_*``: not logged (queue full,
    write error, or written after close), per service in ``dropped_by_service``;
    ``sampled_out_*``: left out by the sampling rate (not drops); ``format``: ``jsonl`` or
    ``parquet``; ``open_rows``: rows in files not yet closed (Parquet: unreadable until the
    file is closed, lost on SIGKILL)."""

    max_queued_rows: int
    queued_rows: int
    written_requests: int
    written_rows: int
    dropped_requests: int
    dropped_rows: int
    dropped_by_service: tuple[ServiceDrops, ...]
    write_errors: int
    sample_rate: float = 1.0
    sampled_out_requests: int = 0
    sampled_out_rows: int = 0
    format: str = "jsonl"
    open_rows: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"format": self.format, "sample_rate": self.sample_rate,
                "max_queued_rows": self.max_queued_rows, "queued_rows": self.queued_rows,
                "written_requests": self.written_requests, "written_rows": self.written_rows,
                "open_rows": self.open_rows,
                "dropped_requests": self.dropped_requests, "dropped_rows": self.dropped_rows,
                "dropped_by_service": {d.service: {"requests": d.requests, "rows": d.rows}
                                       for d in self.dropped_by_service},
                "sampled_out_requests": self.sampled_out_requests,
                "sampled_out_rows": self.sampled_out_rows,
                "write_errors": self.write_errors}


class Drops:
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
        """The marker record (one JSON line, with its newline) counting these drops."""
        requests, rows = self.totals()
        return to_json({"marker": DROP_MARKER, "requests": requests, "rows": rows,
                        "services": {s: {"requests": c[0], "rows": c[1]}
                                     for s, c in sorted(self.by_service.items())},
                        "first_at": iso(self.first_at), "last_at": iso(self.last_at),
                        "logged_at": iso(time.time())}) + b"\n"


class QueuedLog:
    """The bounded, sampled queue and writer thread of a served log (module docstring); a
    format implements :meth:`_write_batch` (and may implement :meth:`_tick` and
    :meth:`_close_files`)."""

    FORMAT = "?"
    #: the writer wakes at least this often when idle to call :meth:`_tick` (None: never)
    TICK_SECONDS: float | None = None

    def __init__(self, directory: str | Path, max_queued_rows: int = DEFAULT_MAX_QUEUED_ROWS,
                 sample_rate: float = 1.0) -> None:
        if max_queued_rows < 1:
            raise ValueError(f"max_queued_rows={max_queued_rows} must be >= 1 "
                             "(SKEWLESS_LOG_QUEUE_MAX)")
        if not 0.0 < sample_rate <= 1.0:
            raise ValueError(f"sample_rate={sample_rate} must be in (0, 1] "
                             "(SKEWLESS_LOG_SAMPLE; 1 logs every request)")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_queued_rows = max_queued_rows
        self.sample_rate = sample_rate
        self._cond = threading.Condition()
        self._pending: list[Pending] = []
        self._held_rows = 0       # accepted, not yet handed to the writer (queued or in hand)
        self._busy = False        # the writer holds a batch or a marker
        self._unreported = Drops()   # drops not yet in a marker record
        self._marker_due = False  # a request was dropped: write a marker even if idle
        self._drops = Drops()     # every drop since the log was opened
        self._written = [0, 0]    # requests, rows handed to the OS
        self._sampled_out = [0, 0]
        self._write_errors = 0
        self._closed = False
        self._idle = False        # the writer waits for work: the next request wakes it
        #: a request wakes a waiting writer once this many rows are held; fewer wait for the
        #: next tick (a format whose rows are not readable at once raises it: the wake-up and
        #: the writer's per-batch work then cost the requests once per many, not per request)
        self.wake_rows = 1
        self._seal_due = False    # flush(): make everything written readable

    def _start(self) -> None:
        """Start the writer thread (a format calls it at the end of its ``__init__``)."""
        self._thread = threading.Thread(target=self._run, name=f"skewless-{self.FORMAT}-log",
                                        daemon=True)
        self._thread.start()

    # --- the request side: never blocks on the disk -----------------------------------------

    def write(self, *, request_id: str, request_time: datetime, endpoint: str,
              state_hash: str, model_id: str | None, names: Sequence[str],
              rows: Sequence[dict[str, Any]], service: str | None = None) -> bool:
        """Queue one request's vectors (``rows``: keys, request inputs, statuses, values);
        ``False`` when it was dropped (counted) or sampled out instead."""
        rows = list(rows)
        return self._put(Pending(request_id, request_time, time.time(), endpoint, service,
                                 state_hash, model_id, names, rows, len(rows)))

    def write_encoded(self, *, request_id: str, request_time: datetime, endpoint: str,
                      state_hash: str, model_id: str | None, names: Sequence[str],
                      keys: Sequence[Mapping[str, Any]], context: Mapping[str, Any],
                      encoded: Sequence[Any], service: str | None = None,
                      views: Sequence[Any] = ()) -> bool:
        """Queue one request's vectors as served: ``keys[i]`` (the row's join keys and own
        request inputs) and ``encoded[i]`` (an :class:`serving.online.EncodedRow`) make row
        ``i``, with the top-level request inputs ``context`` (a row's own value wins) and
        ``views``, what each feature view answered (:class:`serving.online.ServedView`; the
        Parquet format logs them) — the same record as :meth:`write`, built on the writer
        thread. The caller must not mutate ``keys`` or ``context`` afterwards (encoded rows and
        views are immutable). ``False`` when the request was dropped (counted) or sampled out
        instead."""
        return self._put(Pending(request_id, request_time, time.time(), endpoint, service,
                                 state_hash, model_id, names,
                                 partial(_served_rows, keys, context, encoded), len(keys),
                                 keys, context, encoded, views))

    def _put(self, p: Pending) -> bool:
        with self._cond:
            if not is_sampled(p.request_id, self.sample_rate):
                self._sampled_out[0] += 1
                self._sampled_out[1] += p.n_rows
                return False
            if self._closed or (self._held_rows
                                and self._held_rows + p.n_rows > self.max_queued_rows):
                self._drop(p.service, 1, p.n_rows, p.logged_at)
                self._marker_due = not self._closed
                self._wake()
                return False
            self._pending.append(p)
            self._held_rows += p.n_rows
            if self._held_rows >= self.wake_rows:
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

    # --- what a format implements -----------------------------------------------------------

    def _write_batch(self, batch: Sequence[Pending], drops: Drops | None
                     ) -> tuple[Sequence[Pending], bool]:
        """Hand ``drops``' marker (if any) and ``batch``'s records to the OS; return the
        requests of ``batch`` written and whether the marker got there. The others (after a
        write error, counted in ``_write_errors``) are counted as dropped."""
        raise NotImplementedError

    def _tick(self) -> list[tuple[str | None, int, int]]:
        """Called by the writer after each batch and every ``TICK_SECONDS`` when idle; returns
        what was lost (as :meth:`_seal`)."""
        return []

    def _seal(self, final: bool) -> list[tuple[str | None, int, int]]:
        """Make everything written readable (close open files; ``final``: the log is closing);
        return what was lost doing so, as (service, requests, rows), counted as dropped."""
        return []

    def _open_rows(self) -> int:
        """Rows written into files not yet sealed."""
        return 0

    # --- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not ((self._pending and self._held_rows >= self.wake_rows)
                           or self._marker_due or self._closed or self._seal_due):
                    self._idle = True
                    if not self._cond.wait(self.TICK_SECONDS) and self.TICK_SECONDS:
                        break  # idle for TICK_SECONDS: a tick
                self._idle = False
                batch, self._pending = self._pending, []
                drops = self._unreported if self._unreported.by_service else None
                if drops is not None:
                    self._unreported = Drops()
                self._marker_due = False
                seal, self._seal_due = self._seal_due, False
                closing = self._closed
                self._busy = True
            written, marker_written = (self._write_batch(batch, drops) if batch or drops
                                       else ((), True))
            ok = len(written) == len(batch) and marker_written
            finished = closing and not batch and drops is None
            if seal or finished or (closing and not ok):
                lost = self._seal(finished or (closing and not ok))
            else:
                lost = self._tick()
            with self._cond:
                self._held_rows -= sum(p.n_rows for p in batch)
                self._busy = False
                self._written[0] += len(written)
                self._written[1] += sum(p.n_rows for p in written)
                # what did not reach the OS is dropped, reported by the next marker written
                kept = {id(p) for p in written}
                for p in batch:
                    if id(p) not in kept:
                        self._drop(p.service, 1, p.n_rows, p.logged_at)
                for service, requests, rows in lost:
                    self._drop(service, requests, rows, time.time())
                if drops is not None and not marker_written:
                    for service, (n, r) in drops.by_service.items():
                        self._unreported.add(service, n, r, drops.last_at)
                self._cond.notify_all()
                if finished or (closing and not ok):
                    return  # closed, everything written (or a failing disk: no retry forever)

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
                write_errors=self._write_errors, sample_rate=self.sample_rate,
                sampled_out_requests=self._sampled_out[0],
                sampled_out_rows=self._sampled_out[1], format=self.FORMAT,
                open_rows=self._open_rows())

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every request accepted so far (and a marker for every drop so far) is
        handed to the OS and readable (Parquet: open files closed), or counted as dropped after
        a write error (``stats().write_errors``); ``False`` if ``timeout`` seconds passed
        first. While the log is closing, waits for the writer to finish draining."""
        with self._cond:
            self._marker_due = self._marker_due or bool(self._unreported.by_service)
            self._seal_due = True
            self._cond.notify_all()
            return self._cond.wait_for(
                lambda: not (self._pending or self._busy or self._marker_due or self._seal_due)
                or (self._closed and not self._thread.is_alive()), timeout)

    def close(self) -> None:
        """Write what is queued (and a last drop marker), close the files and stop the
        writer; calling it again does nothing."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
