"""The served-vector log: every vector the server returns, as JSON lines, rotated by size.

Each line is one request: ``request_id``, ``time`` (the request time, ISO-8601 UTC),
``logged_at``, ``endpoint``, ``service`` (the encoded service that answered; null when the
writer named none), ``state_hash``, ``model_id`` (or null), ``names`` (the vector's column
names, once per line), and ``rows``: for each entity row its join keys, its request inputs,
per-view statuses and the values in schema order. Datetime request inputs are written as
ISO-8601 text. The skew checks read these files.

Writing happens on a background thread (``logging.handlers.QueueListener``) so a request pays
only for putting a dict on a queue; files rotate at ``max_bytes`` keeping ``backups`` old ones
(``vectors.jsonl``, ``vectors.jsonl.1``, …). :meth:`VectorLog.close` flushes everything.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import queue
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FILE_NAME = "vectors.jsonl"


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # RotatingFileHandler formats each record twice (once to measure it for rollover):
        # serialize once and keep the line on the record.
        line = getattr(record, "skewless_line", None)
        if line is None:
            line = json.dumps(record.msg, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False, default=_iso)
            record.skewless_line = line
        return line


def _iso(value: Any) -> str:
    """JSON for a datetime request input; anything else is a bug of the writer."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"a served-vector log row holds {type(value).__name__}; log JSON values")


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
        record = logging.makeLogRecord({"msg": {
            "request_id": request_id,
            "time": request_time.astimezone(timezone.utc).isoformat(),
            "logged_at": datetime.now(timezone.utc).isoformat(),
            "endpoint": endpoint,
            "service": service,
            "state_hash": state_hash,
            "model_id": model_id,
            "names": list(names),
            "rows": list(rows),
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
    """Every logged request, oldest file first (rotated files, then the current one)."""
    d = Path(directory)
    files = sorted(d.glob(FILE_NAME + ".*"), key=lambda p: -int(p.suffix[1:]))
    files += [d / FILE_NAME] if (d / FILE_NAME).exists() else []
    for path in files:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)
