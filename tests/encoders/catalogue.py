"""One fitted example of every encoder kind (some in two variants), for the contract tests.

Each :class:`Entry` names the input family its first input belongs to (``number``,
``category``, ``time``, ``flag``, or ``request_time`` for kinds that read only the request
time) and the *documented* output for a missing input, so the contract test can check the
policy, not just that something came out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from encoders import (
    Buckets,
    Clip,
    Cyclical,
    EncoderSet,
    EncoderSpec,
    HashBucket,
    HashedCross,
    Indicator,
    Log1p,
    MinMax,
    Numeric,
    OneHot,
    QuantileBuckets,
    TimeSince,
    VocabIndex,
    ZScore,
    collect_statistics,
    fit,
    stat_requests,
)

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
GENRES = ["Drama"] * 5 + ["Comedy"] * 4 + ["Action"] * 3 + ["Télénovela"] * 2 + ["Rare"]


def training_rows() -> list[dict[str, object]]:
    """Fixed training rows: numbers 0..29 (with gaps), genres with clear counts, a few nulls."""
    rows: list[dict[str, object]] = []
    for i in range(30):
        rows.append({
            "x": float(i) if i % 7 else None,
            "genre": GENRES[i % len(GENRES)],
            "country": ("US", "BR", "GB")[i % 3],
            "event_ts": T0 - timedelta(hours=i),
            "flag": i % 2 == 0,
        })
    return rows


@dataclass(frozen=True)
class Entry:
    id: str
    spec: EncoderSpec
    family: str  # number | category | time | flag | request_time
    missing: tuple  # documented output for a missing input (other inputs fixed by the test)


ENTRIES: tuple[Entry, ...] = (
    Entry("numeric", Numeric("num", input="x", fill=-1.0), "number", (-1.0,)),
    Entry("numeric_ind", Numeric("num_i", input="x", missing_indicator=True), "number",
          (0.0, 1.0)),
    Entry("clip", Clip("clip", input="x", low=2.0, high=20.0, fill=5.0), "number", (5.0,)),
    Entry("log1p", Log1p("log", input="x", missing_indicator=True), "number", (0.0, 1.0)),
    Entry("zscore", ZScore("z", input="x", missing_indicator=True), "number", (0.0, 1.0)),
    Entry("minmax", MinMax("mm", input="x", fill=0.5), "number", (0.5,)),
    Entry("minmax_clip", MinMax("mmc", input="x", clip=True), "number", (0.0,)),
    Entry("buckets", Buckets("b", input="x", boundaries=(5.0, 10.0, 20.0)), "number", (4,)),
    Entry("quantile_buckets", QuantileBuckets("qb", input="x", num_buckets=4), "number", (4,)),
    Entry("vocab_index", VocabIndex("vi", input="genre", min_count=2), "category", (0,)),
    Entry("one_hot", OneHot("oh", input="genre", top_k=3), "category", (0.0,) * 4),
    Entry("hash_bucket", HashBucket("hb", input="genre", num_buckets=50), "category", (50,)),
    Entry("hashed_cross", HashedCross("hx", left="genre", right="country", num_buckets=64),
          "category", (64,)),
    Entry("time_since", TimeSince("ts", input="event_ts", unit="hours", max_value=48.0,
                                  missing_indicator=True), "time", (48.0, 1.0)),
    Entry("hour_of_day", Cyclical("hod", period="hour_of_day"), "request_time", (0.0, 0.0)),
    Entry("day_of_week", Cyclical("dow", period="day_of_week", utc_offset_minutes=-300),
          "request_time", (0.0, 0.0)),
    Entry("indicator", Indicator("flag_i", input="flag", fill=0.5, missing_indicator=True),
          "flag", (0.5, 1.0)),
)

# other inputs held fixed while one input is varied
BASE_ROW = {"x": 12.0, "genre": "Drama", "country": "US", "event_ts": T0 - timedelta(hours=3),
            "flag": True}
REQUEST_TIME = T0 + timedelta(hours=5, minutes=30)


def fitted(entry: Entry) -> EncoderSet:
    """The entry's spec fitted on :func:`training_rows` as a one-encoder set."""
    return fit([entry.spec], collect_statistics(training_rows(), stat_requests([entry.spec])))


def full_set() -> EncoderSet:
    """Every entry in one set (used for the cross-process hash check)."""
    specs = [e.spec for e in ENTRIES]
    return fit(specs, collect_statistics(training_rows(), stat_requests(specs)))


if __name__ == "__main__":  # used by the subprocess hash test
    print(full_set().content_hash)
    for e in ENTRIES:
        print(e.id, fitted(e).content_hash)
