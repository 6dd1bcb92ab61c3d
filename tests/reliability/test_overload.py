"""Overload against a real server (uvicorn subprocess, ``SKEWLESS_MAX_IN_FLIGHT=1``): a request
beyond the bound is refused at once with 503 + ``Retry-After`` naming the setting, counted in
``/health``, and not served (nothing logged); the admitted ones are answered in full; ``GET``
probes pass while the slot is held. Behaviour only: the latency figures are in
``bench/load_rank.py`` (BENCHMARKS.md)."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from serving.log_reader import read_log
from tests.reliability.conftest import ServerProcess


@pytest.fixture(scope="module")
def server(served, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("overload_log")
    proc = ServerProcess({**served["env"], "SKEWLESS_MAX_IN_FLIGHT": "1",
                          "SKEWLESS_VECTOR_LOG_DIR": str(log_dir),
                          "SKEWLESS_LOG_FILE_SECONDS": "0.2"},  # facts files readable soon
                         tmp_path_factory.mktemp("srv") / "server.log")
    proc.log_dir = log_dir
    yield proc.wait_ready()
    proc.stop()


def _body(served, candidates: int = 1) -> dict:
    members = sorted({r["member_id"] for r in served["rows"]})
    titles = sorted({r["title_id"] for r in served["rows"]})
    return {"member_id": members[0], "candidates": (titles * candidates)[:candidates],
            "request_time": served["when"], "device": "tv"}


def _admission(url: str) -> dict:
    return httpx.get(url + "/health", timeout=10).json()["admission"]


def _log_settled(url: str) -> bool:
    """Everything the server accepted for its log is in closed (readable) files."""
    figures = httpx.get(url + "/health", timeout=10).json()["vector_log"]
    return figures["queued_rows"] == 0 and figures["open_rows"] == 0


def _logged_ids(log_dir) -> list[str]:
    return [e["request_id"] for e in read_log(log_dir)]


def _wait(predicate, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}", pytrace=False)
        time.sleep(0.05)


def _assert_shed(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "1"
    body = r.json()
    assert body["cause"] == "overloaded" and body["max_in_flight"] == 1
    assert "SKEWLESS_MAX_IN_FLIGHT=1" in body["detail"]


def test_a_request_beyond_the_bound_is_shed_with_retry_after(served, server) -> None:
    before = _admission(server.url)
    assert before["max_in_flight"] == 1 and before["in_flight"] == 0
    raw = json.dumps(_body(served)).encode()
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    try:  # a request whose body is still arriving holds the only slot
        slow.sendall(b"POST /rank HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: "
                     b"application/json\r\ncontent-length: " + str(len(raw)).encode()
                     + b"\r\n\r\n" + raw[:10])
        _wait(lambda: _admission(server.url)["in_flight"] == 1, "the slow request's slot")
        with httpx.Client(base_url=server.url, timeout=30) as client:
            _assert_shed(client.post("/rank", json=_body(served)))
            _assert_shed(client.post("/features", json={"entities": served["rows"][:1],
                                                        "request_time": served["when"]}))
            assert client.get("/health/live").status_code == 200  # probes are never shed
            figures = _admission(server.url)
            assert figures["shed"] == before["shed"] + 2 and figures["in_flight"] == 1
            slow.sendall(raw[10:])  # the admitted request completes, in full
            answer = slow.recv(65536)
            while b"\r\n\r\n" not in answer:
                answer += slow.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
            _wait(lambda: _admission(server.url)["in_flight"] == 0, "the slot to be freed")
            assert client.post("/rank", json=_body(served)).status_code == 200
    finally:
        slow.close()


def test_a_burst_gets_answers_or_sheds_and_sheds_serve_nothing(served, server) -> None:
    """24 simultaneous clients, 3 rounds, bound 1: every answer is a 200 (served in full and
    logged) or a 503 with ``Retry-After`` (counted in /health, not logged)."""
    before = _admission(server.url)
    _wait(lambda: _log_settled(server.url), "the earlier requests' log files to close")
    logged_before = set(_logged_ids(server.log_dir))
    results: list[httpx.Response] = []
    lock = threading.Lock()
    barrier = threading.Barrier(24)

    def client_thread() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            client.get("/health")  # connected before the burst
            for _ in range(3):
                barrier.wait()
                r = client.post("/rank", json=_body(served, candidates=100))
                with lock:
                    results.append(r)

    threads = [threading.Thread(target=client_thread) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 72
    ok = [r for r in results if r.status_code == 200]
    shed = [r for r in results if r.status_code != 200]
    for r in shed:
        _assert_shed(r)
    assert ok and shed, [r.status_code for r in results]
    for r in ok:
        assert len(r.json()["ranking"]) == 100
    figures = _admission(server.url)
    assert figures["shed"] - before["shed"] == len(shed)
    assert figures["admitted"] - before["admitted"] == len(ok)
    served_ids = {r.json()["request_id"] for r in ok}
    _wait(lambda: _log_settled(server.url), "the served vectors in the log")
    logged = [i for i in _logged_ids(server.log_dir) if i not in logged_before]
    assert set(logged) == served_ids and len(logged) == len(ok)  # shed requests logged nothing

