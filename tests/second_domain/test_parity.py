"""Row-level parity for both services (scratch Redis DB 6): zero differences for the
production server, and planted faults caught with the right class — a server loading a state
refitted on another window (``state_version``), and one that ignores the views' ttl as Feast
alone does online (``expired``)."""

from __future__ import annotations

import random
from datetime import timedelta

import pandas as pd
import pytest

from serving.online import OnlineEncoder
from skew.classify import EXPIRED, STATE_VERSION, RowVersion
from skew.parity import default_online, parity_reports
from skew.pytest_plugin import assert_parity
from skew.scratch import RedisTarget
from spark_jobs.fit_publish import fit_on_spark
from tests.real_redis import TEST_REDIS_PORT, real_redis
from tests.second_domain.conftest import AS_OF, PARITY_DB, SERVICES
from tests.second_domain.data import START
from tests.skew.faults import NoTtlServer

TIMES = (START + timedelta(days=7, hours=12), START + timedelta(days=13, hours=3, minutes=30),
         AS_OF)


def pairs_for(grocery, service: str, per_time: int = 60) -> pd.DataFrame:
    """``per_time`` label rows (keys and request inputs) asked again at each of ``TIMES``."""
    info = grocery["infos"][service]
    labels = pd.read_parquet(grocery["labels"][service])
    cols = [*info.entity_keys, *info.request_names]
    rng = random.Random(3)
    frames = []
    for t in TIMES:
        rows = labels[cols].iloc[rng.sample(range(len(labels)), per_time)]
        frames.append(rows.drop_duplicates(list(info.entity_keys)).assign(
            event_timestamp=pd.Timestamp(t)))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def reports(grocery):
    client = real_redis(PARITY_DB)
    client.flushdb()  # DB 6 is this folder's scratch database
    client.close()
    spark, store, encs = grocery["spark"], grocery["store"], grocery["encs"]
    target = RedisTarget(host="127.0.0.1", port=TEST_REDIS_PORT, db=PARITY_DB)
    info = grocery["infos"]["basket_value"]
    refit, _ = fit_on_spark(spark, store, info, START, START + timedelta(days=4))
    assert refit.content_hash != encs["basket_value"].content_hash
    sides = {
        "basket_value": {
            "control": default_online(encs["basket_value"], "basket_value"),
            "refitted": lambda st: OnlineEncoder(st, refit, service="basket_value")},
        "substitution": {
            "control": default_online(encs["substitution"], "substitution"),
            "no_ttl": lambda st: NoTtlServer(st, encs["substitution"], service="substitution")},
    }
    return {s: parity_reports(grocery["store"].repo_path, encs[s], pairs_for(grocery, s),
                              sides[s], service=s, redis=target, spark=spark)
            for s in SERVICES}


@pytest.mark.parametrize("service", SERVICES)
def test_parity_has_zero_differences(reports, service) -> None:
    report = reports[service]["control"]
    assert_parity(report)
    assert report.state_match
    assert report.compared_rows > 100
    assert not report.differences


def test_a_state_refitted_on_other_data_is_caught_as_state_version(reports) -> None:
    report = reports["basket_value"]["refitted"]
    assert not report.ok and not report.state_match
    assert {d.klass for d in report.differences} == {STATE_VERSION}
    # stateless encoders (the request hour) agree; fitted ones differ
    assert "orders_z" in {d.feature for d in report.differences}
    assert not any(d.feature.startswith("order_hour") for d in report.differences)


def test_a_server_ignoring_ttl_is_caught_as_expired(reports) -> None:
    report = reports["substitution"]["no_ttl"]
    assert not report.ok
    assert {d.klass for d in report.differences} == {EXPIRED}
    features = {d.feature for d in report.differences}
    store_outputs = {"pickers_mm", "delay_b", "region_idx"}
    assert features & store_outputs, features


def test_a_snapshot_written_minutes_after_its_time_is_not_a_late_row() -> None:
    """The generator writes each snapshot 10 (profiles) or 30 (stores) minutes after its
    event time; only a restated row (several versions) is late."""
    minute = 60_000_000
    assert not RowVersion(0, 10 * minute, 10 * minute, versions=1).late
    assert RowVersion(0, 10 * minute, 600 * minute, versions=2).late
    assert RowVersion(0, 10 * minute, 10 * minute, versions=2).late
