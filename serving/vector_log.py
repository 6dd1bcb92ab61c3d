"""The served-vector log: every vector the server returns, as JSON lines, rotated by size.

Each line is one request: ``request_id``, ``time`` (the request time, ISO-8601 UTC),
``logged_at``, ``endpoint``, ``service`` (the encoded service that answered; null when the
writer named none), ``state_hash``, ``model_id`` (or null), ``names`` (the vector's column
names, once per line), and ``rows``: for each entity row its join keys, its request inputs,
per-view statuses and the values in schema order. Datetime request inputs are written as
ISO-8601 text. The skew checks read these files.

Writing happens on a background thread (``logging.handlers.QueueListener``) so a request pays
only for putting its pieces on a queue: :meth:`VectorLog.write_encoded` even leaves building the
per-row dicts to that thread. The line is serialized once, with ``pydantic_core.to_json`` (Rust;
~7x cheaper than ``json.dumps`` on a 100-row line, which matters because the writer thread holds
the GIL the request threads need). Edge cases: a float is written in its shortest round-trip
form (``1e-7``, where ``json.dumps`` writes ``1e-07``: the same double when read back); a
non-finite value (no encoder produces one) is written as ``null``, as the HTTP responses do,
never as a bare ``NaN`` token; a string ``to_json`` cannot encode as UTF-8 (a lone surrogate)
makes that line fall back to ``json.dumps`` with ASCII escapes, so the line is still written.
Files rotate at ``max_bytes`` keeping ``backups`` old ones (``vectors.jsonl``,
``vectors.jsonl.1``, …). :meth:`VectorLog.flush` and :meth:`VectorLog.close` write everything
queued.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import queue
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

FILE_NAME = "vectors.jsonl"


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # RotatingFileHandler formats each record twice (once to measure it for rollover):
        # serialize once and keep the line on the record.
        line = getattr(record, "skewless_line", None)
        if line is None:
            line = record.skewless_line = _line(record.msg)
        return line


def _line(entry: dict[str, Any]) -> str:
    """One JSON line for ``entry`` (rows built here, on the writer thread, when deferred)."""
    build = entry.pop("rows_from", None)
    if build is not None:
        entry["rows"] = build()
    rows = entry["rows"]
    if any(isinstance(v, datetime) for row in rows for v in row.values()):
        # datetime request inputs as ISO-8601 text (``+00:00``); the caller's dicts stay as is
        entry["rows"] = [{k: v.isoformat() if isinstance(v, datetime) else v
                          for k, v in row.items()} for row in rows]
    try:
        return to_json(entry, inf_nan_mode="null").decode("utf-8")
    except PydanticSerializationError:  # e.g. a lone surrogate: ASCII escapes always encode
        return json.dumps(entry, separators=(",", ":"), ensure_ascii=True, default=_iso)


def _iso(value: Any) -> str:
    """JSON for a value ``to_json`` refused; anything but a datetime is a bug of the writer."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"a served-vector log row holds {type(value).__name__}; log JSON values")


def _served_rows(keys: Sequence[Mapping[str, Any]], context: Mapping[str, Any],
                 encoded: Sequence[Any]) -> list[dict[str, Any]]:
    return [{**context, **row, "statuses": r.statuses, "values": r.values}
            for row, r in zip(keys, encoded)]


class VectorLog:
    """Asynchronous, rotating JSON-lines log of served vectors."""

    def __init__(self, directory: str | Path, max_bytes: int = 50_000_000,
                 backups: int = 10) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        handler = logging.handlers.RotatingFileHandler(
            self.directory / FILE_NAME, maxBytes=max_bytes, backupCount=backups,
            encoding="utf-8")
        handler.setFormatter(_JsonLines())
        self._listener = logging.handlers.QueueListener(self._queue, handler)
        self._handler = handler
        self._closed = False
        self._listener.start()

    def write(self, *, request_id: str, request_time: datetime, endpoint: str,
              state_hash: str, model_id: str | None, names: Sequence[str],
              rows: Sequence[dict[str, Any]], service: str | None = None) -> None:
        """Queue one request's vectors (``rows``: keys, request inputs, statuses, values)."""
        self._put(request_id, request_time, endpoint, state_hash, model_id, names, service,
                  rows=list(rows))

    def write_encoded(self, *, request_id: str, request_time: datetime, endpoint: str,
                      state_hash: str, model_id: str | None, names: Sequence[str],
                      keys: Sequence[Mapping[str, Any]], context: Mapping[str, Any],
                      encoded: Sequence[Any], service: str | None = None) -> None:
        """Queue one request's vectors as served: ``keys[i]`` (the row's join keys and own
        request inputs) and ``encoded[i]`` (an :class:`serving.online.EncodedRow`) make row
        ``i``, with the top-level request inputs ``context`` (a row's own value wins) — the
        same line as :meth:`write`, its rows built on the writer thread. The caller must not
        mutate ``keys`` or ``context`` afterwards (encoded rows are immutable)."""
        self._put(request_id, request_time, endpoint, state_hash, model_id, names, service,
                  rows_from=partial(_served_rows, keys, context, encoded))

    def _put(self, request_id: str, request_time: datetime, endpoint: str, state_hash: str,
             model_id: str | None, names: Sequence[str], service: str | None,
             **rows: Any) -> None:
        record = logging.makeLogRecord({"msg": {
            "request_id": request_id,
            "time": request_time.astimezone(timezone.utc).isoformat(),
            "logged_at": datetime.now(timezone.utc).isoformat(),
            "endpoint": endpoint,
            "service": service,
            "state_hash": state_hash,
            "model_id": model_id,
            "names": names,
            **rows,
        }})
        self._queue.put(record)

    def flush(self) -> None:
        """Block until every queued record is on disk (the writer is restarted after)."""
        if not self._closed:
            self._listener.stop()
            self._handler.flush()
            self._listener.start()

    def close(self) -> None:
        """Write what is queued and stop the writer; calling it again does nothing."""
        if not self._closed:
            self._closed = True
            self._listener.stop()
            self._handler.close()


def read_log(directory: str | Path) -> Iterator[dict[str, Any]]:
    """Every logged request, oldest file first (rotated files, then the current one), then
    those of each worker's sub-folder ``worker-<k>`` (several server processes:
    :mod:`serving.workers`), folder by folder."""
    d = Path(directory)
    files = sorted(d.glob(FILE_NAME + ".*"), key=lambda p: -int(p.suffix[1:]))
    files += [d / FILE_NAME] if (d / FILE_NAME).exists() else []
    for path in files:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)
    workers = [p for p in d.glob("worker-*") if p.is_dir() and p.name[7:].isdigit()]
    for sub in sorted(workers, key=lambda p: int(p.name[7:])):
        yield from read_log(sub)
