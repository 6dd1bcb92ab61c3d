"""Point-in-time-correct, encoded training sets on Spark, with a manifest.

:func:`build_training_set` is the notebook API (``scripts/build_training_set.py`` is its CLI):

1. labels (a Spark DataFrame: entity keys, ``event_timestamp``, label and request columns) go
   to Feast's Spark offline store point-in-time join for the raw feature service
   (``get_historical_features(...).to_spark_df()``): a feature row counts for a label at time
   ``T`` when ``T - ttl <= event_timestamp <= T`` and — by default, ``as_known=True`` —
   ``created_timestamp <= T`` (Feast's ``filter_by_created_timestamp``: a late-arriving
   correction is used only from the moment it existed, as the online store could serve it);
   among rows with equal ``event_timestamp`` the latest ``created_timestamp`` wins;
2. the joined frame is encoded in Spark by :func:`spark_jobs.spark_encode.encode_frame` — the same
   encoders with the published state, the label time as the request time;
3. Parquet is written to a temporary folder beside the target, the manifest is written last,
   and the folder is renamed into place: a reader never sees a half-written set, and a folder
   without ``manifest.json`` is not a training set.

Nothing is collected to the driver except counts and the time range.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from encoders import EncoderSet
from spark_jobs.spark_encode import encode_frame

if TYPE_CHECKING:  # pragma: no cover
    from feast import FeatureStore
    from pyspark.sql import DataFrame

MANIFEST = "manifest.json"
DATA = "data"
ENTITY_KEYS = ("member_id", "title_id")


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


def check_labels(
    labels: DataFrame, label_columns: Sequence[str], request_columns: Sequence[str]
) -> None:
    """Raise ``ValueError`` naming what is missing or mistyped in the labels frame."""
    need = [*ENTITY_KEYS, "event_timestamp", *label_columns, *request_columns]
    missing = [c for c in need if c not in labels.columns]
    if missing:
        raise ValueError(
            f"labels lack columns {missing} (they have {sorted(labels.columns)}); "
            "labels need member_id, title_id, event_timestamp (the request time), "
            "the label columns and the request columns"
        )
    ts_type = dict(labels.dtypes)["event_timestamp"]
    if ts_type not in ("timestamp", "timestamp_ntz"):
        raise ValueError(f"labels.event_timestamp is {ts_type}; cast it to a UTC timestamp")


def joined_features(
    store: FeatureStore, labels: DataFrame, feature_service: str, as_known: bool = True
) -> tuple[DataFrame, tuple[str, ...]]:
    """Feast's Spark point-in-time join of the raw features onto the labels."""
    service = store.get_feature_service(feature_service)
    job = store.get_historical_features(
        entity_df=labels, features=service, filter_by_created_timestamp=as_known
    )
    refs = tuple(f"{p.name}:{f.name}" for p in service.feature_view_projections for f in p.features)
    return job.to_spark_df(), refs


def build_training_set(
    store: FeatureStore,
    labels: DataFrame,
    enc: EncoderSet,
    out_dir: str | os.PathLike[str],
    *,
    feature_service: str = "ranker_raw",
    label_columns: Sequence[str] = ("label",),
    request_columns: Sequence[str] = ("device",),
    overwrite: bool = False,
    as_known: bool = True,
    inputs: dict[str, Any] | None = None,
) -> Manifest:
    """Join, encode and write a training set; return its manifest (see module docstring)."""
    from pyspark.sql import functions as F

    out = Path(out_dir).resolve()
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=True (--overwrite) or another path")
    check_labels(labels, label_columns, request_columns)
    joined, refs = joined_features(store, labels, feature_service, as_known)
    keep = [*ENTITY_KEYS, "event_timestamp", *label_columns, *request_columns]
    encoded = encode_frame(joined, enc, keep)

    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        encoded.write.parquet(str(tmp / DATA))
        written = encoded.sparkSession.read.parquet(str(tmp / DATA))
        iso = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"  # rendered by Spark in its UTC session zone
        stats = written.agg(
            F.count(F.lit(1)).alias("n"),
            F.date_format(F.min("event_timestamp"), iso).alias("lo"),
            F.date_format(F.max("event_timestamp"), iso).alias("hi"),
        ).collect()[0]
        manifest = Manifest(
            state_hash=enc.content_hash,
            feature_service=feature_service,
            feature_refs=refs,
            row_count=int(stats["n"]),
            time_range=(stats["lo"] or "", stats["hi"] or ""),
            entity_keys=ENTITY_KEYS,
            label_columns=tuple(label_columns),
            request_columns=tuple(request_columns),
            schema=tuple((f.name, f.dtype) for f in enc.schema),
            inputs={**(inputs or {}), "filter_by_created_timestamp": as_known},
            created_at=datetime.now(timezone.utc).isoformat(),
        )
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


def read_labels(spark: Any, path: str | os.PathLike[str]) -> DataFrame:
    """Generated labels as the training-set builder wants them: ``impression_ts`` becomes
    ``event_timestamp`` (the request time) and ``played_within_7d`` becomes ``label``."""
    from pyspark.sql import functions as F

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no labels at {p}; generate them (scripts/generate_labels.py)")
    df = spark.read.parquet(str(p))
    need = {"member_id", "title_id", "impression_ts", "played_within_7d", "device"}
    missing = sorted(need - set(df.columns))
    if missing:
        raise ValueError(f"labels at {p} lack {missing}; regenerate them with "
                         "scripts/generate_labels.py")
    return df.select("member_id", "title_id", F.col("impression_ts").alias("event_timestamp"),
                     F.col("played_within_7d").alias("label"), "device")
