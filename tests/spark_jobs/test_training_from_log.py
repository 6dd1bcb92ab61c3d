"""``training-set --from-log``: labels joined to the served-facts log and encoded in Spark.

A correct server (the serving library on a store materialized up to each request time) logs
its facts; the training set built from that log equals the point-in-time training set of the
same labels, cell for cell, with the published state and with a refit one; labels match by
time or by request id; unmatched labels are counted; bad input gets a clear error."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from encoders import load
from feast_bridge.services import get_service
from materialization.materialize import materialize
from serving.facts_log import FactsLog
from serving.facts_schema import FactsSchema
from serving.online import OnlineEncoder
from skew.parity import private_store, scratch_client
from skew.pytest_plugin import parity_redis  # noqa: F401
from skew.replay import replay_log
from skewless.cli import run
from spark_jobs.fit_publish import fit_service
from spark_jobs.training_from_log import build_training_set_from_log
from spark_jobs.training_set import build_training_set
from tests.skew.parity_cases import LATER, edge_case_pairs

FIRST = datetime(2024, 1, 24, 6, tzinfo=timezone.utc)
TIMES = (FIRST, LATER)


def serve_facts(server: OnlineEncoder, pairs: list[dict], log: FactsLog, when: datetime,
                per_request: int = 20) -> list[str]:
    """Serve ``pairs`` (join keys and request inputs of ``server``'s service) at ``when``,
    ``per_request`` rows a request, logging the facts; returns each pair's request id."""
    keys = [*server.entity_keys, *server.request_inputs]
    ids = []
    for i in range(0, len(pairs), per_request):
        rows = [{k: p[k] for k in keys} for p in pairs[i:i + per_request]]
        encoded, views = server.encode_served(rows, when)
        rid = uuid.uuid4().hex
        log.write_encoded(request_id=rid, request_time=when, endpoint="/features",
                          state_hash=server.enc.content_hash, model_id=None,
                          names=server.enc.names, keys=rows, context={}, encoded=encoded,
                          service=server.service, views=views)
        ids += [rid] * len(rows)
    return ids


class UnitsBugServer(OnlineEncoder):
    """A server with a units bug: its first double feature is read 10x too large."""

    def _resolve(self, entity_rows, t_us):
        out = []
        for view, r in zip(self.views, super()._resolve(entity_rows, t_us)):
            doubles = [i for i, f in enumerate(view.value_fields) if f == "double_val"]
            if view is not self.views[0] or not doubles:
                out.append(r)
                continue
            name, i = view.features[doubles[0]], doubles[0]
            dicts = [{**d, name: d[name] * 10} if d.get(name) is not None else d
                     for d in r.dicts]
            values = [v[:i] + (v[i] * 10,) + v[i + 1:] if v[i] is not None else v
                      for v in r.raw.values]
            out.append(r._replace(dicts=dicts, tokens=None,
                                  raw=replace(r.raw, values=values, tokens=None)))
        self.bug = self.views[0].features[self.views[0].value_fields.index("double_val")]
        return out


@pytest.fixture(scope="module")
def served(pipeline, parity_redis, tmp_path_factory):  # noqa: F811
    """Facts of 120 label rows served at two times, each right after materializing to it."""
    base = tmp_path_factory.mktemp("from_log")
    store = private_store(pipeline["repo"], parity_redis, base)
    scratch_client(store).close()
    info = get_service(store, "ranker")
    log = FactsLog(base / "log", {"ranker": FactsSchema.of(info)})
    server = OnlineEncoder(store, pipeline["enc"], "ranker")
    pairs, start = [], datetime(2023, 12, 1, tzinfo=timezone.utc)
    for k, when in enumerate(TIMES):
        materialize(store, start, when, count_rows=False)
        start = when
        some = edge_case_pairs(pipeline["labels"], 60, times=(when,), seed=41 + k)
        ids = serve_facts(server, some, log, when)
        pairs += [{**p, "request_id": rid, "clicked": i % 3 == 0}
                  for i, (p, rid) in enumerate(zip(some, ids))]
    log.close()
    bad_log = FactsLog(base / "bad_log", {"ranker": FactsSchema.of(info)})
    buggy = UnitsBugServer(store, pipeline["enc"], "ranker")
    serve_facts(buggy, edge_case_pairs(pipeline["labels"], 60, times=(LATER,), seed=42),
                bad_log, LATER)  # the store is materialized up to LATER
    bad_log.close()
    spark = pipeline["spark"]
    labels = spark.createDataFrame(pairs)
    return {"log": base / "log", "labels": labels, "pairs": pairs, "base": base,
            "bad_log": base / "bad_log", "bug": buggy.bug}


def _rows(path: Path, columns: list[str]) -> list[tuple]:
    table = pq.read_table(path / "data")
    return sorted(zip(*(table.column(c).to_pylist() for c in columns)), key=repr)


def _differences(a: list[tuple], b: list[tuple], columns: list[str]) -> list[tuple]:
    """(row keys, column, a's value, b's value) of every cell that differs."""
    return [(x[:3], c, u, v) for x, y in zip(a, b) for c, u, v in zip(columns, x, y)
            if u != v][:10]


def _same_sets(pipeline, served, enc, name: str, **kwargs) -> tuple:
    labels = served["labels"].drop("request_id")
    offline = build_training_set(pipeline["store"], labels, enc, served["base"] / f"pit-{name}",
                                 label_columns=["clicked"])
    logged = build_training_set_from_log(
        pipeline["store"], pipeline["spark"], served["log"], served["labels"], enc,
        served["base"] / f"log-{name}", label_columns=["clicked"], **kwargs)
    columns = ["member_id", "title_id", "event_timestamp", "device", "clicked", *enc.names]
    return offline, logged, _rows(offline_path := served["base"] / f"pit-{name}", columns), \
        _rows(served["base"] / f"log-{name}", columns), offline_path


@pytest.fixture(scope="module")
def published(pipeline, served):
    """Both sets of the served labels with the published state (point in time, from the log)."""
    return _same_sets(pipeline, served, pipeline["enc"], "pub")


def test_the_set_from_the_log_equals_the_point_in_time_set(pipeline, served, published) -> None:
    offline, logged, pit_rows, log_rows, _ = published
    assert logged.row_count == offline.row_count == len(served["pairs"])
    columns = ["member_id", "title_id", "event_timestamp", "device", "clicked",
               *pipeline["enc"].names]
    # every cell: keys, time, request input, label, outputs
    assert log_rows == pit_rows, _differences(pit_rows, log_rows, columns)
    assert logged.inputs["source"] == "log" and logged.inputs["unmatched_labels"] == 0
    assert logged.inputs["served_state_hashes"] == [pipeline["enc"].content_hash]
    assert logged.state_hash == offline.state_hash


def test_a_refit_state_on_logged_inputs_equals_recomputing_those_rows_offline(
        pipeline, served, tmp_path) -> None:
    refit = fit_service(pipeline["spark"], pipeline["store"], "ranker",
                        datetime(2024, 1, 8, tzinfo=timezone.utc),
                        datetime(2024, 1, 20, tzinfo=timezone.utc), state_path=tmp_path /
                        "refit.json", apply=False)
    enc = load(refit.state_path)
    assert enc.content_hash != pipeline["enc"].content_hash
    offline, logged, pit_rows, log_rows, _ = _same_sets(pipeline, served, enc, "refit")
    assert log_rows == pit_rows and logged.state_hash == enc.content_hash
    assert logged.inputs["served_state_hashes"] == [pipeline["enc"].content_hash]


def test_the_command_matches_by_request_id_and_counts_unmatched_labels(pipeline, served,
                                                                        published,
                                                                        capsys) -> None:
    labels = served["labels"].drop("event_timestamp")
    extra = pipeline["spark"].createDataFrame(
        [{**{k: v for k, v in served["pairs"][0].items() if k != "event_timestamp"},
          "request_id": "never-served"}])
    path = served["base"] / "labels-by-id"
    labels.unionByName(extra).write.parquet(str(path))
    code = run(["--repo", str(pipeline["repo"]), "training-set", "--service", "ranker",
                "--labels", str(path), "--out", str(served["base"] / "by-id"), "--from-log",
                str(served["log"]), "--match", "request_id", "--label-column", "clicked"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"{len(served['pairs'])} rows" in printed and "1 label(s) matched no served row" \
        in printed
    columns = ["member_id", "title_id", "event_timestamp", *pipeline["enc"].names]
    assert _rows(served["base"] / "by-id", columns) == _rows(served["base"] / "log-pub",
                                                             columns)


@pytest.mark.parametrize("change, error", [
    (lambda s: {"match": "nearest"}, "unknown match 'nearest'"),
    (lambda s: {"labels": s["labels"].drop("member_id")}, r"labels lack \['member_id'\]"),
    (lambda s: {"match": "request_id", "labels": s["labels"].drop("request_id")},
     "add the request id"),
    (lambda s: {"log_dir": s["base"]}, "no served facts of service 'ranker'"),
    (lambda s: {"labels": s["labels"].limit(3).selectExpr(
        "member_id + 1000000000 as member_id", "title_id", "event_timestamp", "device",
        "clicked")}, "none of the 3 labels matches a served row"),
])
def test_bad_input_names_the_fix(pipeline, served, change, error) -> None:
    args = {"labels": served["labels"], "log_dir": served["log"], "match": "time"}
    args.update(change(served))
    with pytest.raises(ValueError, match=error):
        build_training_set_from_log(pipeline["store"], pipeline["spark"], args["log_dir"],
                                    args["labels"], pipeline["enc"],
                                    served["base"] / f"bad-{uuid.uuid4().hex[:6]}",
                                    match=args["match"], label_columns=["clicked"])


def test_replaying_served_facts_names_the_raw_input_at_fault(pipeline, served) -> None:
    """With raw inputs in the log, a difference is classified ``value/raw_input`` naming the
    feature the server read wrong, where a JSON-lines log could only say ``unknown``; the
    correct server's facts replay without a difference."""
    good = replay_log(served["log"], pipeline["repo"], pipeline["enc"], service="ranker",
                      spark=pipeline["spark"])
    assert good.compared_rows == len(served["pairs"]) and not good.differences
    bad = replay_log(served["bad_log"], pipeline["repo"], pipeline["enc"], service="ranker",
                     spark=pipeline["spark"])
    causes = {(d.klass, d.cause) for d in bad.differences}
    assert bad.differences and causes == {("value", "raw_input")}, causes
    assert all(served["bug"] in d.detail for d in bad.differences)


def test_feasts_spark_offline_store_reads_the_served_facts(pipeline, served) -> None:
    """The served facts as a Feast ``SparkSource``: Feast's own Spark offline store pulls every
    logged row of the service's folder, keyed and timed by the log's columns."""
    from feast.infra.offline_stores.contrib.spark_offline_store.spark import SparkOfflineStore
    from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource

    source = SparkSource(name="served_facts", path=str(served["log"] / "service=ranker"),
                         file_format="parquet", timestamp_field="__request_time")
    job = SparkOfflineStore.pull_all_from_table_or_query(
        config=pipeline["store"].config, data_source=source,
        join_key_columns=["member_id", "title_id"],
        feature_name_columns=["member_features__watch_minutes_7d", "__vector"],
        timestamp_field="__request_time", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
        end_date=datetime(2024, 2, 1, tzinfo=timezone.utc))
    rows = job.to_spark_df().collect()
    assert len(rows) == len(served["pairs"])
    assert {(r["member_id"], r["title_id"]) for r in rows} == {
        (p["member_id"], p["title_id"]) for p in served["pairs"]}
