"""Reading the served log: every logged request of a log folder, oldest first, with a count of
what was not a request — whichever format wrote it: JSON lines (:mod:`serving.vector_log`) and
Parquet served facts (:mod:`serving.facts_log`, read by :mod:`serving.facts_reader`), both
yielding the same records.

JSON lines:
Files are read oldest first — rotated files (``vectors.jsonl.N`` … ``.1``), then the current
one — then those of each worker's sub-folder ``worker-<k>`` (several server processes,
:mod:`serving.workers`). A line that is not JSON (the torn last line a SIGKILL can leave, or
damage) is skipped and named (file, line number); a drop marker line is skipped and its counts
added up; blank lines are ignored.

Parquet (after the JSON lines of the same folder): every closed ``.parquet`` file, by service,
date, hour and name; the hidden ``.open`` files (being written, or left by a crash) are counted
and named in the notes, never read; a file that cannot be read is skipped and named; the drop
markers of ``_drops-*.jsonl`` are added up.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.facts_reader import drop_markers, facts_files, facts_records, has_facts
from serving.log_queue import DROP_MARKER
from serving.vector_log import FILE_NAME

__all__ = ["LogReader", "SkippedLine", "is_marker", "log_files", "open_log", "read_log"]

log = logging.getLogger("skewless.vector_log")


def log_files(directory: str | Path) -> list[Path]:
    """The log's files, oldest first (rotated files, then the current one), then those of each
    worker's sub-folder ``worker-<k>`` (several server processes: :mod:`serving.workers`),
    folder by folder in worker order."""
    d = Path(directory)
    files = sorted((p for p in d.glob(FILE_NAME + ".*") if p.suffix[1:].isdigit()),
                   key=lambda p: -int(p.suffix[1:]))
    files += [d / FILE_NAME] if (d / FILE_NAME).exists() else []
    workers = [p for p in d.glob("worker-*") if p.is_dir() and p.name[7:].isdigit()]
    for sub in sorted(workers, key=lambda p: int(p.name[7:])):
        files += log_files(sub)
    return files


def is_marker(record: object) -> bool:
    """Whether a decoded line is a marker (e.g. a drop count), not a served request."""
    return isinstance(record, dict) and "marker" in record


@dataclass(frozen=True)
class SkippedLine:
    """A line that is not JSON: its file, its 1-based line number and why."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return (f"{self.path} line {self.line}: {self.reason}" if self.line
                else f"{self.path}: {self.reason}")


class LogReader:
    """The requests of a log folder, oldest first, with a count of what was not a request.

    Iterating yields each served-vector record (a decoded line: a dict for a line the server
    wrote). Along the way a line that is not JSON — the torn last line a SIGKILL can leave, or
    damage — is skipped, kept in :attr:`skipped` (file, line number, reason) and logged as a
    warning naming them; a drop marker is skipped and its counts added to
    :attr:`dropped_requests` / :attr:`dropped_rows`. :attr:`where` names the file and line of
    the record last yielded. Blank lines are ignored."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.skipped: list[SkippedLine] = []
        self.dropped_requests = 0
        self.dropped_rows = 0
        self.where = ""
        self.unclosed: list[Path] = []  # Parquet files being written, or torn by a crash

    def __iter__(self) -> Iterator[Any]:
        for path in log_files(self.directory):
            with path.open("rb") as fh:
                for number, raw in enumerate(fh, start=1):
                    if not raw.strip():
                        continue
                    try:
                        record = json.loads(raw)
                    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
                        self._skip(path, number, exc)
                        continue
                    if is_marker(record):
                        self._count(record)
                        continue
                    self.where = f"{path} line {number}"
                    yield record
        if has_facts(self.directory):
            yield from self._facts()

    def _facts(self) -> Iterator[Any]:
        closed, self.unclosed = facts_files(self.directory)
        for record in drop_markers(self.directory):
            if is_marker(record):
                self._count(record)
        for path in closed:
            try:
                records = list(facts_records(path))
            except OSError as exc:
                self.skipped.append(SkippedLine(str(path), 0, str(exc)[:200]))
                log.warning("%s: skipped", self.skipped[-1])
                continue
            for number, record in enumerate(records, start=1):
                self.where = f"{path} request {number}"
                yield record

    def _skip(self, path: Path, number: int, exc: ValueError) -> None:
        skipped = SkippedLine(str(path), number, f"not JSON ({str(exc)[:100]})")
        self.skipped.append(skipped)
        log.warning("%s: skipped (a crash while writing leaves a torn last line)", skipped)

    def _count(self, record: dict) -> None:
        if record.get("marker") == DROP_MARKER:
            for field in ("requests", "rows"):
                value = record.get(field)
                if isinstance(value, int) and not isinstance(value, bool):
                    setattr(self, f"dropped_{field}", getattr(self, f"dropped_{field}") + value)

    def notes(self) -> list[str]:
        """Sentences for a report: the lines skipped and the drops the log records."""
        out = []
        lines = [x for x in self.skipped if x.line]
        files = [x for x in self.skipped if not x.line]
        for what, skipped in (("log line(s) that are not JSON", lines),
                              ("served-facts file(s) that cannot be read", files)):
            if skipped:
                shown = "; ".join(str(x) for x in skipped[:3])
                more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
                out.append(f"skipped {len(skipped)} {what}: {shown}{more}")
        if self.unclosed:
            out.append(f"{len(self.unclosed)} served-facts file(s) not closed, not read (being "
                       "written now, or torn when a server was killed): "
                       + ", ".join(p.name for p in self.unclosed[:3]))
        if self.dropped_requests:
            out.append(f"the server's log writer dropped {self.dropped_requests:,} requests "
                       f"({self.dropped_rows:,} rows) when its queue was full: not in the log")
        return out


def read_log(directory: str | Path) -> Iterator[Any]:
    """Every logged request, oldest first (:class:`LogReader`: torn lines and markers are
    skipped)."""
    return iter(LogReader(directory))


def open_log(directory: str | Path) -> LogReader:
    """The reader for the log in ``directory``: the one place a command picks how a log folder
    is read (JSON lines and Parquet served facts, module docstring; another format plugs in
    here). The reader iterates served-request records and has ``notes()``."""
    return LogReader(directory)
