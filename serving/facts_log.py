"""The served-facts log: what the server read and served, as Parquet (the default log format).

For every served row (sampled: :mod:`serving.log_queue`) one Parquet row in the schema of
:mod:`serving.facts_schema`: the request (id, request time, endpoint, state hash, model id), the
row's join keys and request inputs, per feature view the values the server read from the
online store with their event time and status, and the encoded vector. Partitioned by service
and by the request time's UTC date and hour:
``<log dir>/service=<name>/date=<YYYY-MM-DD>/hour=<HH>/<worker>-<opened>-<pid>-<seq>.parquet``.

**Queue, sampling, drops**: :class:`serving.log_queue.QueuedLog` (requests never wait; past
``SKEWLESS_LOG_QUEUE_MAX`` rows a request is dropped, counted on ``/health``). Drop markers are
JSON lines in ``<log dir>/_drops-<worker>.jsonl`` (Spark ignores ``_`` files).

**Files.** One open file per (service, date, hour, state) at a time, written as
``.<name>.parquet.open`` (hidden: Spark and readers skip it) and renamed to ``<name>.parquet``
when closed — so every ``.parquet`` file is whole. A file is closed when it holds
``file_rows`` rows (``SKEWLESS_LOG_FILE_ROWS``, default 100,000), when it has been open
``file_seconds`` (``SKEWLESS_LOG_FILE_SECONDS``, default 60 s; checked at least every second),
when more than ``max_open`` partitions are open (the oldest closes), on :meth:`flush` and on
:meth:`close`. Requests are kept as the server left them until ``convert_rows`` rows are
pending over all open files, then converted to Arrow in one go per file; a file's converted
rows are written as one row group once they reach ``row_group_rows`` (and when it closes).
The writer's cost per row does not depend on how requests are batched, and the rows held
beyond the queue's bound are at most ``row_group_rows``. The conversion holds the GIL the
requests need, so it comes in short pieces: ``convert_rows`` 200 (~1 ms) took the p50 of
``/rank`` with 100 candidates (one client, ``bench/bench_online.py``) from 1.59-1.63x the
in-process call to 1.51-1.53x, where 2,000 rows at a time delayed every request that arrived
during a ~10 ms conversion; with 10,000 the p99 at 16 clients was 2.35x the no-log server's,
with 2,000 1.48x (``bench/bench_facts_log.py``). Row groups stay at 2,000 rows (fewer, better
compressed). A request wakes the writer only when ``convert_rows`` rows are queued
(``wake_rows``, at most half the queue's bound); fewer wait for the writer's next tick (at
most a second).

**What each failure loses:**

* ``close()`` (SIGTERM): nothing; every file is closed and renamed;
* SIGKILL or a crash: the open files (at most ``file_rows`` rows or ``file_seconds`` of
  traffic each, per open partition) plus the queue (at most ``SKEWLESS_LOG_QUEUE_MAX`` rows)
  and the drops since the last marker. Closed files are untouched. The hidden ``.open`` files
  left behind are counted by the reader (``torn files``) and never read;
* a write error (disk full, a value the column type refuses): that batch's requests are
  counted as dropped and the writer goes on (``write_errors`` on ``/health``).

Edge cases: a request of a service the log was not opened with (or written with
:meth:`QueuedLog.write`, which carries no raw inputs) is logged with null feature columns and
the statuses its rows carry; a state change (new names) starts a new file, so the names in a
file's metadata describe every vector in it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from encoders.values import as_epoch_micros, as_utc
from serving.facts_schema import (
    ENDPOINT,
    LOGGED_AT,
    MODEL_ID,
    REQUEST_ID,
    REQUEST_TIME,
    ROW,
    STATE_HASH,
    UTC_US,
    VECTOR,
    FactsSchema,
    stamp_column,
    status_column,
)
from serving.log_queue import DEFAULT_MAX_QUEUED_ROWS, Drops, Pending, QueuedLog

__all__ = ["DROPS_PREFIX", "FactsLog", "OPEN_SUFFIX", "partition_of"]

log = logging.getLogger("skewless.facts_log")

OPEN_SUFFIX = ".open"
DROPS_PREFIX = "_drops-"
DEFAULT_FILE_ROWS = 100_000
DEFAULT_FILE_SECONDS = 60.0


def partition_of(request_time: datetime) -> tuple[str, str]:
    """The (date, hour) partition of a request time: its UTC date and hour."""
    t = as_utc(request_time)
    return t.strftime("%Y-%m-%d"), t.strftime("%H")


@dataclass(frozen=True)
class _Columns:
    """A file schema's column names, in order, their types and each view's features as one
    struct type (built once per file: walking a ``pa.Schema`` builds a ``Field`` object per
    column, and a view's features convert in one call as a struct)."""

    names: tuple[str, ...]
    types: dict[str, pa.DataType]
    views: tuple[pa.StructType, ...]

    @staticmethod
    def of(arrow: pa.Schema, schema: FactsSchema) -> _Columns:
        return _Columns(tuple(arrow.names), dict(zip(arrow.names, arrow.types)),
                        tuple(pa.struct([pa.field(c, t) for c, t in zip(v.columns, v.types)])
                              for v in schema.views))


@dataclass
class _OpenFile:
    """A Parquet file being written (hidden name), its schema, the requests accepted for it but
    not yet converted (``pending``) and the converted rows not yet written (``tables``: one
    row group at ``row_group_rows``)."""

    path: Path
    final: Path
    writer: pq.ParquetWriter
    opened: float
    service: str
    schema: FactsSchema
    arrow: pa.Schema
    rows: int = 0
    requests: int = 0
    pending: list[Pending] = field(default_factory=list)
    pending_rows: int = 0
    tables: list[pa.Table] = field(default_factory=list)
    table_rows: int = 0
    columns: _Columns = field(init=False)

    def __post_init__(self) -> None:
        self.columns = _Columns.of(self.arrow, self.schema)


def _spread(arrays: list[pa.Array], index: list[int], n: int) -> list[pa.Array]:
    """``arrays`` (equal lengths) spread to ``n`` rows by ``index`` in one ``take`` (C), or
    as they are when ``index`` is ``0 .. n-1``."""
    if len(index) == n and arrays and len(arrays[0]) == n and index == list(range(n)):
        return arrays
    batch = pa.RecordBatch.from_arrays(arrays, names=[str(i) for i in range(len(arrays))])
    return batch.take(pa.array(index, pa.int32())).columns


def _table(schema: FactsSchema, arrow: pa.Schema, columns: _Columns, group: Sequence[Pending]
           ) -> pa.Table:
    """The Arrow table of ``group``'s rows (one service, one state; ``arrow``: its schema,
    ``columns`` read from it).

    Cheap on the writer thread (which holds the GIL the requests need): per-request values are
    built once per request and per-view values once per unique entity, then spread to the
    rows by one Arrow ``take`` (C) per request or view; the vectors go to Arrow as nested
    lists in one call."""
    n_all = sum(p.n_rows for p in group)
    types = columns.types
    cols: dict[str, pa.Array] = {}
    request_of = [i for i, p in enumerate(group) for _ in range(p.n_rows)]
    heads = ((REQUEST_ID, [p.request_id for p in group]),
             (REQUEST_TIME, [as_epoch_micros(p.request_time) for p in group]),
             (LOGGED_AT, [round(p.logged_at * 1_000_000) for p in group]),
             (ENDPOINT, [p.endpoint for p in group]),
             (STATE_HASH, [p.state_hash for p in group]),
             (MODEL_ID, [p.model_id for p in group]))
    spread = _spread([pa.array(values, types[name]) for name, values in heads], request_of,
                     n_all)
    cols.update(zip([name for name, _ in heads], spread))
    cols[ROW] = pa.array([i for p in group for i in range(p.n_rows)], pa.int32())
    plain = [k for k, _ in schema.entity_keys + schema.request_inputs]
    rows_of = [p.keys if p.views else p.built_rows() for p in group]
    for k in plain:
        values: list = []
        for p, rows in zip(group, rows_of):
            ctx = p.context or {}
            values += [r[k] if k in r else ctx.get(k) for r in rows]
        cols[k] = pa.array(values, types[k])
    for vi, v in enumerate(schema.views):
        statuses: list = []
        stamps: list = []
        uniques: list = []
        index: list = []
        for p, rows in zip(group, rows_of):
            if p.views:
                served = p.views[vi]
                base = len(uniques)
                index += [base + j for j in served.index]
                statuses += served.statuses
                stamps += [us or None for us in served.stamps_us]
                uniques += served.values
            else:  # written without raw inputs: the rows' statuses, no values
                index += range(len(uniques), len(uniques) + len(rows))
                statuses += [(r.get("statuses") or {}).get(v.name) for r in rows]
                stamps += [None] * len(rows)
                uniques += [(None,) * len(v.features)] * len(rows)
        if len(index) != n_all:
            raise ValueError(f"view {v.name} answered {len(index)} rows for {n_all}")
        names = [status_column(v.name), stamp_column(v.name), *v.columns]
        arrays = [pa.array(statuses, pa.string()), pa.array(stamps, UTC_US),
                  *pa.array(uniques, columns.views[vi]).flatten()]
        cols.update(zip(names, _spread(arrays, index, n_all)))
    vectors: list = []
    for p, rows in zip(group, rows_of):
        vectors += ([e.values for e in p.encoded] if p.views
                    else [r.get("values") or () for r in rows])
    cols[VECTOR] = pa.array(vectors, pa.list_(pa.float64()))
    return pa.Table.from_arrays([cols[c] for c in columns.names], schema=arrow)


def _int_positions(p: Pending) -> list[int]:
    """The positions of a request's integer outputs (an encoder's output type is fixed by its
    state, so one row tells for the file)."""
    if p.views:
        first = p.encoded[0].values if p.encoded else ()
    else:
        rows = p.built_rows()
        first = (rows[0].get("values") or ()) if rows else ()
    return [i for i, v in enumerate(first) if type(v) is int]


class FactsLog(QueuedLog):
    """Asynchronous, bounded, partitioned Parquet log of served facts (module docstring).

    ``schemas``: the served services' :class:`serving.facts_schema.FactsSchema` by name;
    ``worker``: this process's name in file names (``w0`` for one server process)."""

    FORMAT = "parquet"
    TICK_SECONDS = 1.0

    def __init__(self, directory: str | Path, schemas: Mapping[str, FactsSchema], *,
                 worker: str = "w0", max_queued_rows: int = DEFAULT_MAX_QUEUED_ROWS,
                 sample_rate: float = 1.0, file_rows: int = DEFAULT_FILE_ROWS,
                 file_seconds: float = DEFAULT_FILE_SECONDS, row_group_rows: int = 2_000,
                 convert_rows: int = 200, max_open: int = 8) -> None:
        super().__init__(directory, max_queued_rows, sample_rate)
        if file_rows < 1 or file_seconds <= 0:
            raise ValueError(f"file_rows={file_rows} and file_seconds={file_seconds} must be "
                             "positive (SKEWLESS_LOG_FILE_ROWS, SKEWLESS_LOG_FILE_SECONDS)")
        self.schemas = dict(schemas)
        self.worker = worker
        self.file_rows, self.file_seconds = file_rows, file_seconds
        self.row_group_rows, self.max_open = row_group_rows, max(1, max_open)
        self.convert_rows = max(1, min(convert_rows, row_group_rows))
        # rows are readable only when their file closes: the writer takes requests a
        # conversion at a time (or at its tick), so most requests do not wake it
        self.wake_rows = max(1, min(self.convert_rows, max_queued_rows // 2))
        self._open: dict[tuple, _OpenFile] = {}
        self._lost: list[tuple[str | None, int, int]] = []  # rows of files that failed to close
        self._seq = 0
        self._started = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        self._start()

    # --- writing ----------------------------------------------------------------------------

    def _write_batch(self, batch: Sequence[Pending], drops: Drops | None
                     ) -> tuple[Sequence[Pending], bool]:
        marker_written = drops is None
        if drops is not None:
            try:
                with open(self.directory / f"{DROPS_PREFIX}{self.worker}.jsonl", "ab") as fh:
                    fh.write(drops.marker())
                marker_written = True
            except OSError:
                self._write_errors += 1
                log.exception("served-facts log: writing a drop marker failed")
        groups: dict[tuple, list[Pending]] = {}
        for p in batch:
            date, hour = partition_of(p.request_time)
            groups.setdefault((p.service or "-", date, hour, p.state_hash, tuple(p.names)),
                              []).append(p)
        written: list[Pending] = []
        for key, group in groups.items():
            try:
                self._append(key, group)
                written += group
            except Exception:  # a full disk or a refused value must not stop the server
                self._write_errors += 1
                log.exception("served-facts log: writing %d requests of service %s failed; "
                              "they are counted as dropped", len(group), key[0])
        return written, marker_written

    def _append(self, key: tuple, group: Sequence[Pending]) -> None:
        """Write ``group`` (one service, partition and state) into the partition's open files:
        a file closes after the request that brings it to ``file_rows`` (a request never
        spans two files)."""
        service, date, hour, _, names = key
        schema = self.schemas.get(service)
        if schema is None:
            raise ValueError(f"service {service!r} is not one the served-facts log was opened "
                             f"with ({sorted(self.schemas)})")
        for p in group:
            f = self._open.get(key) or self._open_file(
                key, schema, schema.arrow(names, _int_positions(p)))
            f.pending.append(p)
            f.pending_rows += p.n_rows
            f.rows += p.n_rows
            f.requests += 1
            if sum(o.pending_rows for o in self._open.values()) >= self.convert_rows:
                for o in list(self._open.values()):  # memory: at most ~row_group_rows held
                    self._convert_pending(o)
                    if o.table_rows >= self.row_group_rows:
                        self._write_tables(o)
            if f.rows >= self.file_rows:
                lost = self._close_quietly(key)
                if lost is not None:
                    self._lost.append(lost)

    def _open_file(self, key: tuple, schema: FactsSchema, arrow: pa.Schema) -> _OpenFile:
        service, date, hour, _, _ = key
        while len(self._open) >= self.max_open:
            oldest = min(self._open, key=lambda k: self._open[k].opened)
            lost = self._close_quietly(oldest)
            if lost is not None:
                self._lost.append(lost)
        folder = self.directory / f"service={service}" / f"date={date}" / f"hour={hour}"
        folder.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        name = f"{self.worker}-{self._started}-{os.getpid()}-{self._seq:06d}.parquet"
        path = folder / f".{name}{OPEN_SUFFIX}"
        f = _OpenFile(path, folder / name, pq.ParquetWriter(path, arrow), time.monotonic(),
                      service, schema, arrow)
        self._open[key] = f
        return f

    def _convert_pending(self, f: _OpenFile) -> None:
        """Convert ``f``'s pending requests into an Arrow table held for its next row group.
        A request whose values a column refuses is dropped (counted, logged) and the others
        kept."""
        if not f.pending:
            return
        pending, f.pending, f.pending_rows = f.pending, [], 0
        try:
            table = _table(f.schema, f.arrow, f.columns, pending)
        except Exception:  # find the request(s) at fault; the others are written
            tables = []
            for p in pending:
                try:
                    tables.append(_table(f.schema, f.arrow, f.columns, [p]))
                except Exception:
                    self._write_errors += 1
                    self._lost.append((p.service, 1, p.n_rows))
                    log.exception("served-facts log: writing 1 requests of service %s failed; "
                                  "they are counted as dropped", p.service)
            table = pa.concat_tables(tables) if tables else None
        if table is not None:
            f.tables.append(table)
            f.table_rows += table.num_rows

    def _write_tables(self, f: _OpenFile) -> None:
        """Write ``f``'s converted rows as one row group (a write error raises: the file is
        then lost, counted by the caller)."""
        if not f.tables:
            return
        tables, f.tables, f.table_rows = f.tables, [], 0
        f.writer.write_table(tables[0] if len(tables) == 1 else pa.concat_tables(tables))

    def _close_file(self, key: tuple) -> None:
        """Write the buffer, close the file and give it its final name (raises on error, the
        file then stays hidden: its rows are lost and counted by the caller)."""
        f = self._open[key]  # stays counted in ``open_rows`` until it is readable
        try:
            try:
                self._convert_pending(f)
                self._write_tables(f)
                f.writer.close()
            except Exception:
                f.writer.close()
                raise
            os.replace(f.path, f.final)
        finally:
            del self._open[key]

    # --- the writer's hooks -----------------------------------------------------------------

    def _tick(self) -> list[tuple[str | None, int, int]]:
        now = time.monotonic()
        lost = [self._close_quietly(k) for k, f in list(self._open.items())
                if now - f.opened >= self.file_seconds]
        return self._take_lost(lost)

    def _take_lost(self, lost: list) -> list[tuple[str | None, int, int]]:
        out, self._lost = self._lost + [x for x in lost if x is not None], []
        return out

    def _close_quietly(self, key: tuple) -> tuple[str | None, int, int] | None:
        f = self._open[key]
        try:
            self._close_file(key)
            return None
        except Exception:
            self._write_errors += 1
            log.exception("served-facts log: closing %s failed; its %d rows are lost", f.path,
                          f.rows)
            return (f.service, f.requests, f.rows)

    def _seal(self, final: bool) -> list[tuple[str | None, int, int]]:
        return self._take_lost([self._close_quietly(k) for k in list(self._open)])

    def _open_rows(self) -> int:
        return sum(f.rows for f in list(self._open.values()))
