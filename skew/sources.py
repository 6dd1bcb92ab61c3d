"""What the feature sources say about a set of (entity keys, as-of time) pairs, on Spark.

Two questions the parity check asks the sources registered in the Feast repo (the tables the
offline join reads and the online store is materialized from):

* :func:`source_versions`: for each pair and feature view, which source row the point-in-time
  rule picks at the as-of time ``T`` — the latest ``event_timestamp <= T`` among rows with
  ``created_timestamp <= T`` (``as_known=True``; Feast's ``filter_by_created_timestamp``) —
  ignoring the ttl, plus the latest created time of any version of that event time. The
  classifier turns it into the source status (present / expired / missing) and the late-row
  hint.
* :func:`change_points`: the instants in ``[lo, hi]`` at which a source gains a row
  (``event_timestamp`` and ``created_timestamp`` values). Between two consecutive change
  points, materializing up to any instant gives the same online store, so one materialization
  serves every as-of time in between.

Works for any ``SparkSource`` (path, table or query) through Feast's own
``get_table_query_string``. A view without a created-timestamp column uses its event time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from spark_jobs.batch_source import BatchSource
from spark_jobs.spark_time import utc_literal

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

ROW = "_parity_row"
AS_OF = "event_timestamp"


@dataclass(frozen=True)
class ViewSource:
    """A feature view as the source queries need it."""

    name: str
    join_keys: tuple[str, ...]
    features: tuple[str, ...]
    ttl_us: int | None
    table_sql: str
    event_column: str
    created_column: str | None


def view_sources(store: Any, feature_service: str) -> tuple[ViewSource, ...]:
    """The feature views of ``feature_service`` with their Spark sources.

    Raises ``ValueError`` naming the view when its batch source is not a ``SparkSource``.
    """
    service = store.get_feature_service(feature_service)
    out = []
    for proj in service.feature_view_projections:
        fv = store.get_feature_view(proj.name)
        src = BatchSource.of(fv)
        ttl = fv.ttl.total_seconds() if fv.ttl else 0
        out.append(ViewSource(
            name=fv.name,
            join_keys=tuple(e.name for e in fv.entity_columns),
            features=tuple(f.name for f in proj.features),
            ttl_us=round(ttl * 1_000_000) if ttl > 0 else None,
            table_sql=src.table_sql,
            event_column=src.event,
            created_column=src.created,
        ))
    return tuple(out)


def keys_and_request_inputs(views: tuple[ViewSource, ...], enc_inputs: tuple[str, ...]
                            ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The entity keys of ``views`` (first-seen order) and the encoder inputs no view serves
    (the request inputs)."""
    entity_keys = tuple(dict.fromkeys(k for v in views for k in v.join_keys))
    served = {f for v in views for f in v.features}
    return entity_keys, tuple(i for i in enc_inputs if i not in served)


def _source_frame(spark: Any, view: ViewSource) -> DataFrame:
    from pyspark.sql import functions as F

    df = spark.sql(f"SELECT * FROM {view.table_sql}")
    created = F.col(view.created_column) if view.created_column else F.col(view.event_column)
    return df.select(*view.join_keys, F.col(view.event_column).alias("_ev"),
                     created.alias("_cr"))


def source_versions(spark: Any, views: Sequence[ViewSource], pairs: DataFrame,
                    as_known: bool = True) -> DataFrame:
    """``pairs`` (``_parity_row``, join keys, ``event_timestamp``) -> one row per pair and view
    that has a row at or before the as-of time: ``_parity_row``, ``view`` (its name), ``ev``,
    ``cr`` (the picked row's event and created times), ``latest`` (the latest created time of
    any version of that event time) as POSIX microseconds, and ``versions`` (distinct created
    times of that event time). A pair with no row of a view has no line for it.

    Per view: one scan, one broadcast join and two aggregations — per (pair, event time) its
    versions and its latest row known at the as-of time, then per pair the latest event time
    with a known row (the rule of :mod:`spark_jobs.as_known`: a null created time is never
    known with ``as_known``, and ranks below any real one)."""
    from pyspark.sql import functions as F

    frames = []
    for view in views:
        src = _source_frame(spark, view)
        p = pairs.select(ROW, *view.join_keys, F.col(AS_OF).alias("_t"))
        j = F.broadcast(p).join(src, list(view.join_keys)).where(F.col("_ev") <= F.col("_t"))
        rank = F.struct(F.col("_cr").isNotNull().alias("_has"), F.col("_cr").alias("_cr"))
        known = (F.col("_cr") <= F.col("_t")) if as_known else F.lit(True)
        per_event = j.groupBy(ROW, "_ev").agg(
            F.max("_cr").alias("_latest"), F.size(F.collect_set("_cr")).alias("_versions"),
            F.max(F.when(known, rank)).alias("_pick"))
        best = (per_event.where(F.col("_pick").isNotNull()).groupBy(ROW)
                .agg(F.max(F.struct("_ev", "_pick", "_latest", "_versions")).alias("_b")))
        frames.append(best.select(
            ROW, F.lit(view.name).alias("view"), F.unix_micros("_b._ev").alias("ev"),
            F.unix_micros("_b._pick._cr").alias("cr"),
            F.unix_micros("_b._latest").alias("latest"),
            F.col("_b._versions").cast("long").alias("versions")))
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return out


def change_points(spark: Any, views: Sequence[ViewSource], lo: datetime, hi: datetime
                  ) -> list[int]:
    """Sorted distinct event/created instants (POSIX microseconds) of the sources in
    ``[lo, hi]`` (aware datetimes)."""
    from pyspark.sql import functions as F

    frames = []
    for view in views:
        src = _source_frame(spark, view)
        frames += [src.select(F.col("_ev").alias("_p")), src.select(F.col("_cr").alias("_p"))]
    if not frames:
        return []
    allp = frames[0]
    for f in frames[1:]:
        allp = allp.unionByName(f)
    got = (allp.where(F.col("_p").between(utc_literal(lo), utc_literal(hi))).distinct()
           .select(F.unix_micros("_p").alias("us")).collect())
    return sorted(r["us"] for r in got)
