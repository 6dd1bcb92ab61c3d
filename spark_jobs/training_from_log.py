"""Training sets from what was served: labels joined to the served-facts log, encoded in Spark.

:func:`build_training_set_from_log` (``skewless training-set --from-log LOGDIR``) is the
"train on what production saw" path: instead of a point-in-time join against the offline
feature tables, each label takes the raw inputs the server read when it answered the request
the label is about (:mod:`serving.facts_log`), and the encoders run on them in Spark with a
chosen state — the published one, or a refit one, which is how a new encoder version is
evaluated on production inputs before it is published.

1. **Facts**: ``<log dir>/service=<name>/`` read by Spark (closed files only: the hidden
   ``.open`` files of a running or killed server are skipped). Per fact, the encoders' input
   row is rebuilt as the server built it: each view's features when its logged status is
   ``present`` or ``null``, else missing (expired, future, missing rows were not served); a
   feature served by two views takes the last view's, as the merged online row does; the
   request inputs as logged; the request time as logged.
2. **Matching labels to facts** (``match``):

   * ``"time"`` (default): a label matches the fact with the same join keys whose logged
     request time equals the label's timestamp (to the microsecond) and, for each request
     input the labels carry, the same value (null matches null) — labels written at the
     request time, as the demo's are. When several requests served the same keys, time and
     inputs, the last logged one (``__logged_at``, then request id) is used;
   * ``"request_id"``: labels carry a ``request_id`` column (the id the server answered
     with) and the join keys; the fact of that request and row matches, and the row's time is
     the logged request time.

   Labels without a matching fact are left out and counted (``unmatched_labels`` in the
   manifest's inputs and the command's output); when none matches, ``ValueError`` says so
   with the logged time range.
3. **Encode and write**: :func:`spark_jobs.spark_encode.encode_frame` with the state, the
   request time as the encoders' time, then :func:`spark_jobs.training_set.write_training_set`
   (atomic folder, ``manifest.json`` with ``inputs.source = "log"``, the logged state hashes
   of the matched rows, and the state used).

When nothing is skewed (the server read exactly what the point-in-time join gives at each
request time), the result equals the point-in-time training set of the same labels
(``tests/spark_jobs/test_training_from_log.py``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from encoders import EncoderSet
from serving.facts_schema import (
    LOGGED_AT,
    REQUEST_ID,
    REQUEST_TIME,
    STATE_HASH,
    FactsSchema,
    status_column,
)
from serving.online import SERVED_STATUSES
from spark_jobs.spark_encode import encode_frame
from spark_jobs.training_set import (
    EVENT_TIMESTAMP,
    Manifest,
    default_label_columns,
    write_training_set,
)

if TYPE_CHECKING:  # pragma: no cover
    from feast import FeatureStore
    from pyspark.sql import DataFrame

    from feast_bridge.services import ServiceInfo

__all__ = ["MATCHES", "REQUEST_ID_COLUMN", "build_training_set_from_log", "served_rows"]

#: How labels find their served fact (``match=``, ``--match``); the first is the default.
MATCHES = ("time", "request_id")
REQUEST_ID_COLUMN = "request_id"


def facts_of(spark: Any, log_dir: str | os.PathLike[str], service: str) -> DataFrame:
    """The served facts of ``service`` in ``log_dir`` (closed files); ``ValueError`` naming
    the folder when there are none."""
    folder = Path(log_dir) / f"service={service}"
    if not any(folder.glob("date=*/hour=*/*.parquet")):
        found = sorted(p.name for p in Path(log_dir).glob("service=*"))
        raise ValueError(f"no served facts of service {service!r} in {log_dir} (found "
                         f"{found or 'none'}); point --from-log at the server's "
                         "SKEWLESS_VECTOR_LOG_DIR, served with SKEWLESS_LOG_FORMAT=parquet")
    return spark.read.option("basePath", str(folder)).parquet(str(folder))


def served_rows(facts: DataFrame, info: ServiceInfo) -> DataFrame:
    """The encoders' input row of every fact (module docstring, step 1): join keys, the
    request time as ``event_timestamp``, request inputs, features, and the fact's request id,
    logged time and state hash."""
    from pyspark.sql import functions as F

    schema = FactsSchema.of(info)
    by_feature: dict[str, Any] = {}
    for v in schema.views:
        served = F.col(status_column(v.name)).isin(*SERVED_STATUSES)
        for feature, column in zip(v.features, v.columns):
            by_feature[feature] = F.when(served, F.col(column)).alias(feature)  # last view wins
    clash = sorted(set(by_feature) & {*info.entity_keys, *info.request_names})
    if clash:
        raise ValueError(f"features {clash} have the name of a join key or request input of "
                         f"service {info.name!r}; rename them")
    return facts.select(*info.entity_keys, F.col(REQUEST_TIME).alias(EVENT_TIMESTAMP),
                        *info.request_names, *by_feature.values(), REQUEST_ID, LOGGED_AT,
                        STATE_HASH)


def _matched(labels: DataFrame, rows: DataFrame, info: ServiceInfo, match: str,
             timestamp_column: str, label_cols: Sequence[str]) -> DataFrame:
    """Labels (their keys, label columns, and the time or request id) joined to their facts."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    keys = list(info.entity_keys)
    if match == "time":
        # the request inputs the labels carry identify the request too (null-safe)
        inputs = [c for c in info.request_names if c in labels.columns]
        on = [*keys, EVENT_TIMESTAMP, *inputs]
        latest = Window.partitionBy(*on).orderBy(F.col(LOGGED_AT).desc(),
                                                 F.col(REQUEST_ID).desc())
        rows = (rows.withColumn("__n", F.row_number().over(latest))
                .where(F.col("__n") == 1).drop("__n"))
        picked = labels.select(*keys, F.col(timestamp_column).cast("timestamp")
                               .alias(EVENT_TIMESTAMP), *inputs, *label_cols)
        cond = [F.col(f"l.{c}").eqNullSafe(F.col(f"r.{c}")) for c in on]
        return picked.alias("l").join(rows.alias("r"), on=cond, how="inner").select(
            *[F.col(f"r.{c}") for c in rows.columns], *[F.col(f"l.{c}") for c in label_cols])
    picked = labels.select(*keys, F.col(REQUEST_ID_COLUMN).alias(REQUEST_ID), *label_cols)
    return picked.join(rows, on=[*keys, REQUEST_ID], how="inner")


def check_log_labels(labels: DataFrame, info: ServiceInfo, match: str, timestamp_column: str,
                     label_columns: Sequence[str]) -> None:
    """``ValueError`` naming what the labels lack for ``match`` (module docstring)."""
    if match not in MATCHES:
        raise ValueError(f"unknown match {match!r}; choose one of {', '.join(MATCHES)} "
                         f"(default {MATCHES[0]})")
    cols = set(labels.columns)
    need = [*info.entity_keys, timestamp_column if match == "time" else REQUEST_ID_COLUMN,
            *label_columns]
    lacking = [c for c in need if c not in cols]
    if lacking:
        how = (f"name the label time with --timestamp-column (now {timestamp_column!r})"
               if match == "time" else "add the request id the server answered with")
        raise ValueError(f"labels lack {lacking} to match served facts by {match} (they have "
                         f"{sorted(cols)}); {how}")


def build_training_set_from_log(
    store: FeatureStore, spark: Any, log_dir: str | os.PathLike[str], labels: DataFrame,
    enc: EncoderSet, out_dir: str | os.PathLike[str], *, service: str | None = None,
    match: str = MATCHES[0], timestamp_column: str = EVENT_TIMESTAMP,
    label_columns: Sequence[str] | None = None, overwrite: bool = False,
    inputs: dict[str, Any] | None = None,
) -> Manifest:
    """The training set of ``labels`` from the served facts in ``log_dir`` encoded with
    ``enc`` (module docstring); returns its manifest. ``label_columns``: default every labels
    column that is no join key, timestamp, request input or ``request_id``. The output names
    the time column ``timestamp_column``."""
    from pyspark.sql import functions as F

    from feast_bridge.services import get_service

    info = get_service(store, service)
    out = Path(out_dir).resolve()
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=True (--overwrite) or another path")
    check_log_labels(labels, info, match, timestamp_column, label_columns or ())
    label_cols = tuple(label_columns) if label_columns is not None else tuple(
        c for c in default_label_columns(labels, info, timestamp_column)
        if c != REQUEST_ID_COLUMN)
    if not label_cols:
        raise ValueError(f"labels have no label column besides the join keys, the timestamp, "
                         f"the request inputs and the request id (they have "
                         f"{sorted(labels.columns)}); add the label, or name it with "
                         "--label-column")
    lacking = sorted(set(enc.inputs) - {f for v in info.views for f in v.features}
                     - set(info.request_names))
    if lacking:
        raise ValueError(f"the encoder state reads {lacking}, which the served facts of "
                         f"service {info.name!r} do not hold; a refit state must read the "
                         "service's features and request inputs only")
    rows = served_rows(facts_of(spark, log_dir, info.name), info)
    joined = _matched(labels, rows, info, match, timestamp_column, label_cols)
    joined = joined.cache()
    matched = joined.agg(F.count(F.lit(1)).alias("n"),
                         F.collect_set(STATE_HASH).alias("hashes")).collect()[0]
    total = labels.count()
    if not matched["n"]:
        span = rows.agg(F.min(EVENT_TIMESTAMP).alias("lo"),
                        F.max(EVENT_TIMESTAMP).alias("hi")).collect()[0]
        raise ValueError(f"none of the {total} labels matches a served row by {match} (the log "
                         f"holds requests from {span['lo']} to {span['hi']} UTC); check the "
                         "labels' keys and times, or match by request id (--match request_id)")
    keep = [*info.entity_keys, EVENT_TIMESTAMP, *label_cols, *info.request_names]
    encoded = encode_frame(joined, enc, keep)
    if timestamp_column != EVENT_TIMESTAMP:
        encoded = encoded.withColumnRenamed(EVENT_TIMESTAMP, timestamp_column)
    refs = tuple(f"{v.name}:{f}" for v in info.views for f in v.features)

    def manifest_of(row_count: int, time_range: tuple[str, str]) -> Manifest:
        return Manifest(
            state_hash=enc.content_hash, feature_service=info.raw_service, feature_refs=refs,
            row_count=row_count, time_range=time_range, entity_keys=info.entity_keys,
            label_columns=label_cols, request_columns=info.request_names,
            schema=tuple((f.name, f.dtype) for f in enc.schema),
            inputs={**(inputs or {}), "source": "log", "log": str(Path(log_dir).resolve()),
                    "match": match, "labels_rows": total,
                    "unmatched_labels": total - int(matched["n"]),
                    "served_state_hashes": sorted(matched["hashes"])},
            created_at=datetime.now(timezone.utc).isoformat(), service=info.name,
            timestamp_column=timestamp_column)

    try:
        return write_training_set(encoded, out, timestamp_column, manifest_of)
    finally:
        joined.unpersist()
