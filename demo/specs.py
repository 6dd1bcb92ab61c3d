"""The demo recommendation model's input contract, and synthetic rows shaped like its inputs.

``DEMO_SPECS`` is a realistic set — 20 encoders, 47 outputs — over member features, title
features and the request context. It is the set the benchmark, the demo job and the tests use.
:func:`synthetic_rows` makes deterministic rows (``random.Random(seed)``, no global state) with
the messy values real data has: nulls, NaN, unseen categories, unicode, naive datetimes,
negative counts and numeric strings.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from encoders.base import EncoderSpec
from encoders.buckets import Buckets, QuantileBuckets
from encoders.categorical import HashBucket, HashedCross, OneHot, VocabIndex
from encoders.numeric import Clip, Log1p, MinMax, Numeric, ZScore
from encoders.temporal import Cyclical, TimeSince

MEMBER_INPUTS = ("watch_minutes_7d", "watch_minutes_28d", "titles_started_7d",
                 "completion_rate_28d", "top_genre_28d", "last_watch_ts", "thumbs_up_ratio",
                 "country", "plan", "tenure_days")
TITLE_INPUTS = ("title_plays_7d", "title_completion_rate_28d", "title_thumbs_up_rate",
                "title_genre", "release_year", "maturity_rating", "runtime_minutes")
REQUEST_INPUTS = ("device",)

DEMO_SPECS: tuple[EncoderSpec, ...] = (
    # member features
    ZScore("watch_minutes_7d_z", input="watch_minutes_7d", missing_indicator=True),
    Log1p("watch_minutes_28d_log", input="watch_minutes_28d"),
    QuantileBuckets("titles_started_7d_q", input="titles_started_7d", num_buckets=8),
    Clip("completion_rate_28d_c", input="completion_rate_28d", low=0.0, high=1.0,
         missing_indicator=True),
    OneHot("top_genre_28d_oh", input="top_genre_28d", top_k=12, min_count=2),
    TimeSince("days_since_last_watch", input="last_watch_ts", unit="days", max_value=90.0,
              missing_indicator=True),
    Clip("thumbs_up_ratio_c", input="thumbs_up_ratio", low=0.0, high=1.0,
         missing_indicator=True),
    VocabIndex("country_idx", input="country", top_k=50),
    OneHot("plan_oh", input="plan"),
    MinMax("tenure_days_mm", input="tenure_days", clip=True),
    # title features
    Log1p("title_plays_7d_log", input="title_plays_7d"),
    ZScore("title_completion_rate_z", input="title_completion_rate_28d"),
    Numeric("title_thumbs_up_rate_n", input="title_thumbs_up_rate", fill=0.5,
            missing_indicator=True),
    Buckets("release_year_b", input="release_year", boundaries=(1990.0, 2000.0, 2010.0, 2020.0)),
    OneHot("maturity_oh", input="maturity_rating"),
    QuantileBuckets("runtime_q", input="runtime_minutes", num_buckets=5),
    # crosses and request context
    HashedCross("country_x_genre", left="country", right="title_genre", num_buckets=1024),
    HashBucket("device_h", input="device", num_buckets=64),
    Cyclical("request_hour", period="hour_of_day"),
    Cyclical("request_dow", period="day_of_week"),
)

GENRES = ("Drama", "Comedy", "Action", "Documentary", "Thriller", "Romance", "Kids",
          "Horror", "Sci-Fi", "Anime", "Télénovela", "Stand-Up", "Reality", "Crime")
COUNTRIES = ("US", "BR", "GB", "DE", "FR", "IN", "MX", "JP", "KR", "ES", "CA", "AU")
PLANS = ("basic", "standard", "premium")
RATINGS = ("G", "PG", "PG-13", "R", "TV-MA")
DEVICES = ("tv", "mobile", "web", "tablet", "console")
BASE_TIME = datetime(2026, 11, 1, tzinfo=timezone.utc)


def synthetic_rows(n: int, seed: int = 7, messy_rate: float = 0.05) -> list[dict[str, object]]:
    """``n`` deterministic raw rows for :data:`DEMO_SPECS`; about ``messy_rate`` of values are
    None, NaN or numeric strings and 10% of datetimes are naive (``messy_rate=0``: all values
    present, of their natural type, datetimes aware)."""
    rng = random.Random(seed)
    scale = messy_rate / 0.05

    def messy(value: object) -> object:
        r = rng.random() / scale if scale else 1.0
        if r < 0.03:
            return None
        if r < 0.04:
            return float("nan")
        if r < 0.05 and isinstance(value, float):
            return str(value)  # a numeric string
        return value

    rows = []
    for _ in range(n):
        last = BASE_TIME - timedelta(seconds=rng.expovariate(1 / 400000))
        rows.append({
            "watch_minutes_7d": messy(rng.lognormvariate(4.0, 1.2)),
            "watch_minutes_28d": messy(rng.lognormvariate(5.3, 1.1) - (5 if rng.random() < 0.01
                                                                     else 0)),
            "titles_started_7d": messy(int(rng.paretovariate(1.5))),
            "completion_rate_28d": messy(rng.betavariate(2, 3)),
            "top_genre_28d": messy(rng.choice(GENRES)),
            "last_watch_ts": messy(last.replace(tzinfo=None) if rng.random() < 0.1 * scale
                                   else last),
            "thumbs_up_ratio": messy(rng.random()),
            "country": messy(rng.choice(COUNTRIES) if rng.random() > 0.01 else "ZZ"),  # unseen
            "plan": messy(rng.choice(PLANS)),
            "tenure_days": messy(rng.randint(-2, 3000)),
            "title_plays_7d": messy(int(rng.paretovariate(1.1) * 10)),
            "title_completion_rate_28d": messy(rng.betavariate(3, 2)),
            "title_thumbs_up_rate": messy(rng.betavariate(5, 2)),
            "runtime_minutes": messy(rng.choice((22, 30, 45, 60, 95, 110, 125, 150))),
            "release_year": messy(rng.randint(1950, 2026)),
            "maturity_rating": messy(rng.choice(RATINGS)),
            "title_genre": messy(rng.choice(GENRES)),
            "device": messy(rng.choice(DEVICES)),
        })
    return rows


def request_times(n: int, seed: int = 11) -> list[datetime]:
    """``n`` deterministic aware request times spread over a week after ``BASE_TIME``."""
    rng = random.Random(seed)
    return [BASE_TIME + timedelta(seconds=rng.uniform(0, 7 * 86400)) for _ in range(n)]
