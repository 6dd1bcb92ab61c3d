"""An independent point-in-time join in DuckDB over the grocery Parquet tables (not a test
module): for each label row at time ``T`` and each feature view, the row with
``T - ttl <= event_timestamp <= T`` and ``created_at <= T`` (views with a created column), the
latest event time first and, among equal event times, the latest created time.

It knows the repo only as a user does — its tables, keys and ttls written down here again —
so it shares no code with Feast or skewless.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb

# view -> (table folder, join key, ttl, created column or None, features)
VIEWS = {
    "customer_profile": ("customer_profile", "customer_id", timedelta(days=3), "created_at",
                         ("orders_28d", "avg_basket_eur_28d", "loyalty_tier", "favourite_aisle",
                          "last_order_ts", "is_subscriber", "tenure_days")),
    "product_stats": ("product_stats", "product_id", timedelta(days=2), None,
                      ("price_eur", "stockout_rate_7d", "category", "units_sold_7d")),
    "store_ops": ("store_ops", "store_code", timedelta(days=1), "created_at",
                  ("pickers_on_shift", "avg_delay_min", "region")),
}
# A UnixTimestamp feature keeps whole seconds in the online store (Feast's unix_timestamp_val),
# so the value both paths must agree on is the source value floored to the second.
WHOLE_SECONDS = {"last_order_ts"}


def _col(table: str, name: str) -> str:
    return f"date_trunc('second', {table}.{name})" if name in WHOLE_SECONDS else f"{table}.{name}"


def pit_join(data: Path, labels: Path, views: dict[str, tuple[str, ...]], keys: list[str],
             extra: tuple[str, ...] = ()) -> list[dict]:
    """One dict per label row: the label's keys, ``asked_at``, ``extra`` label columns and
    the selected features of each view (``None`` when no row qualifies)."""
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    lcols = ", ".join([*keys, "asked_at", *extra])
    sql = [f"WITH l AS (SELECT row_number() OVER () AS rid, {lcols} "
           f"FROM read_parquet('{labels}'))"]
    selects, joins = [], []
    for view, features in views.items():
        folder, key, ttl, created, _ = VIEWS[view]
        secs = int(ttl.total_seconds())
        created_rule = f"AND f.{created} <= l.asked_at" if created else ""
        order = f"f.event_timestamp DESC{f', f.{created} DESC' if created else ''}"
        feats = ", ".join(f"{_col('f', c)} AS {c}" for c in features)
        sql.append(f""", {view} AS (
            SELECT rid, {feats} FROM (
              SELECT l.rid, f.*, row_number() OVER (PARTITION BY l.rid ORDER BY {order}) AS rn
              FROM l JOIN read_parquet('{data / folder}/*.parquet') f
                ON f.{key} = l.{key}
               AND f.event_timestamp <= l.asked_at
               AND f.event_timestamp >= l.asked_at - INTERVAL {secs} SECOND
               {created_rule}) f
            WHERE rn = 1)""")
        selects += [f"{view}.{c}" for c in features]
        joins.append(f"LEFT JOIN {view} USING (rid)")
    sql.append(f" SELECT {', '.join(f'l.{c}' for c in [*keys, 'asked_at', *extra])}, "
               f"{', '.join(selects)} FROM l {' '.join(joins)} ORDER BY l.rid")
    return con.execute("".join(sql)).to_arrow_table().to_pylist()
