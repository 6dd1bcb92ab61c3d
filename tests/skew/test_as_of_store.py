"""The parity check's online store as of each step: the rows skewless' engine would hold, written
straight for the pairs' entities (:class:`skew.as_of_store.WrittenSteps`, the default), equal
byte for byte to Feast's ``materialize`` over each window (:class:`MaterializedSteps`, the
reference) — at every step, for every key the pairs read — and the reports of both paths equal,
faulty servers included. Plus many as-of days in one check."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import timedelta, timezone

from feast_bridge.store import feast_cli
from materialization.materialize import redis_snapshot
from online_store.layout import timestamp_nanos
from skew.as_of_store import MaterializedSteps, Steps, WrittenSteps, steps_for
from skew.offline_side import plan_pairs
from skew.pairs import micros
from skew.parity import default_online, parity_check, parity_reports
from skew.pytest_plugin import assert_parity, parity_redis  # noqa: F401
from skew.scratch import RedisTarget, private_store, scratch_client
from skew.sources import AS_OF, ViewPull, change_points
from spark_jobs.collect import collect_together
from tests.real_redis import TEST_REDIS_PORT, real_redis
from tests.skew.faults import FillZeroServer, NoTtlServer
from tests.skew.parity_cases import (
    AT_EVENT,
    AT_TTL,
    COLD_START,
    IN_GAP,
    PAST_TTL,
    TIMES,
    edge_case_pairs,
)

WRITTEN_DB, MATERIALIZED_DB = 7, 9
SHORT_TTL = timedelta(hours=2)


def test_steps_group_times_with_no_change_between() -> None:
    # a change point exactly at a time starts a new step there; one strictly inside splits
    assert steps_for([10, 20, 30, 40], [20, 35]) == [[10], [20, 30], [40]]
    assert steps_for([10, 20], []) == [[10, 20]]
    steps = Steps(5, ((10,), (20, 30), (40,)))
    assert steps.ends_us == (10, 20, 40) and steps.starts_us == (5, 10, 20)



def test_change_points_are_the_pulled_rows_times_up_to_the_last_as_of_time() -> None:
    # event and created times of every pulled table, deduplicated and sorted; nulls (never
    # known) and instants after the last as-of time are no change; a view without a created
    # column contributes its event times only
    import pyarrow as pa

    def pull(event: str, created: str | None) -> object:
        return dataclasses.make_dataclass("Pull", ["plan"])(
            dataclasses.make_dataclass("Plan", ["event_column", "created_column"])(event,
                                                                                  created))

    ts = pa.timestamp("us", tz="UTC")
    with_created = pa.table({"ev": pa.array([30, 10, None, 70], ts),
                             "cr": pa.array([40, None, 20, 80], ts)})
    event_only = pa.table({"t": pa.array([10, 50, 60, None], ts)})
    assert change_points([pull("ev", "cr"), pull("t", None)], [with_created, event_only],
                         60) == [10, 20, 30, 40, 50, 60]
    assert change_points([], [], 60) == []


def _short_ttl_repo(pipeline, tmp_path, monkeypatch):
    """A copy of the pipeline's repo whose member view keeps rows 2 h: restatements created
    3-20 h after their event time then arrive after the look-back of a window starting past
    the ttl, which skewless' engine skips."""
    repo = tmp_path / "short_ttl_repo"
    repo.mkdir()
    for f in ("feature_store.yaml", "definitions.py", "encoder_state.json"):
        shutil.copy(pipeline["repo"] / f, repo / f)
    text = (repo / "definitions.py").read_text()
    assert text.count("ttl=FEATURE_TTL,") == 2
    (repo / "definitions.py").write_text(
        text.replace("ttl=FEATURE_TTL,", "ttl=timedelta(hours=2),", 1))
    monkeypatch.setenv("SKEWLESS_STATE_PATH", str(repo / "encoder_state.json"))
    feast_cli("apply", repo=repo)
    return repo


def _restated_pairs(pipeline) -> tuple[list[dict], list[dict]]:
    """A member whose day-D row was restated at C, 3-20 h later, with another source row
    created at C2 between D + 2 h (the short ttl) and C (that row's member asked at C2 too),
    asked at D exactly (a change at the as-of instant; the restatement is a future row), at C2
    (a window then starts past the ttl: the restatement, arriving in the next window, is older
    than its look-back), at C exactly and at D + 21 h; title 500000 and a cold-start member (no
    rows) alongside."""
    from pyspark.sql import functions as F

    members = pipeline["spark"].read.parquet(
        str(pipeline["data"] / "features" / "member_features"))
    lag = F.col("created_timestamp").cast("long") - F.col("event_timestamp").cast("long")
    late = (members.where((lag > 3 * 3600) & (lag < 20 * 3600))
            .orderBy("event_timestamp", "member_id").limit(40).toArrow().to_pylist())
    created = sorted((r["created_timestamp"], r["member_id"]) for r in members.where(lag > 0)
                     .select("created_timestamp", "member_id").toArrow().to_pylist())
    chosen, pairs = [], []
    for r in late:
        day, restated = r["event_timestamp"], r["created_timestamp"]
        between = [(c, m) for c, m in created if day + SHORT_TTL < c < restated]
        if not between or chosen:
            continue
        chosen.append(r)
        for t in (day, between[0][0], restated, day + timedelta(hours=21)):
            pairs.append({"member_id": r["member_id"], "title_id": 500000,
                          "event_timestamp": t.astimezone(timezone.utc), "device": "tv"})
        # C2's member is asked too: only the pairs' entities' rows are change points
        pairs.append({"member_id": between[0][1], "title_id": 500000,
                      "event_timestamp": between[0][0].astimezone(timezone.utc),
                      "device": "tv"})
    assert chosen, "the tiny data has restatements created 3-20 h after their event"
    pairs.append({"member_id": COLD_START + 1, "title_id": 500001,
                  "event_timestamp": pairs[0]["event_timestamp"], "device": None})
    return pairs, chosen


def test_written_steps_hold_what_the_engine_materializes_at_every_step(
        pipeline, tmp_path, monkeypatch) -> None:
    repo = _short_ttl_repo(pipeline, tmp_path, monkeypatch)
    pairs, restated = _restated_pairs(pipeline)
    spark, stores, clients = pipeline["spark"], {}, {}
    for name, db in (("written", WRITTEN_DB), ("materialized", MATERIALIZED_DB)):
        real_redis(db).flushdb()
        (tmp_path / name).mkdir()
        stores[name] = private_store(repo, RedisTarget("127.0.0.1", TEST_REDIS_PORT, db),
                                     tmp_path / name)
        clients[name] = scratch_client(stores[name])
    plan = plan_pairs(stores["written"], pipeline["enc"], pairs, None)
    by_time: dict[int, list[dict]] = {}
    for r in plan.rows:
        by_time.setdefault(micros(r[AS_OF]), []).append(r)
    pulls = ViewPull.of_views(spark, stores["written"], plan.views, plan.rows)
    pulled = collect_together([p.frame for p in pulls])
    steps = Steps.of(list(by_time), change_points(pulls, pulled, max(by_time)))
    # D, C2 and C each start a step (D + 21 h shares C's: no change between them)
    assert {micros(p[AS_OF]) for p in pairs[:3]} <= set(steps.ends_us)
    step_rows = [[r for t in g for r in by_time[t]] for g in steps.groups]
    written = WrittenSteps.of_pulls(stores["written"], steps, pulls, pulled, step_rows)
    materialized = MaterializedSteps(stores["materialized"], steps)
    held, skipped = set(), 0
    restated_at = {micros(r["created_timestamp"]): r for r in restated}
    for k in range(len(steps.groups)):
        written.advance(k)
        materialized.advance(k)
        keys = [key for v in written.views for key in v.plan.entity_keys.keys(v.entities[k])]
        got = redis_snapshot(clients["written"], keys=keys)
        want = redis_snapshot(clients["materialized"], keys=keys)
        assert got == want, f"step {k} (end {steps.ends_us[k]})"
        held |= {field for fields in got.values() for field in fields}
        late = restated_at.get(steps.ends_us[k])
        if late is not None:  # the engine skipped the restatement: past its look-back
            member = next(v for v in written.views if v.plan.view == "member_features")
            key = member.plan.entity_keys.keys([(late["member_id"],)])[0]
            stored = timestamp_nanos(got[key][b"_created_ts:member_features"])
            skipped += stored < micros(late["created_timestamp"]) * 1000
    assert skipped == len(restated), "a correction older than the look-back was exercised"
    # the comparison saw rows of both views, with skewless' created-time field
    assert any(f.startswith(b"_created_ts:member_features") for f in held)
    assert any(f.startswith(b"_ts:title_features") for f in held)


def _without_seconds(report):
    return dataclasses.replace(report, seconds=())


def test_written_and_materialized_steps_give_the_same_reports(pipeline, parity_redis) -> None:  # noqa: F811
    enc = pipeline["enc"]
    sides = {"control": default_online(enc),
             "no_ttl": lambda store: NoTtlServer(store, enc),
             "fill_zero": lambda store: FillZeroServer(store, enc)}
    pairs = edge_case_pairs(pipeline["labels"], 120, times=(AT_EVENT, AT_TTL, PAST_TTL, IN_GAP),
                            seed=13)
    got, want = (parity_reports(pipeline["repo"], enc, pairs, sides, redis=parity_redis,
                                spark=pipeline["spark"], materialize_steps=m)
                 for m in (False, True))
    assert got.keys() == want.keys()
    for name in sides:
        assert _without_seconds(got[name]) == _without_seconds(want[name]), name
    assert not got["no_ttl"].ok and got["no_ttl"].differences  # the faults are seen
    assert got["control"].ok


def test_parity_over_many_as_of_days(pipeline, parity_redis) -> None:  # noqa: F811
    """Pairs spread over 32 days (one instant a day, its time of day moving), two of them on
    the same member on different days: one step per day, zero differences."""
    days = [TIMES[0].replace(day=3) + timedelta(days=d, hours=(7 * d) % 24, minutes=d)
            for d in range(32)]
    pairs = edge_case_pairs(pipeline["labels"], 320, times=days, seed=17)
    pairs.append({**pairs[0], "event_timestamp": days[-1]})
    report = parity_check(pipeline["repo"], pipeline["enc"], pairs, redis=parity_redis,
                          spark=pipeline["spark"])
    assert report.compared_rows == len(pairs)
    assert report.steps >= 30
    assert_parity(report)
