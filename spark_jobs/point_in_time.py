"""skewless' own point-in-time join of labels to a feature service's views, on Spark.

For each label row at time ``T`` and each view of the service, the feature row of the label's
join keys that counts is the latest one usable at ``T``: ``T - ttl <= event_ts <= T`` and — as
known, the default — ``created_ts <= T``; among usable rows the rule of
:mod:`spark_jobs.as_known` picks (latest event time, then latest created time). This is the
result of Feast 0.67's Spark offline store (``get_historical_features(...,
filter_by_created_timestamp=True).to_spark_df()``), computed the way Spark runs well:

1. the label time range is read once (two numbers) and each view's rows are pruned to
   ``[min T - ttl, max T]`` (and, as known, ``created_ts <= max T``) with filters Spark pushes
   into the Parquet scan, plus the source's declared date-partition column when it has one;
2. per view, the labels and the pruned feature rows are unioned on the join keys and sorted by
   time — a feature row at :func:`spark_jobs.as_known.usable_from` (its event time, as known
   the later of event and created time), before a label at the same instant — and a running
   ``max_by(row, recency)`` carries the best row usable so far to each label: one shuffle and
   one sort per view, no range join;
3. the ttl is checked on the row carried: if the best row known at ``T`` is older than
   ``T - ttl`` every known row is, so none counts (the same answer as filtering first).

Result, as ``to_spark_df()`` gives it: every labels column in order and type (duplicate
label rows each kept), then each view's features in the service's order (projections: the
selected features, join-key maps, the source's field mapping), in the source's types, null
when no row counts (an entity without rows, a null join key or label time, an expired row).

Feast semantics mirrored (from its source, ``spark.py`` ``MULTIPLE_FEATURE_VIEW_..._JOIN``
and ``offline_utils.get_feature_view_query_context``): the ttl is whole seconds
(``int(ttl.total_seconds())``) and ``0`` / ``None`` mean no lower bound; a null created time
is never known (``created <= T`` is not true in SQL). Where Feast's SQL has quirks, this join
follows the rule instead: rows equal on (event, created) give one output row, not one per
duplicate; without ``as_known`` a null created time ranks below a real one instead of Feast
dropping every row of an event time whose created times are all null; join keys are matched
column by column (Feast's row id concatenates the keys' text without separator).

Nothing is collected but the label time range; the session must render times in UTC
(:func:`spark_jobs.spark_time.require_utc_session`), so the join is the same in every process
time zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from spark_jobs.as_known import recency, usable_from
from spark_jobs.batch_source import BatchSource
from spark_jobs.spark_time import require_utc_session, utc_literal

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame

_P = "__skewless_pit_"  # prefix of the join's own columns
_T, _KIND, _LABEL, _ROW, _RANK, _EV = (f"{_P}{n}" for n in ("t", "kind", "label", "row", "rank",
                                                             "ev"))


def _col(name: str) -> Column:
    """A top-level column by its exact name (dots and backticks in it taken literally)."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


@dataclass(frozen=True)
class ViewJoin:
    """One feature view as the join reads it (names as Feast's offline store derives them).

    ``keys``: (source column, labels column) per join key; ``features``: (source column,
    output name); ``ttl_seconds``: 0 = no ttl; ``event`` / ``created``: source columns;
    ``date_partition``: (column, strftime format) when the source declares one."""

    name: str
    table_sql: str
    event: str
    created: str | None
    keys: tuple[tuple[str, str], ...]
    features: tuple[tuple[str, str], ...]
    ttl_seconds: int
    date_partition: tuple[str, str] | None = None

    @staticmethod
    def of(projection: Any, feature_view: Any) -> ViewJoin:
        """From a feature service's projection and its registered feature view."""
        source = BatchSource.of(feature_view)
        src = feature_view.batch_source
        reverse = {v: k for k, v in (src.field_mapping or {}).items()}
        keys = tuple((reverse.get(c.name, c.name), projection.join_key_map.get(c.name, c.name))
                     for c in feature_view.entity_columns)
        features = tuple((reverse.get(f.name, f.name), f.name) for f in projection.features)
        ttl = int(feature_view.ttl.total_seconds()) if feature_view.ttl else 0
        dpc = getattr(src, "date_partition_column", None) or None
        fmt = getattr(src, "date_partition_column_format", None) or "%Y-%m-%d"
        return ViewJoin(
            name=projection.name_to_use(), table_sql=source.table_sql,
            event=reverse.get(source.event, source.event),
            created=reverse.get(source.created, source.created) if source.created else None,
            keys=keys, features=features, ttl_seconds=max(ttl, 0),
            date_partition=(reverse.get(dpc, dpc), fmt) if dpc else None)


def service_views(store: Any, feature_service: str) -> tuple[ViewJoin, ...]:
    """The views of a feature service, in its order; ``ValueError`` when two views give a
    feature the same name (Feast refuses that too without full feature names)."""
    service = store.get_feature_service(feature_service)
    views = tuple(ViewJoin.of(p, store.get_feature_view(p.name))
                  for p in service.feature_view_projections)
    seen: dict[str, str] = {}
    for v in views:
        for _, name in v.features:
            if name in seen:
                raise ValueError(f"feature service {feature_service!r} selects {name!r} from "
                                 f"both {seen[name]!r} and {v.name!r}; select it from one view")
            seen[name] = v.name
    return views


def label_time_range(labels: DataFrame, time_column: str) -> tuple[datetime, datetime] | None:
    """(min, max) label time as aware UTC datetimes (read as epoch microseconds, so the
    process time zone plays no part); ``None`` when no label has a time."""
    from pyspark.sql import functions as F

    micros = F.unix_micros(_col(time_column).cast("timestamp"))
    row = labels.agg(F.min(micros).alias("lo"), F.max(micros).alias("hi")).collect()[0]
    if row["lo"] is None:
        return None
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return epoch + timedelta(microseconds=row["lo"]), epoch + timedelta(microseconds=row["hi"])


def point_in_time_join(labels: DataFrame, views: Sequence[ViewJoin],
                       time_column: str = "event_timestamp", as_known: bool = True
                       ) -> DataFrame:
    """``labels`` with each view's features as of each row's ``time_column`` (see module
    docstring). ``ValueError`` names a missing join key or time column, a feature name the
    labels already have, and a session not on UTC."""
    require_utc_session(labels)
    cols = set(labels.columns)
    missing = sorted({k for v in views for _, k in v.keys} - cols) + (
        [time_column] if time_column not in cols else [])
    if missing:
        raise ValueError(f"labels lack {missing} (they have {sorted(cols)}); the join needs "
                         "every join key of the service and the label time")
    clash = sorted(cols & {n for v in views for _, n in v.features})
    if clash:
        raise ValueError(f"labels already have columns named like features {clash}; rename "
                         "them in the labels")
    bounds = label_time_range(labels, time_column)
    out = labels
    for view in views:
        out = _join_view(out, view, time_column, bounds, as_known)
    return out


def _feature_rows(spark: Any, view: ViewJoin, bounds: tuple[datetime, datetime] | None,
                  as_known: bool) -> DataFrame:
    """The view's rows that can count for some label: keys, event, created, features."""
    from pyspark.sql import functions as F

    rows = spark.sql(f"SELECT * FROM {view.table_sql}")
    if bounds is None:
        return rows.where(F.lit(False))
    lo, hi = bounds
    ev = _col(view.event)
    cond = ev <= utc_literal(hi)
    if view.ttl_seconds:
        cond &= ev >= utc_literal(lo - timedelta(seconds=view.ttl_seconds))
    if as_known and view.created:
        cond &= _col(view.created) <= utc_literal(hi)
    if view.date_partition:  # Feast's own prune: the partition text compared as text
        column, fmt = view.date_partition
        cond &= _col(column) <= F.lit(hi.strftime(fmt))
        if view.ttl_seconds:
            cond &= _col(column) >= F.lit((lo - timedelta(seconds=view.ttl_seconds))
                                           .strftime(fmt))
    for source_key, _ in view.keys:
        cond &= _col(source_key).isNotNull()  # a null key equals nothing in SQL
    return rows.where(cond)


def _key_columns(labels: DataFrame, rows: DataFrame, view: ViewJoin
                 ) -> tuple[list[Column], list[Column]]:
    """The join keys of both sides as the window's partition columns, cast to one type
    when the labels and the source disagree (integers to long, other numbers to double,
    anything else to text)."""
    from pyspark.sql.types import IntegralType, NumericType

    lt, rt = dict(labels.dtypes), dict(rows.dtypes)
    ls, rs = labels.schema, rows.schema
    left, right = [], []
    for i, (src, key) in enumerate(view.keys):
        a, b = _col(key), _col(src)
        if lt[key] != rt[src]:
            x, y = ls[key].dataType, rs[src].dataType
            common = ("long" if isinstance(x, IntegralType) and isinstance(y, IntegralType)
                      else "double" if isinstance(x, NumericType) and isinstance(y, NumericType)
                      else "string")
            a, b = a.cast(common), b.cast(common)
        left.append(a.alias(f"{_P}k{i}"))
        right.append(b.alias(f"{_P}k{i}"))
    return left, right


def _join_view(labels: DataFrame, view: ViewJoin, time_column: str,
               bounds: tuple[datetime, datetime] | None, as_known: bool) -> DataFrame:
    """``labels`` plus ``view``'s features: the union / running-best pass of step 2."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rows = _feature_rows(labels.sparkSession, view, bounds, as_known)
    left_keys, right_keys = _key_columns(labels, rows, view)
    label_cols = labels.columns
    label_side = labels.select(
        *left_keys, _col(time_column).cast("timestamp").alias(_T), F.lit(1).alias(_KIND),
        F.struct(*[_col(c) for c in label_cols]).alias(_LABEL))
    row_struct = F.struct(_col(view.event).cast("timestamp").alias(_EV),
                          *[_col(s).alias(n) for s, n in view.features])
    feature_side = rows.select(
        *right_keys, usable_from(view.event, view.created, as_known).cast("timestamp").alias(_T),
        F.lit(0).alias(_KIND), row_struct.alias(_ROW),
        recency(view.event, view.created).alias(_RANK),
    ).where(F.col(_T).isNotNull())
    both = label_side.unionByName(feature_side, allowMissingColumns=True)
    keys = [F.col(f"{_P}k{i}") for i in range(len(view.keys))]
    timeline = (Window.partitionBy(*keys).orderBy(F.col(_T), F.col(_KIND))
                .rowsBetween(Window.unboundedPreceding, Window.currentRow))
    best = F.max_by(F.col(_ROW), F.col(_RANK)).over(timeline)
    picked = both.withColumn(_ROW, best).where(F.col(_KIND) == 1)
    row = F.col(_ROW)
    counts = row.getField(_EV).isNotNull()
    if view.ttl_seconds:
        counts &= (F.unix_micros(row.getField(_EV))
                   >= F.unix_micros(F.col(_T)) - F.lit(view.ttl_seconds * 1_000_000))
    label = F.col(_LABEL)
    return picked.select(*[label.getField(c).alias(c) for c in label_cols],
                         *[F.when(counts, row.getField(n)).alias(n) for _, n in view.features])
