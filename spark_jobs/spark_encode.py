"""Apply an encoder set inside Spark with the library's own Python code (``mapInArrow``).

Feast runs python on-demand views on the driver after ``toPandas()``; this runs the *same*
:func:`encoders.columns.encode_columns` in Spark's Python workers, batch by batch, so a training
set of any size is encoded without collecting it. The set travels to the workers as its
published JSON text and is parsed once per worker process.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from encoders import EncoderSet, dumps
from encoders.columns import encode_columns, encoder_set_from_text
from spark_jobs.arrow_values import column_values

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from pyspark.sql import DataFrame


def encoded_schema(df: DataFrame, enc: EncoderSet, keep: Sequence[str]):
    """Spark schema of the output: the ``keep`` columns as they are, then the encoded ones."""
    from pyspark.sql.types import DoubleType, LongType, StructField, StructType

    by_name = {f.name: f for f in df.schema.fields}
    fields = [by_name[c] for c in keep]
    fields += [
        StructField(f.name, LongType() if f.dtype == "int64" else DoubleType(), False)
        for f in enc.schema
    ]
    return StructType(fields)


def encode_frame(
    df: DataFrame,
    enc: EncoderSet,
    keep: Sequence[str],
    request_time_column: str = "event_timestamp",
) -> DataFrame:
    """``df`` with the ``keep`` columns plus one column per encoder output.

    Input columns the set reads that ``df`` lacks are missing for every row (their documented
    fill). ``request_time_column`` is each row's request time (the label timestamp).
    """
    import pyarrow as pa

    missing_keep = [c for c in (*keep, request_time_column) if c not in df.columns]
    if missing_keep:
        raise ValueError(
            f"columns {missing_keep} are not in the joined frame (it has "
            f"{sorted(df.columns)}); check the label columns"
        )
    clash = sorted(set(keep) & set(enc.names))
    if clash:
        raise ValueError(f"kept columns {clash} collide with encoder outputs; rename them")
    state_json = dumps(enc)
    reads = [c for c in (*enc.inputs, request_time_column) if c in df.columns]
    keep = list(keep)
    out_schema = encoded_schema(df, enc, keep)
    arrow_types = [pa.int64() if f.dtype == "int64" else pa.float64() for f in enc.schema]
    names = list(enc.names)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        local = encoder_set_from_text(state_json)
        for batch in batches:
            cols = {c: column_values(batch.column(batch.schema.get_field_index(c))) for c in reads}
            encoded = encode_columns(local, cols, request_time_column)
            arrays = [batch.column(batch.schema.get_field_index(c)) for c in keep]
            arrays += [pa.array(encoded[n], t) for n, t in zip(names, arrow_types)]
            yield pa.RecordBatch.from_arrays(arrays, names=keep + names)

    return df.select(*dict.fromkeys([*keep, *reads])).mapInArrow(run, out_schema)
