"""Redis faults while a real server (uvicorn subprocess) answers on loopback: Redis killed, then
restarted on the same port; Redis frozen (SIGSTOP). Every request gets 200 or a 503 naming the
cause and the fix, never a 5xx of another kind or a hang; ``/health`` reports Redis down; the
process stays up; answers resume by themselves (no restart) with the same vectors as before."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from tests.reliability.conftest import ServerProcess


@pytest.fixture(scope="module")
def server(served, tmp_path_factory):
    proc = ServerProcess(served["env"], tmp_path_factory.mktemp("srv") / "server.log")
    yield proc.wait_ready()
    proc.stop()


def _features(served, client: httpx.Client) -> httpx.Response:
    return client.post("/features", json={"entities": served["rows"],
                                          "request_time": served["when"], "device": "tv"})


def _assert_unavailable(r: httpx.Response, port: int) -> None:
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["cause"] == "online_store_unavailable"
    assert f"127.0.0.1:{port}" in body["detail"] and "SKEWLESS_REDIS_HOST" in body["detail"]
    assert "resume by themselves" in body["detail"]
    assert r.headers["retry-after"] == "1"


def test_redis_killed_gives_503_then_recovers_without_restart(served, server) -> None:
    redis_proc = served["redis"]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        before = _features(served, client)
        assert before.status_code == 200, before.text
        assert all(s == {"member_features": "present", "title_features": "present"}
                   for s in before.json()["statuses"])

        statuses: list[int] = []
        stop = threading.Event()

        def hammer() -> None:  # requests in flight while Redis dies and comes back
            with httpx.Client(base_url=server.url, timeout=30) as c:
                while not stop.is_set():
                    statuses.append(_features(served, c).status_code)

        thread = threading.Thread(target=hammer)
        thread.start()
        time.sleep(0.5)
        redis_proc.kill()
        time.sleep(1.0)
        t0 = time.perf_counter()
        down = _features(served, client)
        took = time.perf_counter() - t0
        _assert_unavailable(down, redis_proc.port)
        assert took < 3.0, f"a request took {took:.2f}s while Redis was down"
        rank = client.post("/rank", json={"member_id": served["rows"][0]["member_id"],
                                          "candidates": [r["title_id"] for r in served["rows"]]})
        _assert_unavailable(rank, redis_proc.port)
        health = client.get("/health")
        assert health.status_code == 503
        assert not health.json()["ok"]
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and any(
            r.startswith("redis unavailable: (ConnectionError") for r in ready.json()["reasons"])
        assert client.get("/health/live").status_code == 200
        assert health.json()["redis"].startswith("unavailable: (ConnectionError")
        assert server.proc.poll() is None, "the server process died"

        redis_proc.start()  # same port, same append-only file: the data comes back
        deadline = time.monotonic() + 10
        after = _features(served, client)
        while after.status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
            after = _features(served, client)
        stop.set()
        thread.join(timeout=60)
    assert after.status_code == 200, after.text
    assert after.json()["vectors"] == before.json()["vectors"]
    assert after.json()["statuses"] == before.json()["statuses"]
    assert statuses and set(statuses) <= {200, 503}, sorted(set(statuses))
    assert 503 in statuses and statuses[-1] == 200
    assert "Traceback" not in server.output()


def test_frozen_redis_answers_503_within_the_socket_timeout(served, server) -> None:
    """SIGSTOP: connections hang instead of being refused. The socket timeout
    (SKEWLESS_REDIS_SOCKET_TIMEOUT=1 here) bounds the request; SIGCONT brings answers back."""
    redis_proc = served["redis"]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert _features(served, client).status_code == 200
        redis_proc.proc.send_signal(signal.SIGSTOP)
        try:
            t0 = time.perf_counter()
            r = _features(served, client)
            took = time.perf_counter() - t0
            assert r.status_code == 503, r.text
            assert "Timeout" in r.json()["detail"]
            assert "SKEWLESS_REDIS_SOCKET_TIMEOUT" in r.json()["detail"]
            assert took < 4.0, f"the request took {took:.2f}s with a 1 s socket timeout"
            health = client.get("/health")
            assert health.status_code == 503
            assert health.json()["redis"].startswith("unavailable: (TimeoutError")
        finally:
            redis_proc.proc.send_signal(signal.SIGCONT)
        r = _features(served, client)
        assert r.status_code == 200, r.text
    assert server.proc.poll() is None
