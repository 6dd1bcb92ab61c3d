"""Missing, corrupted or mismatched encoder state: the server refuses to start with a message
naming the problem and the fix — never serves a vector from a state that is not the one
published in the registry (and trained on). Configuration of the services and models the
same: an unknown service stops it naming the known ones; no model serves ``/features`` and
refuses ``/rank`` naming ``SKEWLESS_MODELS``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from encoders import StateError, load, save
from serving.api import create_app
from serving.settings import Settings
from tests.reliability.conftest import ServerProcess


@pytest.fixture(scope="module")
def settings(served):
    mp = pytest.MonkeyPatch()
    for name, value in served["env"].items():
        mp.setenv(name, value)
    yield Settings.from_env()
    mp.undo()


def _start(settings_: Settings, state: Path) -> None:
    with TestClient(create_app(replace(settings_, state_path=state))):
        pass


def test_missing_state_refuses_to_start(settings, tmp_path) -> None:
    with pytest.raises((FileNotFoundError, StateError), match="nothing_here.json"):
        _start(settings, tmp_path / "nothing_here.json")


@pytest.mark.parametrize("damage", ["truncated", "not_json", "empty", "tampered_value",
                                    "unknown_kind"])
def test_corrupted_state_refuses_to_start(settings, tmp_path, damage) -> None:
    text = settings.state_path.read_text(encoding="utf-8")
    doc = json.loads(text)
    if damage == "truncated":
        bad = text[: len(text) // 2]
    elif damage == "not_json":
        bad = "\x00\xff garbage"
    elif damage == "empty":
        bad = ""
    elif damage == "tampered_value":  # a fitted number changed, the stored hash kept
        state = next(e["state"] for e in doc["encoders"] if e["state"])
        key = next(k for k, v in state.items() if isinstance(v, float | int)
                   and not isinstance(v, bool))
        state[key] = state[key] + 1
        bad = json.dumps(doc)
    else:
        doc["encoders"][0]["kind"] = "no_such_kind"
        bad = json.dumps(doc)
    path = tmp_path / "state.json"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(StateError) as info:
        _start(settings, path)
    message = str(info.value)
    assert len(message) > 40, message  # says what is wrong and what to do
    if damage == "tampered_value":
        assert "hash" in message


def test_valid_state_that_is_not_the_published_one_refuses_to_start(settings, tmp_path) -> None:
    enc = load(settings.state_path)
    save(enc.__class__(enc.encoders[1:]), tmp_path / "other.json")
    with pytest.raises(StateError, match="not the one published"):
        _start(settings, tmp_path / "other.json")


def test_uvicorn_exits_with_the_message_when_the_state_is_corrupted(served, tmp_path) -> None:
    """The real process: uvicorn's start-up fails, the exit code is non-zero and the log
    carries the fix; no port is left answering."""
    path = tmp_path / "state.json"
    path.write_text("{not json", encoding="utf-8")
    proc = ServerProcess({**served["env"], "SKEWLESS_STATE_PATH": str(path)},
                         tmp_path / "server.log")
    code = proc.wait_exit()
    out = proc.output()
    proc.stop()
    assert code != 0
    assert "StateError" in out and "not valid JSON" in out and "re-fit" in out, out[-3000:]


def test_uvicorn_exits_naming_the_known_services_when_one_is_unknown(served, tmp_path) -> None:
    """``SKEWLESS_SERVICES`` naming a service the registry lacks stops the real process with
    the list of known services."""
    proc = ServerProcess({**served["env"], "SKEWLESS_SERVICES": "ranker,no_such_service"},
                         tmp_path / "server.log")
    code = proc.wait_exit()
    out = proc.output()
    proc.stop()
    assert code != 0
    assert "no_such_service" in out and "known services: ['ranker']" in out, out[-3000:]


def test_uvicorn_without_a_model_serves_features_and_refuses_rank(served, tmp_path) -> None:
    env = {**served["env"], "SKEWLESS_MODEL_PATH": str(tmp_path / "no_model.json"),
           "SKEWLESS_VECTOR_LOG_DIR": str(tmp_path / "log")}
    proc = ServerProcess(env, tmp_path / "server.log").wait_ready()
    try:
        with httpx.Client(base_url=proc.url, timeout=30) as client:
            r = client.post("/features", json={"entities": served["rows"][:2],
                                               "request_time": served["when"]})
            assert r.status_code == 200, r.text
            rank = client.post("/rank", json={"member_id": 1, "candidates": [1]})
            assert rank.status_code == 409 and "SKEWLESS_MODELS" in rank.json()["detail"]
            assert client.get("/health").json()["model_id"] is None
    finally:
        proc.stop()
