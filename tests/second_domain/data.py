"""Deterministic grocery-delivery data for the second-domain tests (not a test module).

:func:`generate` writes three feature tables and two label sets as Parquet (timestamps
microseconds UTC, as Spark needs) under ``out_dir``:

* ``customer_profile/`` — one row per customer and snapshot day (a customer skips ~10% of
  days; a fifth of the customers sign up half way through), ``created_at`` 10 minutes after the
  snapshot, and late restatements (same ``event_timestamp``, ``created_at`` 6-60 h later,
  other values);
* ``product_stats/`` — one row per product and day (15% of days missing), no created column,
  never restated; product ids above 2**32;
* ``store_ops/`` — one row per store and day (20% missing, and none for ``CLOSED_STORE`` on
  the last day: the 1-day ttl expires), restated like the profiles; a non-ASCII store code;
* ``labels/basket_value.parquet`` — ``customer_id``, ``asked_at``, ``basket_eur`` (float);
* ``labels/substitution.parquet`` — the three keys, ``asked_at``, ``channel``, ``basket_size``,
  ``accepted`` (0/1).

Values are messy on purpose: nulls in every column, unicode and empty strings, stockout rates
above 1, zero prices, unknown customers in the labels.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

START = datetime(2025, 3, 1, tzinfo=timezone.utc)
DAYS = 20
LAST_SNAPSHOT = START + timedelta(days=DAYS - 1)
LATE_MAX = timedelta(hours=60)  # the latest restatement is created this long after its day
TIERS = ("bronze", "silver", "gold", "platinum")
AISLES = ("Obst & Gemüse", "Bäckerei", "Molkerei", "Tiefkühl", "日本食品", "Épicerie fine",
          "Getränke", "Drogerie", "")
CATEGORIES = ("Obst", "Gemüse", "Milchprodukte", "Backwaren", "Getränke", "Snacks", "Tiefkühl",
              "Haushalt", "Süßwaren")
STORES = {"BER-01": "Berlin", "BER-02": "Berlin", "HAM-01": "Hamburg", "MUC-01": "München",
          "KÖL-01": "Köln", "FRA-01": "Frankfurt", "LEI-01": "Sachsen", "DRE-01": "Sachsen"}
CHANNELS = ("app", "web", "voice", "Ω-kiosk")
PRODUCT_BASE = 7_000_000_000
UNKNOWN_CUSTOMER = "c-unbekannt"
CLOSED_STORE = "DRE-01"  # no row on the last snapshot day: its 1-day ttl expires then

TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Generated:
    out_dir: Path
    customers: tuple[str, ...]
    products: tuple[int, ...]
    stores: tuple[str, ...]

    def table(self, name: str) -> Path:
        return self.out_dir / name

    @property
    def basket_labels(self) -> Path:
        return self.out_dir / "labels" / "basket_value.parquet"

    @property
    def substitution_labels(self) -> Path:
        return self.out_dir / "labels" / "substitution.parquet"


def _maybe(rng: random.Random, value, p_null: float = 0.05):
    return None if rng.random() < p_null else value


def _write(rows: list[dict], schema: pa.Schema, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


CUSTOMER_SCHEMA = pa.schema([
    ("customer_id", pa.string()), ("event_timestamp", TS), ("created_at", TS),
    ("orders_28d", pa.int64()), ("avg_basket_eur_28d", pa.float64()),
    ("loyalty_tier", pa.string()), ("favourite_aisle", pa.string()),
    ("last_order_ts", TS), ("is_subscriber", pa.bool_()), ("tenure_days", pa.int64()),
])
PRODUCT_SCHEMA = pa.schema([
    ("product_id", pa.int64()), ("event_timestamp", TS), ("price_eur", pa.float64()),
    ("stockout_rate_7d", pa.float64()), ("category", pa.string()),
    ("units_sold_7d", pa.int64()),
])
STORE_SCHEMA = pa.schema([
    ("store_code", pa.string()), ("event_timestamp", TS), ("created_at", TS),
    ("pickers_on_shift", pa.int64()), ("avg_delay_min", pa.float64()), ("region", pa.string()),
])


def generate(out_dir: Path, *, customers: int = 300, products: int = 120, seed: int = 20250301,
             basket_labels: int = 500, substitution_labels: int = 700) -> Generated:
    """Write the tables and labels (module docstring); the same seed writes the same bytes."""
    rng = random.Random(seed)
    out_dir = Path(out_dir)
    cust_ids = tuple(f"c{i:04d}" if i % 37 else f"c{i:04d}-ø" for i in range(customers))
    prod_ids = tuple(PRODUCT_BASE + 3 * i for i in range(products))
    store_codes = tuple(STORES)
    days = [START + timedelta(days=d) for d in range(DAYS)]

    cust_rows, late_cust = [], []
    for c in cust_ids:
        first_day = DAYS // 2 if rng.random() < 0.2 else 0
        orders = rng.randint(0, 30)
        tier = rng.choice(TIERS)
        aisle = rng.choice(AISLES)
        tenure = rng.randint(1, 900)
        for d, day in enumerate(days[first_day:], start=first_day):
            orders = max(0, orders + rng.randint(-2, 3))
            if rng.random() < 0.1:
                continue
            last = day - timedelta(hours=rng.uniform(1, 24 * 20),
                                   microseconds=rng.randint(0, 999_999))
            row = {
                "customer_id": c, "event_timestamp": day,
                "created_at": day + timedelta(minutes=10),
                "orders_28d": _maybe(rng, orders),
                "avg_basket_eur_28d": _maybe(rng, round(rng.lognormvariate(3.5, 0.6), 2)
                                             if orders else 0.0),
                "loyalty_tier": _maybe(rng, tier, 0.08),
                "favourite_aisle": _maybe(rng, aisle),
                "last_order_ts": _maybe(rng, last),
                "is_subscriber": _maybe(rng, rng.random() < 0.3, 0.1),
                "tenure_days": tenure + d,
            }
            cust_rows.append(row)
            if rng.random() < 0.08:
                late = dict(row)
                late["created_at"] = day + timedelta(hours=rng.uniform(6, 60))
                late["orders_28d"] = (row["orders_28d"] or 0) + rng.randint(1, 5)
                late["avg_basket_eur_28d"] = round(rng.uniform(5, 120), 2)
                late["loyalty_tier"] = rng.choice(TIERS)
                late_cust.append(late)

    prod_rows = []
    for p in prod_ids:
        price = round(rng.uniform(0.3, 25.0), 2) if rng.random() > 0.03 else 0.0
        cat = rng.choice(CATEGORIES)
        for day in days:
            if rng.random() < 0.15:
                continue
            prod_rows.append({
                "product_id": p, "event_timestamp": day,
                "price_eur": _maybe(rng, round(price * rng.uniform(0.9, 1.1), 2)),
                "stockout_rate_7d": _maybe(rng, round(rng.uniform(0.0, 1.2), 4)),
                "category": _maybe(rng, cat, 0.03),
                "units_sold_7d": _maybe(rng, rng.randint(0, 400)),
            })

    store_rows, late_store = [], []
    for s, region in STORES.items():
        for day in days:
            if rng.random() < 0.2 or (s == CLOSED_STORE and day == days[-1]):
                continue
            row = {"store_code": s, "event_timestamp": day,
                   "created_at": day + timedelta(minutes=30),
                   "pickers_on_shift": _maybe(rng, rng.randint(2, 25)),
                   "avg_delay_min": _maybe(rng, round(rng.uniform(0, 45), 1)),
                   "region": _maybe(rng, region)}
            store_rows.append(row)
            if rng.random() < 0.15:
                late = dict(row)
                late["created_at"] = day + timedelta(hours=rng.uniform(6, 30))
                late["pickers_on_shift"] = rng.randint(2, 25)
                late["avg_delay_min"] = round(rng.uniform(0, 45), 1)
                late_store.append(late)

    _write(cust_rows, CUSTOMER_SCHEMA, out_dir / "customer_profile" / "part-0.parquet")
    _write(late_cust, CUSTOMER_SCHEMA, out_dir / "customer_profile" / "late-0.parquet")
    _write(prod_rows, PRODUCT_SCHEMA, out_dir / "product_stats" / "part-0.parquet")
    _write(store_rows, STORE_SCHEMA, out_dir / "store_ops" / "part-0.parquet")
    _write(late_store, STORE_SCHEMA, out_dir / "store_ops" / "late-0.parquet")

    def asked_at() -> datetime:
        return START + timedelta(hours=1) + timedelta(
            microseconds=rng.randint(0, (DAYS + 1) * 86_400 * 1_000_000))

    label_customers = (*cust_ids, UNKNOWN_CUSTOMER)
    basket = [{"customer_id": rng.choice(label_customers), "asked_at": asked_at(),
               "basket_eur": round(rng.lognormvariate(3.4, 0.7), 2)}
              for _ in range(basket_labels)]
    _write(basket, pa.schema([("customer_id", pa.string()), ("asked_at", TS),
                              ("basket_eur", pa.float64())]),
           out_dir / "labels" / "basket_value.parquet")
    subst = [{"customer_id": rng.choice(label_customers), "product_id": rng.choice(prod_ids),
              "store_code": rng.choice(store_codes), "asked_at": asked_at(),
              "channel": _maybe(rng, rng.choice(CHANNELS)),
              "basket_size": _maybe(rng, rng.randint(1, 60)),
              "accepted": int(rng.random() < 0.6)}
             for _ in range(substitution_labels)]
    _write(subst, pa.schema([("customer_id", pa.string()), ("product_id", pa.int64()),
                             ("store_code", pa.string()), ("asked_at", TS),
                             ("channel", pa.string()), ("basket_size", pa.int64()),
                             ("accepted", pa.int64())]),
           out_dir / "labels" / "substitution.parquet")
    return Generated(out_dir, cust_ids, prod_ids, store_codes)
