"""Fit a service's encoders on Spark over a training window and publish the state.

1. For each feature view of the service (from the registry), read its batch source through
   Spark — any ``SparkSource``: path, table or query, via Feast's ``get_table_query_string`` —
   keep the rows whose event time falls in ``[start, end)`` and, of each (join keys, event
   time), only the latest created time (the corrected row, as the point-in-time join picks).
2. Compute every statistic the specs need with :func:`spark_jobs.spark_stats.statistics_and_rows`,
   on the view that serves the statistic's input (the view's row count comes with the
   answers: no Spark job only counts).
3. ``fit`` (the library's maths, once), save the state as JSON to the service's state path, and
   run ``feast apply`` (Feast's own apply, in this process: :func:`feast_bridge.apply.apply_repo`)
   so the encoded view embeds that state and tags its hash.

Only aggregates reach the driver. Edge cases: a naive ``start``/``end`` means UTC (never the
process time zone); ``start >= end`` raises; a source that is not a Spark source raises naming
the view; a fitted encoder whose input is a request input (not a
view feature) raises — only stateless encoders may read request inputs; a view without a
created-timestamp column uses its event time as created time; an apply that does not publish
the state just written (the declaration reads another state file) raises naming both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from encoders import EncoderSet, EncoderSpec, Statistics, fit, save, stat_requests
from encoders.values import as_utc
from spark_jobs.as_known import latest_as_known
from spark_jobs.batch_source import BatchSource
from spark_jobs.spark_stats import statistics_and_rows
from spark_jobs.spark_time import utc_literal

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

    from feast_bridge.services import ServiceInfo


@dataclass(frozen=True)
class Published:
    """Where the state went and what identifies it."""

    service: str
    state_path: Path
    content_hash: str
    rows_per_view: dict[str, int]


def view_frame(spark: SparkSession, store: Any, view: str, start: datetime, end: datetime,
               columns: Sequence[str]) -> DataFrame:
    """The batch source of ``view`` restricted to ``[start, end)``, corrected rows only, with
    its join keys and ``columns``."""
    from pyspark.sql import functions as F

    fv = store.get_feature_view(view)
    source = BatchSource.of(fv)
    keys = [c.name for c in fv.entity_columns]
    event, created = source.event, source.created
    df = source.read(spark)
    df = df.where((F.col(event) >= utc_literal(start)) & (F.col(event) < utc_literal(end)))
    keep = list(dict.fromkeys([*keys, event, *([created] if created else []), *columns]))
    return latest_as_known(df.select(*keep), [*keys, event], event, created)


def fit_on_spark(spark: SparkSession, store: Any, info: ServiceInfo, start: datetime,
                 end: datetime, specs: Sequence[EncoderSpec] | None = None
                 ) -> tuple[EncoderSet, dict[str, int]]:
    """Fit ``specs`` (default the service's declared ones) from statistics over the window;
    also return the rows seen per view."""
    start, end = as_utc(start), as_utc(end)
    if start >= end:
        raise ValueError(f"training window start {start} is not before end {end}; pass "
                         "--start earlier than --end")
    specs = tuple(specs if specs is not None else info.specs)
    requests = stat_requests(specs)
    answers: dict = {}
    counts: dict[str, int] = {}
    for view in info.views:
        mine = tuple(r for r in requests if r.input in view.features)
        if not mine:
            continue
        df = view_frame(spark, store, view.name, start, end, sorted({r.input for r in mine}))
        stats, counts[view.name] = statistics_and_rows(df, mine)
        answers.update(stats.values)
    unplaced = sorted({r.input for r in requests} - {r.input for r in answers})
    if unplaced:
        raise ValueError(
            f"service {info.name!r}: encoders fitted on {unplaced} read no feature view; "
            "fitted encoders can only read view features (request inputs need stateless "
            "encoders such as HashBucket or Cyclical)")
    return fit(specs, Statistics(answers)), counts


def fit_service(spark: SparkSession, store: Any, service: str | None, start: datetime,
                end: datetime, *, state_path: str | Path | None = None, apply: bool = True
                ) -> Published:
    """Fit ``service`` (the only one when ``None``) over ``[start, end)``, save its state
    (default: the declared state path) and, with ``apply``, ``feast apply`` its repo."""
    from feast_bridge.services import get_service

    info = get_service(store, service)
    if apply and state_path and Path(state_path).resolve() != info.state_path.resolve():
        raise ValueError(f"service {info.name!r} declares its state at {info.state_path}; "
                         f"`feast apply` would not publish {state_path}: drop the state path "
                         "or skip the apply")
    enc, counts = fit_on_spark(spark, store, info, start, end)
    path = save(enc, Path(state_path) if state_path else info.state_path)
    if apply:
        from feast_bridge.apply import apply_repo

        apply_repo(store)  # in this process: the store's registry is the one updated
        published = get_service(store, info.name).state_hash
        if published != enc.content_hash:
            raise RuntimeError(
                f"service {info.name!r}: the fitted state {enc.content_hash} was saved to "
                f"{path}, but `feast apply` published {published or 'no state'}: the repo's "
                "declaration reads its state from another file (its state_path=... differs "
                f"from {info.state_path}, e.g. an environment variable changed since the last "
                "`feast apply`); point state_path at that file and re-run the fit")
    return Published(info.name, path, enc.content_hash, counts)
