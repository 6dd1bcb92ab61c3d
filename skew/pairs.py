"""The (entity keys, as-of time) pairs the parity check compares: normalised from user input,
sampled from labels, and shipped to Spark.

Edge cases: pairs need every join key of the feature service and an aware ``event_timestamp``
(naive times, missing keys, nulls, an empty list raise ``ValueError`` naming the row and the
fix); a request input absent or NaN (pandas) becomes ``None``; numpy scalars become Python
values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from skew.sources import AS_OF, ROW

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)


def micros(t: datetime) -> int:
    """POSIX microseconds of an aware datetime (exact, any year)."""
    return (t - _EPOCH) // _US


def instant(us: int) -> datetime:
    """The aware UTC datetime of POSIX microseconds ``us`` (inverse of :func:`micros`)."""
    return _EPOCH + us * _US


def aware_time(value: Any, i: int) -> datetime:
    """``value`` (a datetime, pandas Timestamp or ISO-8601 string with an offset) as an aware
    UTC datetime; naive or unparseable values raise ``ValueError`` naming pair ``i``."""
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"pair {i}: event_timestamp {value!r} is not ISO-8601; write e.g. "
                             "2024-01-10T12:00:00+00:00") from None
    if not isinstance(value, datetime):
        raise ValueError(f"pair {i}: event_timestamp {value!r} is not a datetime; pass an "
                         "aware datetime or an ISO-8601 string with an offset")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"pair {i}: event_timestamp {value.isoformat()} is naive; pass an "
                         "aware time, e.g. .replace(tzinfo=timezone.utc)")
    return value.astimezone(timezone.utc)


def normalise_pairs(pairs: Any, entity_keys: Sequence[str], request_inputs: Sequence[str]
                    ) -> list[dict[str, Any]]:
    """Pairs (a pandas DataFrame or a sequence of mappings) as dicts with the entity keys, an
    aware UTC ``event_timestamp`` (the as-of time) and the request inputs (absent -> None)."""
    if hasattr(pairs, "to_dict") and hasattr(pairs, "columns"):
        pairs = pairs.to_dict("records")
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise ValueError("pairs must be a list of mappings or a pandas DataFrame with "
                         f"{[*entity_keys, AS_OF]}")
    if not pairs:
        raise ValueError("pairs is empty: give at least one (entity keys, event_timestamp) row")
    out = []
    for i, p in enumerate(pairs):
        if not isinstance(p, Mapping):
            raise ValueError(f"pair {i} is a {type(p).__name__}, not a mapping")
        absent = [k for k in (*entity_keys, AS_OF) if p.get(k) is None]
        if absent:
            raise ValueError(f"pair {i} lacks {absent}; every pair needs "
                             f"{[*entity_keys, AS_OF]}")
        row = {k: _plain(p[k]) for k in entity_keys}
        row[AS_OF] = aware_time(p[AS_OF], i)
        for k in request_inputs:
            v = p.get(k)
            row[k] = None if v is None or v != v else _plain(v)  # NaN from pandas -> None
        out.append(row)
    return out


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def sample_pairs(labels: Any, n: int, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` rows of a labels DataFrame (Spark; entity keys, ``event_timestamp``, request
    columns) sampled reproducibly, as dicts with aware UTC times. Only the sample is
    collected."""
    from pyspark.sql import functions as F

    if n < 1:
        raise ValueError(f"n={n} must be >= 1")
    sample = labels.orderBy(F.xxhash64(*labels.columns, F.lit(seed))).limit(n)
    return sample.toArrow().to_pylist()



def _spark_type(values: Sequence[Any]) -> Any:
    from pyspark.sql.types import BooleanType, DoubleType, LongType, StringType

    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return BooleanType()
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return LongType()
    if present and all(isinstance(v, (int, float)) for v in present):
        return DoubleType()
    return StringType()


def pairs_frame(spark: Any, pairs: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Any:
    """The pairs as a Spark DataFrame: ``_parity_row`` (the index), ``columns``,
    ``event_timestamp``."""
    from pyspark.sql.types import LongType, StructField, StructType, TimestampType

    fields = [StructField(ROW, LongType(), False), *_fields(pairs, columns),
              StructField(AS_OF, TimestampType(), False)]
    values = [list(range(len(pairs))), *([p[c] for p in pairs] for c in columns),
              [p[AS_OF] for p in pairs]]
    return _local_frame(spark, values, StructType(fields))


def values_frame(spark: Any, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Any:
    """``rows``' ``columns`` as a Spark DataFrame, typed as :func:`pairs_frame` types them
    (all ints: long; numbers: double; all bools: boolean; else string)."""
    from pyspark.sql.types import StructType

    return _local_frame(spark, [[r[c] for r in rows] for c in columns],
                        StructType(_fields(rows, columns)))


def _local_frame(spark: Any, columns: Sequence[Sequence[Any]], schema: Any) -> Any:
    """A DataFrame of ``columns`` (one list per field of ``schema``: long, double, boolean,
    string or timestamp), handed to Spark as one Arrow table: a local relation the JVM reads,
    where a list of rows became an RDD that a Python worker had to decode in every job that
    read it. Timestamps must be aware (read as UTC instants); a value its column type cannot
    hold raises ``TypeError`` naming the column."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_type

    arrays = []
    for f, values in zip(schema.fields, columns):
        try:  # PySpark's own Spark -> Arrow type mapping, timestamps as UTC instants
            arrays.append(pa.array(values, to_arrow_type(f.dataType, timezone="UTC")))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise TypeError(f"column {f.name!r} ({f.dataType.simpleString()}) cannot hold its "
                            f"values ({exc}); give it values of one type") from None
    return spark.createDataFrame(pa.table(arrays, names=[f.name for f in schema.fields]),
                                 schema)


def entities_frame(spark: Any, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> Any:
    """The distinct ``keys`` tuples of ``rows`` as a Spark DataFrame (typed as
    :func:`values_frame`), first-seen order."""
    distinct = dict.fromkeys(tuple(r[k] for k in keys) for r in rows)
    return values_frame(spark, [dict(zip(keys, ent)) for ent in distinct], keys)


def _fields(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[Any]:
    from pyspark.sql.types import StructField

    return [StructField(c, _spark_type([r[c] for r in rows]), True) for c in columns]
