"""What the feature sources say about a set of (entity keys, as-of time) pairs, on Spark.

Two questions the parity check asks the sources registered in the Feast repo (the tables the
offline join reads and the online store is materialized from):

* :class:`ViewPull`: the rows of the pairs' entities as the materialization engine pulls them,
  from which the offline side picks, for each pair and feature view, the source row the
  point-in-time rule picks at the as-of time (:func:`skew.offline_side.row_version`), and the
  online side the rows the online store holds at each step (:mod:`skew.as_of_store`).
* :func:`change_points`: the instants up to the last as-of time at which a pulled row
  appears (its event and created timestamps). Between two consecutive change points,
  materializing up to any instant gives the same stored values for the pairs' entities, so one
  materialization serves every as-of time in between.

Works for any ``SparkSource`` (path, table or query) through Feast's own
``get_table_query_string``. A view without a created-timestamp column uses its event time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spark_jobs.batch_source import BatchSource

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
    temp_view: str | None = None  # the view a file source was registered as (re-readable)


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
            temp_view=src.temp_view,
        ))
    return tuple(out)


def keys_and_request_inputs(views: tuple[ViewSource, ...], enc_inputs: tuple[str, ...]
                            ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The entity keys of ``views`` (first-seen order) and the encoder inputs no view serves
    (the request inputs)."""
    entity_keys = tuple(dict.fromkeys(k for v in views for k in v.join_keys))
    served = {f for v in views for f in v.features}
    return entity_keys, tuple(i for i in enc_inputs if i not in served)


@dataclass(frozen=True)
class ViewPull:
    """One view's rows as skewless' materialization engine pulls them, for the pairs'
    entities: its write plan and a lazy Spark frame. ``online``: Feast materializes the view."""

    view: Any  # the Feast FeatureView
    plan: Any  # materialization.redis_writer.ViewWritePlan
    frame: DataFrame
    online: bool

    @staticmethod
    def of_views(spark: Any, store: Any, views: Sequence[ViewSource],
                 rows: Sequence[Mapping[str, Any]]) -> list[ViewPull]:
        """For each of ``views``: the engine's pull (source query, field mapping;
        :func:`~materialization.redis_engine.window_rows`) of every row up to the last as-of
        time of ``rows`` — a superset of every materialization window's rows — semi-joined to
        the entities of ``rows``. A file source is read from the temporary view it was
        registered as."""
        from pyspark.sql import functions as F

        from materialization.redis_engine import RedisMaterializationEngineConfig, window_rows
        from online_store.watermark import writes_watermarks
        from skew.pairs import entities_frame, instant, micros

        engine = dict(store.config.batch_engine_config) \
            if writes_watermarks(store.config) else {}
        config = RedisMaterializationEngineConfig(**engine)
        end = instant(max(micros(r[AS_OF]) for r in rows))
        online = {fv.name for fv in store._get_feature_views_to_materialize(None)}
        out = []
        for v in views:
            fv = store.get_feature_view(v.name)
            plan, df = window_rows(store._get_provider().offline_store, store.config,
                                   store.registry, store.project, fv, None, end,
                                   config.chunk_rows, config.write_method, v.temp_view)
            keys = [k for k, _ in plan.join_keys]
            df = df.join(F.broadcast(entities_frame(spark, rows, keys)), keys, "left_semi")
            out.append(ViewPull(fv, plan, df, fv.name in online))
        return out


def pulled_times(plan: Any, table: Any) -> tuple[Any, Any]:
    """The event and created times of a pulled table (``plan``: its
    :class:`~materialization.redis_writer.ViewWritePlan`) as int64 POSIX microseconds, a null
    as :data:`online_store.layout.NULL_MICROS`; created is ``None`` without a created column."""
    from materialization.redis_values import timestamp_micros

    events = timestamp_micros(table.column(plan.event_column))
    created = (timestamp_micros(table.column(plan.created_column)) if plan.created_column
               else None)
    return events, created


def change_points(pulls: Sequence[ViewPull], tables: Sequence[Any], hi_us: int) -> list[int]:
    """Sorted distinct event and created instants (POSIX microseconds, at most ``hi_us``) of
    the pulled rows: ``tables[i]`` is ``pulls[i].frame`` collected (pyarrow tables).

    Only the pairs' entities' rows count: the parity check reads no other key, so a change of
    another entity cannot make two as-of times see different stored values. Null times are
    no change (such a row is never known)."""
    import numpy as np

    from online_store.layout import NULL_MICROS

    found = [np.empty(0, dtype=np.int64)]
    for pull, table in zip(pulls, tables):
        for us in pulled_times(pull.plan, table):
            if us is not None:
                found.append(us[(us != NULL_MICROS) & (us <= hi_us)])
    return np.unique(np.concatenate(found)).tolist()
