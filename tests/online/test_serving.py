"""The online path on a real Redis: ttl enforced at the request time, vectors equal to the
offline path's for the same rows, the HTTP API, the served-vector log, and refusal to serve a
state that is not the published one."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import timedelta

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from encoders import load, save
from feast_bridge.store import feast_cli
from serving.api import create_app
from serving.log_reader import read_log
from serving.online import (
    EXPIRED,
    MISSING,
    PRESENT,
    OnlineEncoder,
    StateMismatchError,
    check_state_matches,
)


@pytest.fixture(scope="module")
def encoder(online) -> OnlineEncoder:
    enc = load(online["settings"].state_path)
    check_state_matches(online["store"], enc)
    return OnlineEncoder(online["store"], enc)


def _members_and_titles(online, n: int) -> list[dict]:
    labels = online["labels"].where("member_id < 2000000").select("member_id", "title_id")
    rows = labels.distinct().orderBy("member_id", "title_id").limit(n).collect()
    return [{"member_id": r["member_id"], "title_id": r["title_id"]} for r in rows]


def test_online_vectors_equal_offline_vectors(online, encoder, tmp_path) -> None:
    """Same entity rows, same request time: the Spark training-set path and the online path
    give identical vectors. Offline runs without the created-timestamp filter here because the
    online store was materialized after every late correction arrived (the replay case is
    the skew suite's subject)."""
    from pyspark.sql import functions as F

    from spark_jobs.spark_encode import encode_frame
    from spark_jobs.training_set import joined_features

    when = online["last_snapshot"] + timedelta(hours=36)
    rows = _members_and_titles(online, 200)
    spark = online["spark"]
    labels = spark.createDataFrame(pd.DataFrame(rows)).withColumn(
        "event_timestamp", F.lit(when)).withColumn("device", F.lit("tv"))
    joined, _ = joined_features(online["store"], labels, "ranker_raw", as_known=False)
    offline = encode_frame(joined, encoder.enc, ["member_id", "title_id"]).toPandas()
    got = encoder.encode(rows, when, {"device": "tv"})
    by_key = {(r["member_id"], r["title_id"]): g for r, g in zip(rows, got)}
    assert len(offline) == len(rows)
    for _, rec in offline.iterrows():
        online_row = by_key[(rec["member_id"], rec["title_id"])]
        expected = [rec[n] for n in encoder.enc.names]
        assert list(online_row.values) == expected, (rec["member_id"], rec["title_id"])
    assert sum(r.statuses["member_features"] == PRESENT for r in got) > 0.8 * len(got)


def test_ttl_is_enforced_online_at_the_boundary(online, encoder) -> None:
    rows = _members_and_titles(online, 20)
    last, ttl = online["last_snapshot"], online["ttl"]
    at_edge = encoder.encode(rows, last + ttl)
    assert all(r.statuses["member_features"] == PRESENT for r in at_edge)
    past = encoder.encode(rows, last + ttl + timedelta(microseconds=1))
    assert all(r.statuses["member_features"] == EXPIRED for r in past)
    assert all(r.statuses["title_features"] == EXPIRED for r in past)
    nothing = encoder.enc.encode_values({"device": None}, last + ttl)
    expired_vector = encoder.enc.encode_values({}, last + ttl + timedelta(microseconds=1))
    assert list(past[0].values) == expired_vector
    assert nothing != list(at_edge[0].values)


def test_unknown_entity_is_missing_not_an_error(online, encoder) -> None:
    got = encoder.encode([{"member_id": 999_999_999, "title_id": 999_999_999}],
                         online["last_snapshot"] + timedelta(hours=1))
    assert got[0].statuses == {"member_features": MISSING, "title_features": MISSING}
    with pytest.raises(ValueError, match="lacks"):
        encoder.encode([{"member_id": 1}], online["last_snapshot"])


@pytest.fixture(scope="module")
def client(online):
    with TestClient(create_app(online["settings"])) as c:
        yield c


def test_http_features_rank_health_and_log(online, client) -> None:
    when = (online["last_snapshot"] + timedelta(hours=6)).isoformat()
    rows = _members_and_titles(online, 5)
    r = client.post("/features", json={"entities": rows, "request_time": when, "device": "tv"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["vectors"]) == 5 and len(body["vectors"][0]) == len(body["names"])
    member = rows[0]["member_id"]
    cands = list(range(500000, 500030))
    r = client.post("/rank", json={"member_id": member, "candidates": cands,
                                   "request_time": when})
    assert r.status_code == 200, r.text
    ranking = r.json()["ranking"]
    assert sorted(x["title_id"] for x in ranking) == cands
    scores = [x["score"] for x in ranking]
    assert scores == sorted(scores, reverse=True)
    assert r.json()["model_id"] == online["model_info"]["model_id"]
    health = client.get("/health").json()
    assert health["ok"] and health["redis"] == "ok"
    client.app.state.service.log.flush()
    logged = {e["request_id"]: e for e in read_log(online["settings"].log_dir)}
    assert body["request_id"] in logged and r.json()["request_id"] in logged
    entry = logged[body["request_id"]]
    assert entry["state_hash"] == body["state_hash"]
    assert [row["values"] for row in entry["rows"]] == body["vectors"]


@pytest.mark.parametrize("payload, status, field", [
    ({"entities": []}, 422, "entities"),
    ({"entities": [{"member_id": -1, "title_id": 1}]}, 422, "member_id"),
    ({"entities": [{"member_id": "x", "title_id": 1}]}, 422, "member_id"),
    ({"entities": [{"member_id": 1, "title_id": 1}], "request_time": "soon"}, 422,
     "request_time"),
    ({"entities": [{"member_id": 1, "title_id": 1}], "color": "red"}, 422, "color"),
    ({"entities": [{"member_id": 1, "title_id": 1}] * 51}, 413, "SKEWLESS_MAX_BATCH"),
])
def test_bad_input_gets_a_clear_4xx(client, payload, status, field) -> None:
    r = client.post("/features", json=payload)
    assert r.status_code == status
    assert field in json.dumps(r.json())


def test_server_refuses_a_state_or_model_that_is_not_published(online, tmp_path) -> None:
    enc = load(online["settings"].state_path)
    other = enc.__class__(enc.encoders[:-1])  # a different set: one encoder fewer
    save(other, tmp_path / "other.json")
    with pytest.raises(StateMismatchError, match="not the one published"):
        with TestClient(create_app(replace(online["settings"],
                                           state_path=tmp_path / "other.json"))):
            pass
    bad_model = json.loads(online["settings"].model_path.read_text())
    bad_model["state_hash"] = "sha256:0000"
    (tmp_path / "model.json").write_text(json.dumps(bad_model))
    with pytest.raises(StateMismatchError, match="retrain"):
        with TestClient(create_app(replace(online["settings"],
                                           model_path=tmp_path / "model.json"))):
            pass


def test_server_stops_answering_when_the_published_state_changes(online, tmp_path,
                                                                monkeypatch) -> None:
    """Re-publishing another state while the server runs: it answers 503 naming the fix."""
    repo = tmp_path / "repo"
    shutil.copytree(online["repo"], repo)
    monkeypatch.setenv("SKEWLESS_STATE_PATH", str(repo / "encoder_state.json"))
    settings = replace(online["settings"], repo=repo, state_path=repo / "encoder_state.json")
    with TestClient(create_app(settings)) as c:
        ok = c.post("/features", json={"entities": [{"member_id": 1, "title_id": 1}]})
        assert ok.status_code == 200
        enc = load(repo / "encoder_state.json")
        save(enc.__class__(enc.encoders[:-1]), repo / "encoder_state.json")
        feast_cli("apply", repo=repo)
        r = c.post("/features", json={"entities": [{"member_id": 1, "title_id": 1}]})
        assert r.status_code == 503 and "published encoder state changed" in r.json()["detail"]


def test_health_rebuilds_the_registry_entry_only_when_the_registry_changes(online, tmp_path,
                                                                           monkeypatch) -> None:
    """``/health`` re-reads the registry on every call but rebuilds the service's entry (the
    ~9 ms of Feast object conversions) only when the registry's bytes changed: a
    re-published state is still seen at the next call."""
    import serving.runtime as runtime

    repo = tmp_path / "repo"
    shutil.copytree(online["repo"], repo)
    monkeypatch.setenv("SKEWLESS_STATE_PATH", str(repo / "encoder_state.json"))
    settings = replace(online["settings"], repo=repo, state_path=repo / "encoder_state.json",
                       hash_check_seconds=3600.0)
    built = []
    real = runtime.registry_state_hash
    monkeypatch.setattr(runtime, "registry_state_hash",
                        lambda store, name: built.append(name) or real(store, name))
    with TestClient(create_app(settings)) as c:
        first = [c.get("/health") for _ in range(3)]
        assert [r.status_code for r in first] == [200, 200, 200], first[0].text
        assert len(built) == 1  # once for the first call, then the registry's bytes matched
        held = first[0].json()["state_hash"]
        enc = load(repo / "encoder_state.json")
        save(enc.__class__(enc.encoders[:-1]), repo / "encoder_state.json")
        feast_cli("apply", repo=repo)
        after = c.get("/health")
        assert after.status_code == 503, after.text
        assert after.json()["registry_state_hash"] not in (held, None)
        assert len(built) == 2


def test_vector_log_lines_are_the_same_written_either_way(tmp_path) -> None:
    """``write`` (rows given) and ``write_encoded`` (rows built on the writer thread) write
    the same line; datetimes become ISO-8601 text without touching the caller's rows; a
    non-finite value is ``null``; a lone surrogate still gets its line (ASCII escapes)."""
    from datetime import datetime, timezone

    from serving.online import EncodedRow
    from serving.vector_log import VectorLog

    when = datetime(2024, 2, 5, 12, tzinfo=timezone.utc)
    seen = datetime(2024, 2, 1, tzinfo=timezone.utc)
    keys = [{"member_id": 1, "title_id": 2, "seen_at": seen}, {"member_id": 1, "title_id": 3}]
    encoded = [EncodedRow((0.5, 1e-7, float("nan")), {"member_features": PRESENT}),
               EncodedRow((1.0, 2.0, 3.0), {"member_features": MISSING})]
    head = dict(request_time=when, endpoint="/rank", state_hash="sha256:x", model_id="m",
                names=["a", "b", "c"], service="ranker")
    log = VectorLog(tmp_path)
    log.write_encoded(request_id="deferred", keys=keys, context={"device": "tv"},
                      encoded=encoded, **head)
    log.write(request_id="given", rows=[{"device": "tv", **k, "statuses": r.statuses,
                                         "values": list(r.values)}
                                        for k, r in zip(keys, encoded)], **head)
    log.write_encoded(request_id="surrogate", keys=keys[1:], context={"device": "\ud800"},
                      encoded=encoded[1:], **head)
    log.close()
    assert keys[0]["seen_at"] is seen  # the caller's row is left as it was
    lines = {e["request_id"]: e for e in read_log(tmp_path)}
    deferred, given = lines.pop("deferred"), lines.pop("given")
    for line in (deferred, given):
        assert line.pop("logged_at") and line.pop("request_id")
    assert deferred == given
    assert deferred["rows"][0] == {"device": "tv", "member_id": 1, "title_id": 2,
                                   "seen_at": seen.isoformat(),
                                   "statuses": {"member_features": PRESENT},
                                   "values": [0.5, 1e-7, None]}
    assert deferred["time"] == when.isoformat() and deferred["service"] == "ranker"
    assert lines["surrogate"]["rows"][0]["device"] == "\ud800"


def test_served_answer_is_logged_after_sending_even_when_sending_fails() -> None:
    """The log call runs once the bytes are handed to the server, and also when sending
    raised (a vector that may have reached the client is never left out of the log)."""
    import asyncio

    from serving.api import _ServedJSON

    events: list[str] = []

    async def send(message: dict) -> None:
        events.append(message["type"])
        if message["type"] == "http.response.body" and "fail" in events:
            raise OSError("connection reset")

    answer = _ServedJSON(b'{"ok":true}', lambda: events.append("logged"))
    asyncio.run(answer({"type": "http"}, None, send))
    assert events == ["http.response.start", "http.response.body", "logged"]
    assert (b"content-type", b"application/json") in answer.raw_headers
    events[:] = ["fail"]
    with pytest.raises(OSError):
        asyncio.run(_ServedJSON(b"{}", lambda: events.append("logged"))(
            {"type": "http"}, None, send))
    assert events[-1] == "logged"
