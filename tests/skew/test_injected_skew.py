"""The injected-skew suite: eight faults planted the way they happen in real systems, each
caught by the parity check and classified correctly on the right features. A fault that is
not caught fails its test.

Six faults live in the serving process and share one offline job and one materialization
(:func:`skew.parity.parity_reports` with one side per faulty server, plus the correct server
as the control); two need their own repo: a ``Float32`` declaration (online side) and a
training join over a table export taken before the late corrections arrived (offline side).
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone

import pytest

from demo.specs import DEMO_SPECS, MEMBER_INPUTS, synthetic_rows
from encoders import collect_statistics, fit, stat_requests
from feast_bridge.store import feast_cli
from serving.online import OnlineEncoder
from skew.classify import (
    DTYPE,
    EXPIRED,
    MISSING_OFFLINE,
    STATE_VERSION,
    VALUE,
    Tolerances,
    lineage,
)
from skew.parity import default_online, parity_reports
from skew.pytest_plugin import parity_redis  # noqa: F401
from tests.skew.faults import (
    FillZeroServer,
    LocalClockServer,
    NoTtlServer,
    PyHashServer,
    RoundingServer,
)
from tests.skew.parity_cases import IN_GAP, LATER, MID_DAY, edge_case_pairs


def _factory(cls, enc):
    return lambda store: cls(store, enc)


def _new(report, control) -> list:
    """Differences the fault added over the correct server's (same rows, same features)."""
    seen = {(d.row, d.feature) for d in control.differences}
    return [d for d in report.differences if (d.row, d.feature) not in seen]


@pytest.fixture(scope="module")
def serving_faults(pipeline, parity_redis):  # noqa: F811
    enc = pipeline["enc"]
    refit = fit(DEMO_SPECS, collect_statistics(synthetic_rows(500, seed=99),
                                               stat_requests(DEMO_SPECS)))
    sides = {"control": default_online(enc),
             "no_ttl": _factory(NoTtlServer, enc),
             "fill_zero": _factory(FillZeroServer, enc),
             "local_clock": _factory(LocalClockServer, enc),
             "rounding": _factory(RoundingServer, enc),
             "py_hash": _factory(PyHashServer, enc),
             "refitted": lambda store: OnlineEncoder(store, refit)}
    pairs = edge_case_pairs(pipeline["labels"], 240, times=(MID_DAY, IN_GAP, LATER), seed=5)
    return parity_reports(pipeline["repo"], enc, pairs, sides, redis=parity_redis,
                          spark=pipeline["spark"])


def _caught(report, control, klass, cause=None, features=None) -> list:
    new = _new(report, control)
    assert new, "the planted fault was not caught"
    assert not report.ok
    assert {d.klass for d in new} == {klass}, sorted({(d.feature, d.klass) for d in new})
    if cause:
        assert {d.cause for d in new} == {cause}, sorted({(d.feature, d.cause) for d in new})
    if features is not None:
        assert {d.feature for d in new} <= set(features), sorted({d.feature for d in new})
    return new


def test_ttl_ignored_online_is_expired(serving_faults) -> None:
    new = _caught(serving_faults["no_ttl"], serving_faults["control"], EXPIRED, "ttl")
    assert all("offline expired" in d.detail for d in new)


def test_other_missing_value_default_online(serving_faults) -> None:
    _caught(serving_faults["fill_zero"], serving_faults["control"], MISSING_OFFLINE,
            "null_default")


def test_time_zone_shift(serving_faults) -> None:
    enc_names = {"request_hour__sin", "request_hour__cos", "request_dow__sin",
                 "request_dow__cos", "days_since_last_watch"}
    new = _caught(serving_faults["local_clock"], serving_faults["control"], VALUE,
                  "request_time_shift", enc_names)
    assert all("-5 h" in d.detail for d in new)


def test_values_rounded_online(serving_faults) -> None:
    rounding, control = serving_faults["rounding"], serving_faults["control"]
    new = _caught(rounding, control, VALUE, "encoding")
    assert max(d.abs_diff for d in new) <= 5e-5 and min(d.ulps for d in new) > 0
    # tolerances accept it: the same differences within abs 1e-4 are tolerated
    tol = Tolerances.from_mapping({"*": {"abs": 1e-4}}, [f.name for f in rounding.features])
    assert all(tol.for_feature(d.feature).accepts(d.abs_diff, d.ulps) for d in new)


def test_builtin_hash_bucketing(serving_faults) -> None:
    _caught(serving_faults["py_hash"], serving_faults["control"], VALUE, "encoding",
            {"device_h"})


def test_state_refitted_on_other_data(serving_faults) -> None:
    report = serving_faults["refitted"]
    assert not report.state_match
    new = _caught(report, serving_faults["control"], STATE_VERSION, "state")
    assert "device_h" not in {d.feature for d in new}  # stateless: same output


def _repo_copy(pipeline, tmp_path, name: str, edit=None):
    repo = tmp_path / name
    repo.mkdir()
    for f in ("feature_store.yaml", "definitions.py", "encoder_state.json"):
        shutil.copy(pipeline["repo"] / f, repo / f)
    if edit:
        edit(repo)
    return repo


def test_float32_stored_where_training_read_float64(pipeline, parity_redis, tmp_path,  # noqa: F811
                                                    monkeypatch) -> None:
    def declare_float32(repo):
        text = (repo / "definitions.py").read_text()
        text = text.replace('Field(name="watch_minutes_7d", dtype=Float64)',
                            'Field(name="watch_minutes_7d", dtype=Float32)')
        text = text.replace("import Float64,", "import Float32, Float64,")
        assert "dtype=Float32" in text and "Float32, Float64" in text
        (repo / "definitions.py").write_text(text)

    repo = _repo_copy(pipeline, tmp_path, "float32_repo", declare_float32)
    monkeypatch.setenv("SKEWLESS_STATE_PATH", str(repo / "encoder_state.json"))
    feast_cli("apply", repo=repo)
    pairs = edge_case_pairs(pipeline["labels"], 60, times=(MID_DAY,), seed=3)
    report = parity_reports(repo, pipeline["enc"], pairs, {"online": default_online(
        pipeline["enc"])}, offline_repo=pipeline["repo"], redis=parity_redis,
        spark=pipeline["spark"])["online"]
    wm = [d for d in report.differences if d.feature == "watch_minutes_7d_z"]
    assert wm, "the Float32 fault was not caught"
    assert {(d.klass, d.cause) for d in wm} == {(DTYPE, "float32")}
    assert {d.feature for d in report.differences if d.cause == "float32"} == \
        {"watch_minutes_7d_z"}


def test_late_arriving_row_treated_differently(pipeline, parity_redis, tmp_path,  # noqa: F811
                                               monkeypatch) -> None:
    """Training joined a copy of the member table exported before the late corrections
    arrived; the online store has them. Pairs: members whose day-D row was restated within
    12 h, as of D + 12 h (every version of D known by then, on both paths)."""
    from pyspark.sql import functions as F

    spark = pipeline["spark"]
    members = spark.read.parquet(str(pipeline["data"] / "features" / "member_features"))
    day = datetime(2024, 1, 10, tzinfo=timezone.utc)
    as_of = day + timedelta(hours=12)
    restated = (members.where(F.col("event_timestamp") == F.lit(day))
                .groupBy("member_id").agg(F.max("created_timestamp").alias("c"),
                                          F.count(F.lit(1)).alias("n"))
                .where((F.col("n") > 1) & (F.col("c") <= F.lit(as_of))).collect())
    assert restated, "the tiny data has restatements of 2024-01-10 within 12 h"
    stale = tmp_path / "stale_data"
    shutil.copytree(pipeline["data"] / "features" / "title_features",
                    stale / "features" / "title_features")
    (members.where(F.col("created_timestamp") == F.col("event_timestamp"))
     .write.partitionBy("snapshot_date").parquet(str(stale / "features" / "member_features")))
    repo = _repo_copy(pipeline, tmp_path, "stale_repo")
    monkeypatch.setenv("SKEWLESS_DATA_DIR", str(stale))
    monkeypatch.setenv("SKEWLESS_STATE_PATH", str(repo / "encoder_state.json"))
    feast_cli("apply", repo=repo)
    pairs = [{"member_id": r["member_id"], "title_id": 500000, "event_timestamp": as_of,
              "device": "tv"} for r in restated]
    report = parity_reports(pipeline["repo"], pipeline["enc"], pairs,
                            {"online": default_online(pipeline["enc"])}, offline_repo=repo,
                            redis=parity_redis, spark=spark)["online"]
    member_out = {name for name, lin in lineage(pipeline["enc"],
                                                {"member_features": MEMBER_INPUTS}).items()
                  if "member_features" in lin.views}
    assert report.differences, "the late-row fault was not caught"
    assert {(d.klass, d.cause) for d in report.differences} == {(VALUE, "late_row")}
    assert {d.feature for d in report.differences} <= member_out
