"""Re-materialize everything the registry says was materialized: the recovery after Redis lost
its data (``skewless materialize --full``).

``feast materialize-incremental END`` starts each view where the registry's last interval
ended, so after a flush it reloads only rows newer than that (in the issue that prompted this:
12 of 420 keys). :func:`materialize_full` instead runs, per view, one materialization over the
view's whole registered span — from the earliest start to the latest end of its
``materialization_intervals`` — whatever the registry says is done. With skewless' engine the
result is the rows as known at that latest end (the rows' overwrite rule: a run over the span
leaves what a clean run over it leaves) and the view's watermark at that end, so the server's
readiness check sees a current store again. The registry records the span as one more
interval (its latest end does not move).

Edge cases: views sharing a span are materialized in one call; a view the registry never
recorded as materialized is skipped and listed in :attr:`FullResult.never` (it has no span:
give ``--start``/``--end`` once); naming a view the repo lacks raises Feast's not-found error;
an empty selection raises ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from materialization.materialize import MaterializeResult, materialize

__all__ = ["FullResult", "Span", "materialize_full", "registered_spans"]


@dataclass(frozen=True)
class Span:
    """Views whose registered materialization intervals span ``[start, end]``."""

    views: tuple[str, ...]
    start: datetime
    end: datetime


@dataclass(frozen=True)
class FullResult:
    """One :class:`MaterializeResult` per span, and the views never materialized."""

    runs: tuple[tuple[Span, MaterializeResult], ...]
    never: tuple[str, ...]


def registered_spans(store: Any, views: Iterable[str] | None = None
                     ) -> tuple[list[Span], list[str]]:
    """The spans of ``views`` (default: every view Feast materializes), grouped by equal
    span in first-seen order, and the names of views without any interval."""
    names = None if views is None else list(dict.fromkeys(views))
    if names is not None and not names:
        raise ValueError("no view selected: pass views=None for every online view")
    groups: dict[tuple[datetime, datetime], list[str]] = {}
    never: list[str] = []
    for fv in store._get_feature_views_to_materialize(names):
        if not hasattr(fv, "materialization_intervals"):
            continue  # an on-demand view: Feast recomputes it, it has no interval
        intervals = list(fv.materialization_intervals or ())
        if not intervals:
            never.append(fv.name)
            continue
        span = (min(s for s, _ in intervals), max(e for _, e in intervals))
        groups.setdefault(span, []).append(fv.name)
    return [Span(tuple(v), s, e) for (s, e), v in groups.items()], never


def materialize_full(store: Any, views: Iterable[str] | None = None, *,
                     count_rows: bool = True) -> FullResult:
    """Materialize each view over its registered span (module docstring); ``count_rows`` as
    in :func:`materialization.materialize.materialize`."""
    spans, never = registered_spans(store, views)
    runs = tuple((span, materialize(store, span.start, span.end, views=list(span.views),
                                    count_rows=count_rows)) for span in spans)
    return FullResult(runs, tuple(never))
