"""The parity suite: the offline vector (Spark training-set path) equals the online vector
(materialized as of the same time into a real Redis, served by the serving library) for
thousands of sampled rows, edge cases included — zero mismatches, exact equality."""

from __future__ import annotations

from collections import Counter
from datetime import timezone

import pytest

from skew.parity import parity_check
from skew.pytest_plugin import assert_parity, parity_redis  # noqa: F401
from tests.skew.parity_cases import AT_TTL, COLD_START, PAST_TTL, TIMES, edge_case_pairs

N_PAIRS = 2400


@pytest.fixture(scope="module")
def suite(pipeline, parity_redis):  # noqa: F811
    pairs = edge_case_pairs(pipeline["labels"], N_PAIRS)
    report = parity_check(pipeline["repo"], pipeline["enc"], pairs, redis=parity_redis,
                          manifest=pipeline["manifest"], spark=pipeline["spark"])
    return pairs, report


def test_zero_mismatches_over_thousands_of_rows(suite) -> None:
    pairs, report = suite
    assert report.compared_rows == len(pairs) >= 2000
    assert report.state_match
    assert_parity(report)
    assert all(f.match_rate == 1.0 for f in report.features)


def test_the_sample_covers_the_edge_cases(suite) -> None:
    pairs, report = suite
    status = Counter({(s, v, st): n for s, v, st, n in report.status_counts})
    for view in ("member_features", "title_features"):
        assert status[("offline", view, "present")] > 0
        assert status[("offline", view, "expired")] > 0, "expired rows (ttl) in the sample"
        assert status[("online", view, "expired")] == status[("offline", view, "expired")]
    assert status[("offline", "member_features", "missing")] > 0, "members with no history"
    assert any(p["member_id"] >= COLD_START for p in pairs)
    assert any(p["device"] is None for p in pairs), "null request input"
    assert any(p["device"] == "smart-fridge" for p in pairs), "unseen category"
    at = Counter(p["event_timestamp"] for p in pairs)
    assert set(at) == set(TIMES) and at[AT_TTL] > 0 and at[PAST_TTL] > 0
    assert report.steps <= len(TIMES)


def test_restatement_created_between_two_materializations(pipeline, parity_redis) -> None:  # noqa: F811
    """A member's day-D row restated at C, with the store materialized incrementally at
    D + 1 min and again after C (as an hourly ``materialize-incremental`` does): at the second
    time the online store must serve the restatement, as the offline join does."""
    from datetime import timedelta

    from pyspark.sql import functions as F

    members = pipeline["spark"].read.parquet(
        str(pipeline["data"] / "features" / "member_features"))
    lag = F.col("created_timestamp").cast("long") - F.col("event_timestamp").cast("long")
    late = (members.where((lag > 3600) & (lag < 20 * 3600))
            .orderBy("event_timestamp", "member_id").limit(20).toArrow().to_pylist())
    assert late, "the tiny data has restatements created 1-20 h after their event time"
    pairs = []
    for r in late:
        day = r["event_timestamp"].astimezone(timezone.utc)
        for t in (day + timedelta(minutes=1), day + timedelta(hours=21)):
            pairs.append({"member_id": r["member_id"], "title_id": 500000,
                          "event_timestamp": t, "device": "tv"})
    report = parity_check(pipeline["repo"], pipeline["enc"], pairs, redis=parity_redis,
                          spark=pipeline["spark"])
    assert report.steps >= 2
    assert_parity(report)
