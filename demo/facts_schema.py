"""The facts' layout and vocabulary: configuration, presets, Arrow schemas and paths.

Layout under a facts directory (written by ``demo.facts.generate_facts``)::

    members/part-0.parquet                          one row per member
    titles/part-0.parquet                           one row per title
    member_plans/part-0.parquet                     plan at signup + later plan changes
    viewing_events/date=YYYY-MM-DD/part-0.parquet   hive partitions by UTC date of start_ts
    thumbs/date=YYYY-MM-DD/part-0.parquet           hive partitions by UTC date of event_ts
    _facts_manifest.json                            config and row counts (sorted keys)

The partition column ``date`` lives in the directory names only, not inside the files.
Every timestamp column is ``timestamp('us', tz='UTC')``, which Spark reads as TimestampType
(Spark cannot read pandas' default nanosecond timestamps). ``member_plans`` is not
partitioned: its rows start years before the window (signups). Member ids at or above
``COLD_START_MEMBER_ID_BASE`` never appear in any fact table.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa

DAY_US = 86_400_000_000
SECOND_US = 1_000_000
TS = pa.timestamp("us", tz="UTC")
MANIFEST_NAME = "_facts_manifest.json"
MEMBER_ID_BASE = 1_000_000
TITLE_ID_BASE = 500_000
#: Member ids at or above this value never appear in generated facts (cold-start members).
COLD_START_MEMBER_ID_BASE = 9_000_000_000

GENRES = (
    "Drama", "Comedy", "Action", "Thriller", "Documentary", "Kids",
    "Sci-Fi", "Romance", "Horror", "Anime", "Crime", "Télénovela",
)  # fmt: skip
GENRE_WEIGHTS = (16, 14, 12, 10, 7, 8, 7, 7, 5, 5, 5, 4)
COUNTRIES = ("US", "GB", "DE", "FR", "BR", "MX", "IN", "JP", "KR", "ES", "CA", "AU")
COUNTRY_WEIGHTS = (30, 8, 7, 6, 9, 6, 10, 5, 4, 5, 5, 5)
PLANS = ("basic", "standard", "premium")
PLAN_WEIGHTS = (35, 45, 20)
RATINGS = ("TV-Y", "G", "PG", "PG-13", "TV-14", "R", "TV-MA")
RATING_WEIGHTS = (6, 6, 12, 20, 20, 18, 18)
DEVICES = ("tv", "mobile", "web", "tablet", "console")
DEVICE_WEIGHTS = (45, 25, 15, 10, 5)

MEMBERS_SCHEMA = pa.schema(
    [("member_id", pa.int64()), ("country", pa.string()), ("signup_ts", TS), ("churn_ts", TS)]
)
TITLES_SCHEMA = pa.schema(
    [
        ("title_id", pa.int64()),
        ("genre", pa.string()),
        ("release_year", pa.int64()),
        ("maturity_rating", pa.string()),
        ("runtime_minutes", pa.int64()),
    ]
)
MEMBER_PLANS_SCHEMA = pa.schema(
    [("member_id", pa.int64()), ("plan", pa.string()), ("event_ts", TS), ("created_ts", TS)]
)
VIEWING_EVENTS_SCHEMA = pa.schema(
    [
        ("member_id", pa.int64()),
        ("title_id", pa.int64()),
        ("start_ts", TS),
        ("minutes_watched", pa.float64()),
        ("device", pa.string()),
        ("completed", pa.bool_()),
        ("created_ts", TS),
    ]
)
THUMBS_SCHEMA = pa.schema(
    [
        ("member_id", pa.int64()),
        ("title_id", pa.int64()),
        ("event_ts", TS),
        ("thumb", pa.int64()),
        ("created_ts", TS),
    ]
)
SCHEMAS: dict[str, pa.Schema] = {
    "members": MEMBERS_SCHEMA,
    "titles": TITLES_SCHEMA,
    "member_plans": MEMBER_PLANS_SCHEMA,
    "viewing_events": VIEWING_EVENTS_SCHEMA,
    "thumbs": THUMBS_SCHEMA,
}
#: Tables written in hive ``date=YYYY-MM-DD`` partitions.
PARTITIONED_TABLES = ("viewing_events", "thumbs")


@dataclass(frozen=True)
class FactsConfig:
    """What to generate. ``start`` is the first UTC day; the window is ``[start, start+days)``.

    ``n_events`` is a target for viewing events (a few percent are dropped, see
    ``demo.facts``). Rates are probabilities in [0, 1]: ``churn_rate`` (members who churn
    inside the window), ``late_rate`` (events/thumbs created 1-3 days late), ``thumbs_rate``
    (views followed by a thumb), ``*_null_rate`` (missing values), ``boundary_rate`` (views
    starting exactly at midnight). ``plan_change_rate`` is the expected number of plan changes
    per member inside the window (>= 0, Poisson). ``pre_window_signup_share`` of members signed
    up up to three years before ``start``; the others sign up inside the window.
    """

    seed: int = 7
    n_members: int = 300
    n_titles: int = 120
    n_events: int = 20_000
    start: date = date(2024, 1, 1)
    days: int = 35
    churn_rate: float = 0.15
    late_rate: float = 0.005
    thumbs_rate: float = 0.08
    plan_change_rate: float = 0.4
    pre_window_signup_share: float = 0.6
    country_null_rate: float = 0.03
    genre_null_rate: float = 0.05
    runtime_null_rate: float = 0.04
    boundary_rate: float = 0.002

    def __post_init__(self) -> None:
        for name in ("n_members", "n_titles", "days"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"FactsConfig.{name} must be >= 1 (got {getattr(self, name)})")
        if self.n_events < 0:
            raise ValueError(f"FactsConfig.n_events must be >= 0 (got {self.n_events})")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"FactsConfig.seed must be in [0, 2**63) (got {self.seed})")
        if isinstance(self.start, datetime) or not isinstance(self.start, date):
            raise ValueError(
                "FactsConfig.start must be a datetime.date (a UTC day), not a datetime"
            )
        for f in fields(self):
            probability = f.name.endswith(("_rate", "_share")) and f.name != "plan_change_rate"
            if probability and not 0.0 <= getattr(self, f.name) <= 1.0:
                raise ValueError(f"FactsConfig.{f.name} must be within [0, 1]")
        if self.plan_change_rate < 0:
            raise ValueError("FactsConfig.plan_change_rate must be >= 0")

    @property
    def end(self) -> date:
        """First day after the window (exclusive end)."""
        return self.start + timedelta(days=self.days)

    def to_json_dict(self) -> dict[str, object]:
        """JSON-ready dict (``start`` as ISO date)."""
        out = asdict(self)
        out["start"] = self.start.isoformat()
        return out

    @classmethod
    def from_json_dict(cls, data: dict[str, object]) -> FactsConfig:
        """Inverse of ``to_json_dict``; unknown keys raise ValueError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown FactsConfig keys {unknown}: regenerate the facts")
        values = dict(data)
        values["start"] = date.fromisoformat(str(values["start"]))
        return cls(**values)  # type: ignore[arg-type]


PRESETS: dict[str, FactsConfig] = {
    "tiny": FactsConfig(),
    "small": FactsConfig(n_members=5_000, n_titles=1_000, n_events=200_000, days=60),
    "medium": FactsConfig(n_members=50_000, n_titles=5_000, n_events=1_000_000, days=90),
    "large": FactsConfig(n_members=500_000, n_titles=20_000, n_events=10_000_000, days=180),
}


def preset(name: str, seed: int | None = None) -> FactsConfig:
    """A named preset, optionally with another seed. Unknown names raise ValueError."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    config = PRESETS[name]
    return config if seed is None else replace(config, seed=seed)


def epoch_us(day: date) -> int:
    """Microseconds since the Unix epoch of ``day`` 00:00 UTC."""
    return (day - date(1970, 1, 1)).days * DAY_US


def table_path(facts_dir: str | Path, table: str) -> Path:
    """Directory of one fact table. Unknown table names raise ValueError."""
    if table not in SCHEMAS:
        raise ValueError(f"unknown fact table {table!r}: choose one of {', '.join(SCHEMAS)}")
    return Path(facts_dir) / table


def read_manifest(facts_dir: str | Path) -> FactsConfig:
    """The FactsConfig that generated ``facts_dir`` (raises FileNotFoundError naming the fix)."""
    path = Path(facts_dir) / MANIFEST_NAME
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: generate facts with scripts/generate_facts.py --out {facts_dir}"
        )
    return FactsConfig.from_json_dict(json.loads(path.read_text(encoding="utf-8"))["config"])
