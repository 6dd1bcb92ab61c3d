"""Daily consistency metrics: one UTC day of the served-vector log replayed through the offline
path (:func:`skew.replay.replay_rows`), summarised per service × feature × day.

For every encoded output (*feature*) of the service, over the rows logged with a request time
on day ``D`` (``D 00:00 <= t < D+1 00:00`` UTC):

* ``rows`` compared, ``matches`` (equal, or a difference the tolerance accepts), ``match_rate``
  (``matches / rows``: Chronon's consistency measure, the same as ``skewless replay``'s),
  ``mismatches`` (``rows - matches``);
* ``both_null`` / ``online_only_null`` / ``offline_only_null``: rows where the output is *null*
  on both sides / online only / offline only. The log holds encoded values, not raw inputs, so
  *null* means: the value is missing (``None``/``NaN``) or a feature view the output reads was
  not found on that side (status ``missing``, ``future`` or ``expired``: the encoder then gave
  its missing-value answer);
* ``mean_abs_diff`` and ``p99_abs_diff``: mean and 99th percentile (numpy's linear
  interpolation) of ``|online - offline|`` over the rows where both values are finite numbers,
  equal rows counting 0 — numeric outputs only (:mod:`skew.feature_kinds`); ``None`` for
  categorical outputs and when no row has two finite values;
* ``causes``: the untolerated differences per ``class/cause`` of :mod:`skew.classify`.

Edge cases: a day with no logged row for the service raises :class:`NoLogForDay` naming the
day, the folder and the days the log does hold; rows logged without a service name are kept
(an older writer); the log's lines are read once, keeping only that day's in memory.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from encoders import EncoderSet
from serving.log_reader import open_log
from skew.classify import FOUND, Side, Tolerances
from skew.feature_kinds import output_kinds
from skew.pairs import aware_time
from skew.replay import Replay, logged_rows, replay_rows, split_replay

DEFAULT_THRESHOLD = 0.99


class NoLogForDay(ValueError):
    """The log holds no row of the service on the day asked for; the message names both."""


@dataclass(frozen=True)
class FeatureDay:
    """The consistency of one output of one service on one UTC day (module docstring)."""

    service: str
    day: date
    feature: str
    kind: str
    rows: int
    matches: int
    both_null: int
    online_only_null: int
    offline_only_null: int
    mean_abs_diff: float | None
    p99_abs_diff: float | None
    causes: tuple[tuple[str, int], ...]

    @property
    def mismatches(self) -> int:
        return self.rows - self.matches

    @property
    def match_rate(self) -> float:
        """``matches / rows`` (1.0 for no rows)."""
        return self.matches / self.rows if self.rows else 1.0

    def to_record(self) -> dict[str, Any]:
        """A flat dict for the table (``causes`` as ``class/cause -> rows``)."""
        return {"service": self.service, "date": self.day, "feature": self.feature,
                "kind": self.kind, "rows": self.rows, "matches": self.matches,
                "match_rate": self.match_rate, "mismatches": self.mismatches,
                "both_null": self.both_null, "online_only_null": self.online_only_null,
                "offline_only_null": self.offline_only_null,
                "mean_abs_diff": self.mean_abs_diff, "p99_abs_diff": self.p99_abs_diff,
                "causes": dict(self.causes)}


@dataclass(frozen=True)
class DayConsistency:
    """Every output of one service on one day, with what the replay noted."""

    service: str
    day: date
    features: tuple[FeatureDay, ...]
    state_hash_offline: str
    state_hash_online: str
    notes: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        return self.features[0].rows if self.features else 0

    def below(self, threshold: float) -> tuple[FeatureDay, ...]:
        """The outputs whose match rate is below ``threshold``, worst first."""
        return tuple(sorted((f for f in self.features if f.match_rate < threshold),
                            key=lambda f: (f.match_rate, f.feature)))


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """``(start, end)`` of the UTC day: ``start <= t < end``."""
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def rows_of_day(entries: Iterable[Mapping[str, Any]], day: date, service: str,
                where: str = "the log") -> list[dict[str, Any]]:
    """The rows of ``service`` logged with a request time on ``day`` (UTC), flattened as
    :func:`skew.replay.logged_rows` does; none raises :class:`NoLogForDay` listing the days
    (up to 10) the entries hold for that service."""
    return rows_of_days(entries, [day], service, where)[0]


def rows_of_days(entries: Iterable[Mapping[str, Any]], days: Sequence[date], service: str,
                 where: str = "the log") -> list[list[dict[str, Any]]]:
    """:func:`rows_of_day` for each of ``days``, in one pass over ``entries`` (a lazy reader
    is read once, keeping only those days' entries)."""
    bounds = [day_bounds(day) for day in days]
    kept: list[list[Mapping[str, Any]]] = [[] for _ in days]
    held: Counter[date] = Counter()
    for n, e in enumerate(entries):
        if not isinstance(e, Mapping) or "time" not in e:
            raise ValueError(f"log line {n} of {where} is not a served-vector record; pass "
                             "the folder serving/vector_log.py writes")
        when = aware_time(e["time"], n)
        if e.get("service") not in (None, service):
            continue
        held[when.date()] += len(e.get("rows") or ())
        for (start, end), bucket in zip(bounds, kept):
            if start <= when < end:
                bucket.append(e)
    out = []
    for day, bucket in zip(days, kept):
        rows = logged_rows(bucket, service=service)
        if not rows:
            shown = ", ".join(f"{d} ({k:,} rows)" for d, k in sorted(held.items())[-10:])
            raise NoLogForDay(f"no served rows of service {service!r} logged on {day} (UTC "
                              f"request time) in {where}; days it holds: {shown or 'none'}. "
                              "Pass --date with one of them, or --log with the server's log "
                              "folder for that day")
        out.append(rows)
    return out


def _null(value: Any, views: frozenset[str], not_found: frozenset[str]) -> bool:
    """Whether an output is null on one side (module docstring): a missing or NaN value, or a
    view feeding it (of ``views``) not found on that side (``not_found``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return bool(views & not_found)


def _not_found(side: Side) -> frozenset[str]:
    return frozenset(v for v, s in side.statuses.items() if s != FOUND)


def summarise_day(replay: Replay, service: str, day: date, enc: EncoderSet) -> DayConsistency:
    """Per-output metrics of ``replay`` (module docstring). Each row's sides are read once
    (their views not found, their values), then each output's counts are taken over them."""
    report = replay.report
    kinds = {k.name: k.kind for k in output_kinds(enc)}
    sides = [(r.online.values, _not_found(r.online), r.offline.values, _not_found(r.offline))
             for r in replay.rows]
    causes_of: dict[str, Counter] = {}
    for d in report.differences:
        if not d.tolerated:
            causes_of.setdefault(d.feature, Counter())[f"{d.klass}/{d.cause}"] += 1
    features = []
    for summary in report.features:
        name = summary.name
        lin = replay.lineage.get(name)
        views = frozenset(lin.views) if lin is not None else frozenset()
        nulls: Counter = Counter()
        diffs: list[float] = []
        for on_values, on_missing, off_values, off_missing in sides:
            a, b = on_values.get(name), off_values.get(name)
            nulls[(_null(a, views, on_missing), _null(b, views, off_missing))] += 1
            if _finite(a) and _finite(b):
                diffs.append(abs(float(a) - float(b)))
        numeric = kinds.get(name) == "numeric" and diffs
        causes = causes_of.get(name, Counter())
        features.append(FeatureDay(
            service=service, day=day, feature=name, kind=kinds.get(name, "numeric"),
            rows=summary.compared,
            matches=summary.compared - summary.differing + summary.tolerated,
            both_null=nulls[(True, True)], online_only_null=nulls[(True, False)],
            offline_only_null=nulls[(False, True)],
            mean_abs_diff=float(np.mean(diffs)) if numeric else None,
            p99_abs_diff=float(np.percentile(diffs, 99)) if numeric else None,
            causes=tuple(sorted(causes.items()))))
    return DayConsistency(service, day, tuple(features), report.state_hash_offline,
                          report.state_hash_online, report.notes)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def day_consistency(log_dir: str | os.PathLike[str], repo: str | os.PathLike[str],
                    enc: EncoderSet, service: str, day: date, *, as_known: bool = True,
                    tolerances: Tolerances | None = None, spark: Any = None
                    ) -> DayConsistency:
    """Replay the rows of ``service`` logged on ``day`` in ``log_dir`` (read through
    :func:`serving.log_reader.open_log`) against ``repo``'s offline path with the training
    state ``enc``, and summarise them (module docstring)."""
    return days_consistency(log_dir, repo, enc, service, [day], as_known=as_known,
                            tolerances=tolerances, spark=spark)[0]


def days_consistency(log_dir: str | os.PathLike[str], repo: str | os.PathLike[str],
                     enc: EncoderSet, service: str, days: Sequence[date], *,
                     as_known: bool = True, tolerances: Tolerances | None = None,
                     spark: Any = None) -> list[DayConsistency]:
    """:func:`day_consistency` for each of ``days``, from one replay of all their rows (one
    offline job instead of one per day; each row's replay depends on that row only, so every
    day's metrics are those of its own replay). A day without rows raises
    :class:`NoLogForDay`, as for one day."""
    if not Path(log_dir).is_dir():
        raise NoLogForDay(f"no served-vector log for {days[0] if days else 'those days'}: "
                          f"{log_dir} is not a folder; pass --log with the server's "
                          "SKEWLESS_VECTOR_LOG_DIR")
    if not days:
        return []
    reader = open_log(log_dir)
    per_day = rows_of_days(reader, days, service, str(log_dir))
    replay = replay_rows([r for rows in per_day for r in rows], repo, enc, service=service,
                         as_known=as_known, tolerances=tolerances, spark=spark,
                         notes=reader.notes())
    parts = split_replay(replay, [len(rows) for rows in per_day], enc, tolerances)
    return [summarise_day(part, service, day, enc) for part, day in zip(parts, days)]


def worst(features: Sequence[FeatureDay], n: int = 10) -> list[FeatureDay]:
    """The ``n`` outputs with the lowest match rate that have a mismatch, worst first."""
    return sorted((f for f in features if f.mismatches),
                  key=lambda f: (f.match_rate, f.feature))[:n]
