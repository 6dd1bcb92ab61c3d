"""A feature view's batch source as Spark reads it: one definition for the fit step and the
parity check's source lookups.

Any ``SparkSource`` works (path, table or query) through Feast's own
``get_table_query_string``; another source type raises ``ValueError`` naming the view and the
fix. A source without a created-timestamp column has ``created=None``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame


_REUSE: ContextVar[dict[tuple, str] | None] = ContextVar("skewless_reuse_sources", default=None)


@contextmanager
def reusing_sources() -> Iterator[None]:
    """Within the block (this thread's context), :meth:`BatchSource.of` registers each file
    source (same path, format and table format) once and hands the same table to every later
    call, instead of Feast loading the path again (``get_table_query_string`` lists the files
    and reads their footers on every call). Files added to a source during the block are not
    seen: scope it to one job."""
    token = _REUSE.set({})
    try:
        yield
    finally:
        _REUSE.reset(token)


@dataclass(frozen=True)
class BatchSource:
    """The Spark SQL table expression of a view's source and its timestamp columns."""

    view: str
    table_sql: str
    event: str
    created: str | None
    loaded: bool = False  # a file source, registered as a temporary view

    @staticmethod
    def of(feature_view: Any) -> BatchSource:
        src = feature_view.batch_source
        if not hasattr(src, "get_table_query_string"):
            raise ValueError(f"feature view {feature_view.name!r} reads a "
                             f"{type(src).__name__}; skewless reads sources with Spark: "
                             "declare it with a SparkSource")
        memo = _REUSE.get()
        path = getattr(src, "path", None)
        key = (path, getattr(src, "file_format", None), repr(getattr(src, "table_format", None)))
        table_sql = memo.get(key) if memo is not None and path else None
        if table_sql is None:
            table_sql = src.get_table_query_string()
            if memo is not None and path:
                memo[key] = table_sql
        loaded = bool(path) and not getattr(src, "table", None) and not getattr(src, "query", None)
        return BatchSource(feature_view.name, table_sql, src.timestamp_field,
                           src.created_timestamp_column or None, loaded)

    @property
    def temp_view(self) -> str | None:
        """The temporary view Feast registered for a file source (its ``table_sql`` is
        `` `name` ``), ``None`` for a table or query source."""
        name = self.table_sql
        if self.loaded and name.startswith("`") and name.endswith("`"):
            return name[1:-1]
        return None

    def read(self, spark: Any) -> DataFrame:
        """Every row of the source (lazily: Spark reads what the query later needs)."""
        return spark.sql(f"SELECT * FROM {self.table_sql}")
