"""Bounded samples of the encoded outputs: from a training set and from the served-vector log.

* **Training set** (a folder written by :func:`spark_jobs.training_set.build_training_set`):
  the manifest is read first; Parquet row counts come from file metadata; only the encoded
  output columns are read, one row group at a time without pre-buffering, files in path order.
  When the set has more than ``max_rows`` rows, a uniform sample without replacement of
  exactly ``max_rows`` row positions is drawn (``numpy.random.default_rng(seed)``), so memory
  is bounded by ``max_rows`` × outputs × 8 bytes plus one decoded row group (the writer's
  row-group size), whatever the number of rows or files.
* **Served-vector log** (:mod:`serving.vector_log`): every line is read once, streaming; rows
  go into a fixed ``max_rows`` × outputs float64 buffer, by reservoir sampling (Algorithm R,
  ``random.Random(seed)``) once the buffer is full. Every line's ``state_hash`` must equal the
  training set's and its ``names`` the encoder set's; a mismatch is a state-version problem
  (:class:`SkewInputError` says which states and the fix), not distribution skew. A line that
  is not JSON (the torn last line a SIGKILL can leave) is skipped with a warning naming its
  file and line, and drop marker lines (requests the server's writer could not log) are
  skipped; both are counted in :attr:`Sample.notes` (:class:`serving.log_reader.LogReader`).

Along the way the log's coverage is counted (:class:`Coverage`): distinct request times and
distinct values of each join key over every row read, each count capped at ``COVERAGE_CAP``
(memory stays bounded; a report only needs to know whether a count reaches a minimum).

JSON ``null`` values and Parquet nulls become ``NaN`` (*missing*, see
:mod:`skew.distribution`). Every problem with the inputs raises :class:`SkewInputError`.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from encoders import EncoderSet, StateError, load
from serving.log_reader import open_log
from skew.distribution import as_float_array
from spark_jobs.training_set import DATA, Manifest

DEFAULT_MAX_ROWS = 200_000
COVERAGE_CAP = 10_000


class SkewInputError(ValueError):
    """A training set, log or state that cannot be compared; the message names the fix."""


@dataclass(frozen=True)
class Coverage:
    """What a served sample covers: distinct request times and distinct values per join key
    over every row read, each counted up to ``cap`` (a count equal to ``cap`` means "at
    least")."""

    request_times: int
    entities: tuple[tuple[str, int], ...]
    cap: int = COVERAGE_CAP


class _Distinct:
    """Distinct values counted up to a cap (memory bounded)."""

    def __init__(self, cap: int) -> None:
        self.cap, self.seen = cap, set()

    def add(self, value: object) -> None:
        if len(self.seen) < self.cap:
            self.seen.add(value if isinstance(value, (str, int, float, type(None)))
                          else repr(value))


@dataclass(frozen=True)
class Sample:
    """Encoded output columns (float64, ``NaN`` = missing) of ``rows_read`` rows out of the
    ``rows_total`` the source holds; ``notes``: what a report should say about the source
    (log lines skipped, requests the server dropped from its log)."""

    source: str
    columns: Mapping[str, np.ndarray]
    rows_total: int
    rows_read: int
    notes: tuple[str, ...] = ()
    coverage: Coverage | None = None

    @property
    def sampled(self) -> bool:
        return self.rows_read < self.rows_total

    def describe(self) -> str:
        """E.g. ``5,012 rows (all)`` or ``200,000 of 3,100,000 rows (uniform sample)``."""
        if self.sampled:
            return f"{self.rows_read:,} of {self.rows_total:,} rows (uniform sample)"
        return f"{self.rows_read:,} rows (all)"


def _check_max_rows(max_rows: int) -> None:
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise SkewInputError(f"max_rows={max_rows!r} must be an integer >= 1 (default "
                             f"{DEFAULT_MAX_ROWS:,})")


# --- training set ---------------------------------------------------------------------------


def read_manifest(directory: str | os.PathLike[str]) -> Manifest:
    """The training set's manifest; a missing folder or manifest raises naming the fix."""
    d = Path(directory)
    if not d.is_dir():
        raise SkewInputError(f"no training set at {d}: not a folder. Pass --training-set with a "
                             "folder written by `skewless training-set`")
    try:
        return Manifest.read(d)
    except FileNotFoundError as exc:
        raise SkewInputError(str(exc)) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise SkewInputError(f"{d}/manifest.json is not a training-set manifest ({exc}); "
                             "rebuild the training set") from None


def load_training_state(manifest: Manifest, directory: str | os.PathLike[str],
                        state_path: str | os.PathLike[str] | None = None) -> EncoderSet:
    """The encoder set the training set was built with, checked against the manifest's hash.

    ``state_path`` wins; else the manifest's ``inputs.state`` when that file exists; else the
    state path the registry declares for the manifest's service (the repo of
    ``feast_bridge.store.repo_path()``).
    """
    if state_path is None:
        recorded = manifest.inputs.get("state")
        if recorded and Path(recorded).is_file():
            state_path = recorded
        else:
            from feast_bridge.services import get_service
            from feast_bridge.store import open_store

            try:
                state_path = get_service(open_store(), manifest.service or None).state_path
            except (LookupError, FileNotFoundError) as exc:
                raise SkewInputError(f"no state recorded for the training set at {directory} "
                                     f"and none found in the repo ({exc}); pass --state") from None
    try:
        return load(state_path, expected_hash=manifest.state_hash)
    except StateError as exc:
        raise SkewInputError(
            f"cannot use the encoder state at {state_path} for the training set at {directory} "
            f"(built with {manifest.state_hash}): {exc}. Pass --state with the state file the "
            "training set was built with") from None


def read_training_sample(directory: str | os.PathLike[str], names: Sequence[str],
                         max_rows: int = DEFAULT_MAX_ROWS, seed: int = 0) -> Sample:
    """Columns ``names`` of at most ``max_rows`` rows of the training set (module docstring)."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    _check_max_rows(max_rows)
    data = Path(directory) / DATA
    if not data.is_dir():
        raise SkewInputError(f"{directory} has a manifest but no {DATA}/ folder; rebuild the "
                             "training set")
    dataset = ds.dataset(str(data), format="parquet")
    missing = [n for n in names if n not in dataset.schema.names]
    if missing:
        raise SkewInputError(f"the training set at {directory} lacks encoded columns "
                             f"{missing[:8]}; it was not built with this encoder set — rebuild "
                             "it or pass the state it was built with (--state)")
    fragments = sorted(dataset.get_fragments(), key=lambda f: f.path)
    total = sum(f.count_rows() for f in fragments)
    if total == 0:
        raise SkewInputError(f"the training set at {directory} has no rows; rebuild it with "
                             "labels inside the features' time range")
    wanted = None
    if total > max_rows:
        wanted = np.sort(np.random.default_rng(seed).choice(total, size=max_rows,
                                                            replace=False))
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    offset = 0
    for fragment in fragments:
        # one row group decoded at a time, no pre-buffering: less peak memory than the
        # dataset scanner's read-ahead (see the module docstring)
        with dataset.filesystem.open_input_file(fragment.path) as fh:
            for batch in pq.ParquetFile(fh, pre_buffer=False).iter_batches(
                    batch_size=65_536, columns=list(names), use_threads=False):
                n = batch.num_rows
                take = None
                if wanted is not None:
                    lo, hi = np.searchsorted(wanted, [offset, offset + n])
                    take = wanted[lo:hi] - offset
                offset += n
                if take is not None and take.size == 0:
                    continue
                for name in names:
                    col = batch.column(name)
                    parts[name].append(as_float_array(col if take is None else col.take(take)))
    columns = {n: np.concatenate(p) if p else np.empty(0) for n, p in parts.items()}
    return Sample(str(directory), columns, total, min(total, max_rows))


# --- served-vector log ----------------------------------------------------------------------


def read_served_sample(directory: str | os.PathLike[str], names: Sequence[str],
                       state_hash: str, max_rows: int = DEFAULT_MAX_ROWS,
                       seed: int = 0, entity_keys: Sequence[str] = ()) -> Sample:
    """Columns ``names`` of at most ``max_rows`` served rows whose lines all carry
    ``state_hash``, and the log's :class:`Coverage` of request times and of the values of
    each of ``entity_keys`` (module docstring)."""
    _check_max_rows(max_rows)
    d = Path(directory)
    if not d.is_dir():
        raise SkewInputError(f"no served-vector log at {d}: not a folder. Pass --log with the "
                             "server's SKEWLESS_VECTOR_LOG_DIR (default data/vector_log)")
    names = list(names)
    width = len(names)
    buf = np.empty((min(max_rows, 4096), width), dtype=np.float64)  # grows to max_rows
    rng = random.Random(seed)
    seen = 0
    hashes: Counter[str] = Counter()
    times = _Distinct(COVERAGE_CAP)
    keys = {k: _Distinct(COVERAGE_CAP) for k in entity_keys}
    reader = open_log(d)
    for record in reader:
        where = reader.where
        rows = _record_rows(record, where)
        hashes[str(record.get("state_hash"))] += len(rows)
        if record.get("state_hash") != state_hash:
            continue  # reported below, once every line is counted
        _check_names(record, where, names)
        times.add(record.get("time"))
        for row in rows:
            for k, distinct in keys.items():
                distinct.add(row.get(k) if isinstance(row, dict) else None)
            values = row.get("values") if isinstance(row, dict) else None
            if not isinstance(values, list) or len(values) != width:
                raise SkewInputError(f"{where} has a row without {width} values; the log is "
                                     "damaged — remove it")
            slot = seen if seen < max_rows else rng.randrange(seen + 1)
            seen += 1
            if slot < max_rows:
                if slot == len(buf):
                    buf = np.concatenate([buf, np.empty((min(len(buf), max_rows - len(buf)),
                                                         width))])
                try:
                    buf[slot] = values
                except (TypeError, ValueError) as exc:
                    raise SkewInputError(f"{where} has a non-numeric value ({exc}); the log "
                                         "is damaged") from None
    other = {h: n for h, n in hashes.items() if h != state_hash}
    if other:
        served = ", ".join(f"{n:,} rows served with {h}" for h, n in sorted(other.items()))
        if seen:
            served += f" (and {seen:,} with the training set's state)"
        raise SkewInputError(
            f"state-version problem, not distribution skew: the log at {d} holds {served}, "
            f"but the training set was built with {state_hash}. Compare a training set built "
            "with the state the server holds (`skewless training-set`), or a log folder "
            "written only by servers holding the training set's state (move older log files "
            "away after a redeploy)")
    if seen == 0:
        raise SkewInputError(f"the served-vector log at {d} is empty (no served rows in "
                             "its JSON lines or Parquet facts"
                             + "".join(f"; {n}" for n in reader.notes())
                             + "); serve some requests first or point --log at the server's "
                             "log folder")
    kept = min(seen, max_rows)
    coverage = Coverage(len(times.seen), tuple((k, len(v.seen)) for k, v in keys.items()))
    return Sample(str(d), {n: buf[:kept, i].copy() for i, n in enumerate(names)}, seen, kept,
                  tuple(reader.notes()), coverage)


def _record_rows(record: object, where: str) -> list:
    if not isinstance(record, dict) or not isinstance(record.get("rows"), list):
        raise SkewInputError(f"{where} is not a served-vector record (no 'rows'); point --log "
                             "at the server's log folder (serving.vector_log or facts_log)")
    return record["rows"]


def _check_names(record: dict, where: str, names: list[str]) -> None:
    logged = record.get("names")
    if logged != names:
        raise SkewInputError(
            f"{where} logs outputs {str(logged)[:120]} but the encoder set has "
            f"{str(names)[:120]}, with the same state hash; the log is damaged — remove it")
