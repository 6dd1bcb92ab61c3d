"""A feature view's batch source as Spark reads it: one definition for the fit step and the
parity check's source lookups.

Any ``SparkSource`` works (path, table or query) through Feast's own
``get_table_query_string``; another source type raises ``ValueError`` naming the view and the
fix. A source without a created-timestamp column has ``created=None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame


@dataclass(frozen=True)
class BatchSource:
    """The Spark SQL table expression of a view's source and its timestamp columns."""

    view: str
    table_sql: str
    event: str
    created: str | None

    @staticmethod
    def of(feature_view: Any) -> BatchSource:
        src = feature_view.batch_source
        if not hasattr(src, "get_table_query_string"):
            raise ValueError(f"feature view {feature_view.name!r} reads a "
                             f"{type(src).__name__}; skewless reads sources with Spark: "
                             "declare it with a SparkSource")
        return BatchSource(feature_view.name, src.get_table_query_string(),
                           src.timestamp_field, src.created_timestamp_column or None)

    def read(self, spark: Any) -> DataFrame:
        """Every row of the source (lazily: Spark reads what the query later needs)."""
        return spark.sql(f"SELECT * FROM {self.table_sql}")
