"""Point-in-time-correct, encoded training sets on Spark, with a manifest.

:func:`build_training_set` is the notebook API (``skewless training-set`` is its CLI):

1. labels (a Spark DataFrame: entity keys, ``event_timestamp``, label and request columns) are
   joined point-in-time to the raw feature service: a feature row counts for a label at time
   ``T`` when ``T - ttl <= event_timestamp <= T`` and — by default, ``as_known=True`` —
   ``created_timestamp <= T`` (Feast's ``filter_by_created_timestamp``: a late-arriving
   correction is used only from the moment it existed, as the online store could serve it);
   among rows with equal ``event_timestamp`` the latest ``created_timestamp`` wins. ``join``
   picks who computes it: ``"skewless"`` (default, :mod:`spark_jobs.point_in_time`, a
   sort-based as-of join) or ``"feast"`` (Feast's Spark offline store,
   ``get_historical_features(...).to_spark_df()``, the reference it is tested equal to);
2. the joined frame is encoded in Spark by :func:`spark_jobs.spark_encode.encode_frame` — the same
   encoders with the published state, the label time as the request time;
3. Parquet is written to a temporary folder beside the target, the manifest is written last,
   and the folder is renamed into place: a reader never sees a half-written set, and a folder
   without ``manifest.json`` is not a training set. The manifest's row count and time range
   are observed on the rows as the write passes them (``DataFrame.observe``), not read back.

Nothing is collected to the driver except counts and the time range.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from encoders import EncoderSet
from spark_jobs.point_in_time import point_in_time_join, service_views
from spark_jobs.spark_encode import encode_frame
from spark_jobs.spark_time import ntz_for_feast, restore_type

if TYPE_CHECKING:  # pragma: no cover
    from feast import FeatureStore
    from pyspark.sql import DataFrame

    from feast_bridge.services import ServiceInfo

MANIFEST = "manifest.json"
DATA = "data"
EVENT_TIMESTAMP = "event_timestamp"  # the column name Feast's join reads the label time from
#: Who computes the point-in-time join (``join=``, ``--join``); the first is the default.
JOINS = ("skewless", "feast")


def check_join(join: str) -> str:
    """``join`` when it names a join of :data:`JOINS`, else ``ValueError`` naming them."""
    if join not in JOINS:
        raise ValueError(f"unknown join {join!r}; choose one of {', '.join(JOINS)} "
                         f"(default {JOINS[0]})")
    return join


@dataclass(frozen=True)
class Manifest:
    """What a training set is: enough to check it against the state a server loads."""

    state_hash: str
    feature_service: str
    feature_refs: tuple[str, ...]
    row_count: int
    time_range: tuple[str, str]
    entity_keys: tuple[str, ...]
    label_columns: tuple[str, ...]
    request_columns: tuple[str, ...]
    schema: tuple[tuple[str, str], ...]
    inputs: dict[str, Any]
    created_at: str
    service: str = ""
    timestamp_column: str = EVENT_TIMESTAMP
    format_version: int = 1

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @staticmethod
    def read(path: str | os.PathLike[str]) -> Manifest:
        """Read ``<training set>/manifest.json``; a missing one means an incomplete set."""
        p = Path(path)
        mf = p / MANIFEST if p.is_dir() or not p.name.endswith(".json") else p
        if not mf.exists():
            raise FileNotFoundError(
                f"{mf} does not exist: {p} is not a complete training set "
                "(a build was interrupted or never ran); build it again"
            )
        d = json.loads(mf.read_text(encoding="utf-8"))
        for k in ("feature_refs", "time_range", "entity_keys", "label_columns", "request_columns"):
            d[k] = tuple(d[k])
        d["schema"] = tuple(tuple(x) for x in d["schema"])
        return Manifest(**d)


def check_labels(labels: DataFrame, info: ServiceInfo, timestamp_column: str,
                 label_columns: Sequence[str]) -> None:
    """Raise ``ValueError`` naming what is missing or mistyped in the labels frame."""
    cols = set(labels.columns)
    keys = [k for k in info.entity_keys if k not in cols]
    if keys:
        raise ValueError(f"labels lack the join keys {keys} of service {info.name!r} (they "
                         f"have {sorted(cols)}); every label row needs {list(info.entity_keys)}")
    if timestamp_column not in cols:
        raise ValueError(f"labels have no timestamp column {timestamp_column!r} (they have "
                         f"{sorted(cols)}); name it with --timestamp-column")
    requests = [c for c in info.request_names if c not in cols]
    if requests:
        raise ValueError(f"labels lack the request inputs {requests} that service "
                         f"{info.name!r} declares; add them to the labels (the value the "
                         "request carried at the label time)")
    missing = [c for c in label_columns if c not in cols]
    if missing:
        raise ValueError(f"labels have no label columns {missing} (they have {sorted(cols)}); "
                         "fix --label-column")
    if timestamp_column != EVENT_TIMESTAMP and EVENT_TIMESTAMP in cols:
        raise ValueError(f"labels have a column {EVENT_TIMESTAMP!r} besides the timestamp "
                         f"column {timestamp_column!r}; rename or drop it (the join reads the "
                         f"label time as {EVENT_TIMESTAMP!r})")
    ts_type = dict(labels.dtypes)[timestamp_column]
    if ts_type not in ("timestamp", "timestamp_ntz"):
        raise ValueError(f"labels.{timestamp_column} is {ts_type}; cast it to a UTC timestamp")


def default_label_columns(labels: DataFrame, info: ServiceInfo, timestamp_column: str
                          ) -> tuple[str, ...]:
    """Every labels column that is no join key, timestamp or request input (in order)."""
    skip = {*info.entity_keys, timestamp_column, *info.request_names}
    return tuple(c for c in labels.columns if c not in skip)


def joined_features(
    store: FeatureStore, labels: DataFrame, feature_service: str, as_known: bool = True,
    join: str = JOINS[0],
) -> tuple[DataFrame, tuple[str, ...]]:
    """The point-in-time join of a raw feature service onto the labels (which name the label
    time ``event_timestamp``) and the feature refs: every labels column, then the features.

    ``join="skewless"``: :func:`spark_jobs.point_in_time.point_in_time_join`; ``"feast"``:
    Feast's Spark offline store. Both give the same frame (tested). For Feast's, the label
    time goes to Feast as ``TIMESTAMP_NTZ`` (UTC wall clock) and comes back in the
    labels' own type (:func:`spark_jobs.spark_time.ntz_for_feast`): Feast reads the label
    time range through PySpark, which would hand it local times, so the join is the same in
    every process time zone. A session not on UTC raises ``ValueError``.

    ``UnixTimestamp`` features are floored to whole seconds: that is all the online store
    keeps of them (Feast's ``unix_timestamp_val`` is POSIX seconds), so a source value with a
    fraction of a second would otherwise encode differently offline and online (e.g. a
    ``TimeSince`` of ``last_order_ts``)."""
    from pyspark.sql import functions as F

    if EVENT_TIMESTAMP not in labels.columns:
        raise ValueError(f"labels have no {EVENT_TIMESTAMP!r} column (they have "
                         f"{sorted(labels.columns)}); rename the label time to it")
    check_join(join)
    service = store.get_feature_service(feature_service)
    refs = tuple(f"{p.name}:{f.name}" for p in service.feature_view_projections for f in p.features)
    if join == "skewless":
        joined = point_in_time_join(labels, service_views(store, feature_service),
                                    EVENT_TIMESTAMP, as_known)
    else:
        entity_df, label_time_type = ntz_for_feast(labels, EVENT_TIMESTAMP)
        job = store.get_historical_features(
            entity_df=entity_df, features=service, filter_by_created_timestamp=as_known
        )
        joined = restore_type(job.to_spark_df(), EVENT_TIMESTAMP, label_time_type)
    for p in service.feature_view_projections:
        for f in p.features:
            if f.dtype.to_value_type().name == "UNIX_TIMESTAMP" and f.name in joined.columns:
                joined = joined.withColumn(f.name, F.date_trunc("second", F.col(f.name)))
    return joined, refs


def build_training_set(
    store: FeatureStore,
    labels: DataFrame,
    enc: EncoderSet | None,
    out_dir: str | os.PathLike[str],
    *,
    service: str | None = None,
    timestamp_column: str = EVENT_TIMESTAMP,
    label_columns: Sequence[str] | None = None,
    overwrite: bool = False,
    as_known: bool = True,
    inputs: dict[str, Any] | None = None,
    join: str = JOINS[0],
) -> Manifest:
    """Join, encode and write a training set of ``service`` (the only one when ``None``);
    return its manifest (see module docstring).

    ``enc``: the state to encode with, default the service's published one (``None``);
    ``label_columns``: default every labels column that is no join key, timestamp or request
    input; ``join``: one of :data:`JOINS` (``ValueError`` naming them otherwise). The output
    keeps the labels' own timestamp column name.
    """
    from feast_bridge.services import get_service

    check_join(join)
    info = get_service(store, service)
    if enc is None:
        enc = info.load_state()
    out = Path(out_dir).resolve()
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=True (--overwrite) or another path")
    check_labels(labels, info, timestamp_column, label_columns or ())
    labels_cols = tuple(label_columns) if label_columns is not None else \
        default_label_columns(labels, info, timestamp_column)
    if not labels_cols:
        raise ValueError(f"labels have no label column besides the join keys, the timestamp "
                         f"and the request inputs (they have {sorted(labels.columns)}); add "
                         "the label, or name it with --label-column")
    if timestamp_column != EVENT_TIMESTAMP:
        labels = labels.withColumnRenamed(timestamp_column, EVENT_TIMESTAMP)
    request_columns = info.request_names
    joined, refs = joined_features(store, labels, info.raw_service, as_known, join)
    keep = [*info.entity_keys, EVENT_TIMESTAMP, *labels_cols, *request_columns]
    encoded = encode_frame(joined, enc, keep)
    if timestamp_column != EVENT_TIMESTAMP:
        encoded = encoded.withColumnRenamed(EVENT_TIMESTAMP, timestamp_column)

    def manifest_of(row_count: int, time_range: tuple[str, str]) -> Manifest:
        return Manifest(
            state_hash=enc.content_hash,
            feature_service=info.raw_service,
            feature_refs=refs,
            row_count=row_count,
            time_range=time_range,
            entity_keys=info.entity_keys,
            label_columns=labels_cols,
            request_columns=request_columns,
            schema=tuple((f.name, f.dtype) for f in enc.schema),
            inputs={**(inputs or {}), "filter_by_created_timestamp": as_known, "join": join},
            created_at=datetime.now(timezone.utc).isoformat(),
            service=info.name,
            timestamp_column=timestamp_column,
        )

    return write_training_set(encoded, out, timestamp_column, manifest_of)


def write_training_set(encoded: DataFrame, out: Path, timestamp_column: str,
                       manifest_of: Callable[[int, tuple[str, str]], Manifest]) -> Manifest:
    """Write ``encoded`` as the training set ``out`` (module docstring, step 3): Parquet into a
    temporary folder beside it, then ``manifest_of(row count, (first, last time))``'s JSON,
    then the folder renamed into place (replacing an old set last). Returns the manifest."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        # the manifest's figures are observed on the rows as they are written (no second job)
        observed = Observation(f"skewless-training-set-{uuid.uuid4().hex[:8]}")
        iso = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"  # rendered by Spark in its UTC session zone
        encoded.observe(
            observed,
            F.count(F.lit(1)).alias("n"),
            F.date_format(F.min(timestamp_column), iso).alias("lo"),
            F.date_format(F.max(timestamp_column), iso).alias("hi"),
        ).write.parquet(str(tmp / DATA))
        stats = observed.get
        manifest = manifest_of(int(stats["n"]), (stats["lo"] or "", stats["hi"] or ""))
        (tmp / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
        if out.exists():
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def load_labels(spark: Any, source: str | os.PathLike[str]) -> DataFrame:
    """Labels from a Parquet path (file or folder) or, when no such path exists, a table
    name of the Spark catalog; anything else raises ``ValueError`` naming both options."""
    p = Path(source)
    if p.exists():
        return spark.read.parquet(str(p))
    name = str(source)
    if spark.catalog.tableExists(name):
        return spark.table(name)
    raise ValueError(f"labels {name!r} are neither a Parquet path nor a table of the Spark "
                     "catalog; pass a Parquet file/folder or a table name")
