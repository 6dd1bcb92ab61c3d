"""The consistency table: daily metrics (:mod:`skew.consistency`) as a Parquet dataset.

Layout (Hive partitioning, readable by Spark, pyarrow and DuckDB as one table)::

    <table>/service=<service>/date=<YYYY-MM-DD>/part-0.parquet

one file per service and day, holding one row per output: ``feature``, ``kind``, ``rows``,
``matches``, ``match_rate``, ``mismatches``, ``both_null``, ``online_only_null``,
``offline_only_null``, ``mean_abs_diff``, ``p99_abs_diff`` (null for categorical outputs),
``causes`` (JSON object ``{"class/cause": rows}``), the two state hashes and ``computed_at``
(UTC, µs). The partition columns ``service`` (string, URI-encoded in the path) and ``date``
(date32) come from the path.

**Re-running a day replaces that day's rows for that service**: the new file is written beside
the old one and renamed over it (atomic on one file system), so a reader sees either the old or
the new day, never half of one, and runs for other services or days never touch each other's
files. Other days are appended as new partitions.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq

from skew.consistency import DayConsistency, FeatureDay

FILE = "part-0.parquet"
SCHEMA = pa.schema([
    ("feature", pa.string()), ("kind", pa.string()), ("rows", pa.int64()),
    ("matches", pa.int64()), ("match_rate", pa.float64()), ("mismatches", pa.int64()),
    ("both_null", pa.int64()), ("online_only_null", pa.int64()),
    ("offline_only_null", pa.int64()), ("mean_abs_diff", pa.float64()),
    ("p99_abs_diff", pa.float64()), ("causes", pa.string()),
    ("state_hash_offline", pa.string()), ("state_hash_online", pa.string()),
    ("computed_at", pa.timestamp("us", tz="UTC")),
])
PARTITIONING = pa.schema([("service", pa.string()), ("date", pa.date32())])


def partition_path(table: str | os.PathLike[str], service: str, day: date) -> Path:
    """The file holding ``service``'s rows of ``day``."""
    return Path(table) / f"service={quote(service, safe='')}" / f"date={day.isoformat()}" / FILE


def write_day(table: str | os.PathLike[str], result: DayConsistency) -> Path:
    """Write (or replace) the rows of ``result``'s service and day; return the file."""
    now = datetime.now(timezone.utc)
    records = [{**{k: v for k, v in f.to_record().items() if k not in ("service", "date")},
                "causes": json.dumps(dict(f.causes), sort_keys=True),
                "state_hash_offline": result.state_hash_offline,
                "state_hash_online": result.state_hash_online, "computed_at": now}
               for f in result.features]
    path = partition_path(table, result.service, result.day)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{FILE}.{os.getpid()}.tmp")
    pq.write_table(pa.Table.from_pylist(records, schema=SCHEMA), tmp)
    os.replace(tmp, path)
    return path


def read_history(table: str | os.PathLike[str], service: str) -> list[FeatureDay]:
    """Every stored day of ``service``, as :class:`FeatureDay` values (oldest day first, then
    schema order); ``[]`` when the table holds none."""
    folder = Path(table) / f"service={quote(service, safe='')}"
    files = sorted(folder.glob(f"date=*/{FILE}"))
    out = []
    for file in files:
        day = date.fromisoformat(file.parent.name.removeprefix("date="))
        for r in pq.read_table(file, schema=SCHEMA).to_pylist():
            out.append(FeatureDay(
                service=service, day=day, feature=r["feature"], kind=r["kind"],
                rows=r["rows"], matches=r["matches"], both_null=r["both_null"],
                online_only_null=r["online_only_null"],
                offline_only_null=r["offline_only_null"], mean_abs_diff=r["mean_abs_diff"],
                p99_abs_diff=r["p99_abs_diff"],
                causes=tuple(sorted(json.loads(r["causes"]).items()))))
    return out
