"""Log replay: the served-vector log through the offline path at the logged times.

Every logged row (entity keys, the request inputs, the values served, the
per-view statuses, the state hash, the request time) becomes a pair for the offline side of
:mod:`skew.parity` — one Spark job: Feast's point-in-time join at the logged time, the encoders
in Spark with the training state — and the served values are compared feature by feature.
The report's ``match_rate`` per feature is the consistency measure Chronon reports; the
differences are classified as in :mod:`skew.classify`. A served-facts log (Parquet,
:mod:`serving.facts_log`) holds the raw inputs the server encoded, so a difference with equal
statuses and an unchanged state is ``value`` with cause ``raw_input`` when a raw input differs
(naming it), ``request_time_shift`` when re-encoding the offline inputs at a shifted time
reproduces it; a JSON-lines log holds no raw inputs, so there the rest is ``unknown``.

Edge cases: a line of the log that is not JSON (the torn last line a SIGKILL can leave) is
skipped with a warning naming its file and line, and the report's notes count it, as they
count the requests the server's writer recorded as dropped (drop marker lines, never
replayed); an empty log (or none in the time window) raises ``ValueError``; a line logged
with another state hash than the training state's classifies that line's differences as
``state_version`` (the report's online hash is the most common logged one); logged feature
names that the training set lacks (or the reverse) raise, naming them — the log is then from
another model contract.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from encoders import EncoderSet
from serving.log_reader import open_log
from serving.online import SERVED_STATUSES
from skew.classify import (
    Difference,
    Lineage,
    RowContext,
    Side,
    Tolerances,
    classify_row,
    lineage,
    normalise_status,
)
from skew.offline_side import offline_side
from skew.pairs import aware_time
from skew.report import ParityReport, summarise
from skew.sources import AS_OF

_NOT_INPUTS = ("values", "statuses", "views")  # a logged row's parts that are not its inputs


def logged_rows(entries: Iterable[Mapping[str, Any]], since: datetime | None = None,
                until: datetime | None = None, limit: int | None = None,
                service: str | None = None) -> list[dict[str, Any]]:
    """Flatten log entries to one dict per served row: the row's keys and request inputs,
    ``event_timestamp`` (the request time), ``names``, ``values``, ``statuses``,
    ``state_hash``, ``request_id``. ``limit`` keeps the rows of the latest request times
(whatever file or worker folder they came from). ``service`` keeps
    the entries served by that encoded service, and the entries that name no service (logged
    by a writer that did not record it)."""
    out = []
    for n, e in enumerate(entries):
        try:
            when = aware_time(e["time"], n)
            names, hash_, rows = e["names"], e["state_hash"], e["rows"]
            served_by = e.get("service")
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"log line {n} is not a served-vector record ({exc}); pass the "
                             "directory of serving/vector_log.py's vectors.jsonl") from None
        if (since and when < since) or (until and when > until):
            continue
        if service is not None and served_by not in (None, service):
            continue
        for r in rows:
            out.append({**{k: v for k, v in r.items() if k not in _NOT_INPUTS},
                        AS_OF: when, "names": names, "values": r["values"],
                        "statuses": r.get("statuses", {}), "state_hash": hash_,
                        "request_id": e.get("request_id"), "views": r.get("views")})
    if not limit:
        return out
    # by request time (stable): with several workers the files come worker by worker
    return sorted(out, key=lambda r: r[AS_OF])[-limit:]


@dataclass(frozen=True)
class ReplayedRow:
    """One logged row beside its offline replay: the logged row (keys, request inputs, request
    time), both sides (values by output name, normalised view statuses) and its differences."""

    logged: Mapping[str, Any]
    online: Side
    offline: Side
    differences: tuple[Difference, ...]


@dataclass(frozen=True)
class Replay:
    """A replay: every row side by side (:class:`ReplayedRow`), the output lineage and the
    summary report (:class:`~skew.report.ParityReport`)."""

    rows: tuple[ReplayedRow, ...]
    lineage: Mapping[str, Lineage]
    report: ParityReport
    notes: tuple[str, ...] = ()  # the caller's notes (e.g. the log reader's), in the report too


def replay_log(log_dir: str | os.PathLike[str], repo: str | os.PathLike[str],
               enc: EncoderSet, *, service: str | None = None, as_known: bool = True,
               tolerances: Tolerances | None = None, since: datetime | None = None,
               until: datetime | None = None, limit: int | None = None, spark: Any = None
               ) -> ParityReport:
    """Replay the log in ``log_dir`` against the offline path of ``repo`` with the training
    state ``enc`` (see module docstring)."""
    if not Path(log_dir).is_dir():
        raise ValueError(f"{log_dir} is not a directory; pass the served-vector log folder "
                         "(SKEWLESS_VECTOR_LOG_DIR, default data/vector_log)")
    reader = open_log(log_dir)
    logged = logged_rows(reader, since, until, limit, service)
    if not logged:
        raise ValueError(f"the log in {log_dir} has no served rows"
                         + (" in the time window" if since or until else "")
                         + "".join(f" ({n})" for n in reader.notes())
                         + "; serve some requests first (POST /features or /rank)")
    return replay_rows(logged, repo, enc, service=service, as_known=as_known,
                       tolerances=tolerances, spark=spark, notes=reader.notes()).report


def replay_rows(logged: Sequence[Mapping[str, Any]], repo: str | os.PathLike[str],
                enc: EncoderSet, *, service: str | None = None, as_known: bool = True,
                tolerances: Tolerances | None = None, spark: Any = None,
                notes: Sequence[str] = ()) -> Replay:
    """Replay rows flattened by :func:`logged_rows` (non-empty) against the offline path of
    ``repo`` with the training state ``enc``: one Spark job, then each row compared and
    classified (module docstring). ``notes`` (e.g. the log reader's) go into the report."""
    from feast_bridge.store import open_store
    from spark_jobs.spark_session import get_spark

    t0 = time.perf_counter()
    if not logged:
        raise ValueError("no logged rows to replay; serve some requests first")
    names = list(enc.names)
    for name_list in {tuple(r["names"]) for r in logged}:
        if list(name_list) != names:
            extra = sorted(set(name_list) - set(names))
            lacking = sorted(set(names) - set(name_list))
            raise ValueError(f"logged vectors have another schema than the training state "
                             f"(extra {extra}, missing {lacking}, or another order); replay "
                             "against the state the log's model was trained on")
    tolerances = tolerances or Tolerances()
    spark = spark or get_spark("skewless-replay")
    store = open_store(Path(repo))
    side = offline_side(spark, store, store, enc, logged, service, as_known)
    views, pairs, offline, entity_keys = side.views, side.rows, side.offline, side.entity_keys
    t1 = time.perf_counter()
    lin = lineage(enc, {v.name: v.features for v in views})
    everything = frozenset(fe.spec.name for fe in enc.encoders)
    replayed = []
    for i, (row, pair, off) in enumerate(zip(logged, pairs, offline)):
        statuses = row["statuses"] or {}
        online = Side(dict(zip(names, row["values"])),
                      {v: normalise_status(s) for v, s in statuses.items()},
                      _served_raw(row, pair, side.request_inputs), dict(statuses))
        changed = frozenset() if row["state_hash"] == enc.content_hash else everything
        ctx = RowContext(i, tuple((k, pair[k]) for k in entity_keys),
                         pair[AS_OF].timestamp(), pair[AS_OF].isoformat(), off.versions)
        diffs = classify_row(ctx, off.side, online, lin, enc, changed, tolerances)
        replayed.append(ReplayedRow(row, online, off.side, tuple(diffs)))
    seconds = {"offline": t1 - t0, "compare": time.perf_counter() - t1,
               "total": time.perf_counter() - t0}
    return Replay(tuple(replayed), lin, _report(replayed, enc, tolerances, seconds, notes),
                  tuple(notes))


def _served_raw(row: Mapping[str, Any], pair: Mapping[str, Any], request_inputs: Sequence[str]
                ) -> dict[str, Any] | None:
    """The raw inputs the server encoded, from a served-facts row (``None`` for a JSON-lines
    row, which holds none): the request inputs as replayed, and each view's features as read,
    or missing when the view's row was not served (expired, future, missing)."""
    views = row.get("views")
    if not views:
        return None
    raw = {k: pair[k] for k in request_inputs}
    statuses = row.get("statuses") or {}
    for view, fact in views.items():
        served = statuses.get(view) in SERVED_STATUSES
        raw.update({f: v if served else None for f, v in fact["values"].items()})
    return raw


def _report(rows: Sequence[ReplayedRow], enc: EncoderSet, tolerances: Tolerances,
            seconds: Mapping[str, float], notes: Sequence[str]) -> ParityReport:
    """The summary of replayed ``rows`` (non-empty): differences, status counts per side and
    the logged state hashes (noted when several)."""
    counts: Counter = Counter()
    for r in rows:
        for v, st in r.online.status_detail.items():
            counts[("online", v, st)] += 1
        for v, st in r.offline.statuses.items():
            counts[("offline", v, st)] += 1
    hashes = Counter(r.logged["state_hash"] for r in rows)
    all_notes = ["logged state hashes: " + ", ".join(f"{h} ({n} rows)" for h, n in
                                                      hashes.most_common())] \
        if len(hashes) > 1 else []
    all_notes += list(notes)
    return summarise("replay", list(enc.names), len(rows),
                     (d for r in rows for d in r.differences), tolerances,
                     (enc.content_hash, hashes.most_common(1)[0][0]), counts, seconds,
                     all_notes)


def split_replay(replay: Replay, sizes: Sequence[int], enc: EncoderSet,
                 tolerances: Tolerances | None = None) -> list[Replay]:
    """``replay`` cut into consecutive parts of ``sizes`` rows (summing to its row count),
    each with its own report — what replaying each part alone gives, from one offline job
    (each row's offline side depends on that row only). Edge cases: a part's differences keep
    their row numbers in the whole replay, its ``seconds`` are the whole replay's, and the
    reader's notes of the whole replay go into every part; a part of 0 rows raises."""
    if sum(sizes) != len(replay.rows) or any(n < 1 for n in sizes):
        raise ValueError(f"parts of {list(sizes)} rows do not cut a replay of "
                         f"{len(replay.rows)} rows into non-empty parts")
    tolerances = tolerances or replay.report.tolerances
    seconds = dict(replay.report.seconds)
    out, at = [], 0
    for n in sizes:
        rows = replay.rows[at:at + n]
        out.append(Replay(rows, replay.lineage,
                          _report(rows, enc, tolerances, seconds, replay.notes), replay.notes))
        at += n
    return out
