"""An independent point-in-time join in DuckDB over the demo's feature tables (not a test
module): for each label, the latest feature row with ``T - ttl <= event_timestamp <= T`` and
``created_timestamp <= T``, ties on the event time broken by the latest created time. DuckDB
runs in UTC, so the answer does not depend on the process time zone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb

TTL = timedelta(days=2)


def pit_oracle(data: Path, labels_glob: str, table: str, key: str, cols: tuple[str, ...],
               ts_column: str = "impression_ts", ttl: timedelta = TTL
               ) -> duckdb.DuckDBPyConnection:
    """The join of ``table``'s ``cols`` onto the labels at ``labels_glob`` (Parquet with
    ``impression_id``, ``member_id``, ``title_id`` and ``ts_column``), one row per label in
    ``impression_id`` order: ``impression_id``, ``ts``, ``cols``, ``fts`` (the feature row's
    event time, null when none qualifies). Call ``.df()`` or ``.to_arrow_table()`` on it."""
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    sel = ", ".join(f"f.{c}" for c in cols)
    return con.execute(f"""
        WITH l AS (SELECT impression_id, member_id, title_id, {ts_column} AS ts
                   FROM read_parquet('{labels_glob}')),
        f AS (SELECT * FROM read_parquet('{data}/features/{table}/*/*.parquet',
                                         hive_partitioning = true)),
        c AS (SELECT l.impression_id, {sel}, f.event_timestamp AS fts,
                     row_number() OVER (PARTITION BY l.impression_id
                        ORDER BY f.event_timestamp DESC, f.created_timestamp DESC) AS rn
              FROM l JOIN f ON f.{key} = l.{key} AND f.event_timestamp <= l.ts
                   AND f.event_timestamp >= l.ts - INTERVAL {int(ttl.total_seconds())} SECOND
                   AND f.created_timestamp <= l.ts)
        SELECT l.impression_id, l.ts, {", ".join(f"c.{c}" for c in cols)}, c.fts
        FROM l LEFT JOIN c ON c.impression_id = l.impression_id AND c.rn = 1
        ORDER BY l.impression_id""")
