"""Reading the served-facts log (:mod:`serving.facts_log` writes it, in the schema of
:mod:`serving.facts_schema`).

* :func:`facts_files` lists a log folder's closed Parquet files (the only ones read) and the
  hidden ``.open`` files: being written now, or torn by a crash (never read; counted);
* :func:`facts_records` turns one file into served-request records, the same dicts the JSON-lines
  log holds (``request_id``, ``time``, ``logged_at``, ``endpoint``, ``service``,
  ``state_hash``, ``model_id``, ``names``, ``rows``: keys, request inputs, ``statuses``,
  ``values``), each row with ``views`` too: per view its ``event_timestamp`` and the feature
  ``values`` read (native Python values: aware datetimes, not text) — so every consumer of
  :func:`serving.log_reader.open_log` reads both formats;
* :func:`drop_markers` yields the drop marker records of ``_drops-*.jsonl``.

Times are ISO-8601 UTC text, as in the JSON-lines log. Edge case: a file that cannot be read
(damaged after it was closed) raises ``OSError`` naming it; the caller skips and counts it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from encoders.values import as_utc
from serving.facts_log import DROPS_PREFIX, OPEN_SUFFIX
from serving.facts_schema import (
    ENDPOINT,
    LOGGED_AT,
    META_SERVICE,
    MODEL_ID,
    REQUEST_ID,
    REQUEST_TIME,
    STATE_HASH,
    VECTOR,
    int_outputs_of,
    layout_of,
    names_of,
    stamp_column,
    status_column,
)

__all__ = ["drop_markers", "facts_files", "facts_records", "has_facts"]



def has_facts(directory: str | Path) -> bool:
    """Whether ``directory`` holds a served-facts log (a ``service=`` folder or drop file)."""
    d = Path(directory)
    return any(p.is_dir() for p in d.glob("service=*")) or any(d.glob(DROPS_PREFIX + "*"))


def facts_files(directory: str | Path) -> tuple[list[Path], list[Path]]:
    """(closed Parquet files, hidden ``.open`` files) of the log in ``directory``, each sorted
    by service, date, hour and name (oldest first within a partition)."""
    d = Path(directory)
    closed = sorted(p for p in d.glob("service=*/date=*/hour=*/*.parquet")
                    if not p.name.startswith((".", "_")))
    unclosed = sorted(d.glob(f"service=*/date=*/hour=*/.*{OPEN_SUFFIX}"))
    return closed, unclosed


def drop_markers(directory: str | Path) -> Iterator[dict[str, Any]]:
    """The drop marker records of the log in ``directory`` (lines that are not JSON skipped)."""
    for path in sorted(Path(directory).glob(DROPS_PREFIX + "*.jsonl")):
        with path.open("rb") as fh:
            for raw in fh:
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    yield record


def _iso(v: Any) -> Any:
    return as_utc(v).isoformat() if isinstance(v, datetime) else v


def facts_records(path: Path) -> Iterator[dict[str, Any]]:
    """The served requests of one closed facts file, in the order written (module docstring);
    raises ``OSError`` naming the file when it cannot be read."""
    try:
        table = pq.read_table(path, partitioning=None)
    except Exception as exc:  # ArrowInvalid etc.: not a whole Parquet file
        raise OSError(f"{path}: not a readable Parquet file ({str(exc)[:120]})") from None
    meta = table.schema.metadata or {}
    service = meta.get(META_SERVICE, b"").decode() or None
    names = names_of(table.schema)
    ints = int_outputs_of(table.schema)
    try:
        layout = layout_of(table.schema)
    except ValueError as exc:
        raise OSError(f"{path}: {exc}") from None
    cols = {name: table.column(name).to_pylist() for name in table.column_names}
    plain = layout["entity_keys"] + layout["request_inputs"]
    views = {v: list(features.items()) for v, features in layout["views"].items()}
    n = table.num_rows
    i = 0
    while i < n:
        rid = cols[REQUEST_ID][i]
        j = i
        while j < n and cols[REQUEST_ID][j] == rid:
            j += 1
        rows = []
        for k in range(i, j):
            row: dict[str, Any] = {c: _iso(cols[c][k]) for c in plain}
            row["statuses"] = {v: cols[status_column(v)][k] for v in views}
            values = cols[VECTOR][k]
            for i in ints:
                if values[i] is not None:
                    values[i] = int(values[i])
            row["values"] = values
            row["views"] = {v: {"event_timestamp": cols[stamp_column(v)][k],
                                "values": {f: cols[c][k] for f, c in features}}
                            for v, features in views.items()}
            rows.append(row)
        yield {"request_id": rid, "time": _iso(cols[REQUEST_TIME][i]),
               "logged_at": _iso(cols[LOGGED_AT][i]), "endpoint": cols[ENDPOINT][i],
               "service": service, "state_hash": cols[STATE_HASH][i],
               "model_id": cols[MODEL_ID][i], "names": names, "rows": rows}
        i = j
