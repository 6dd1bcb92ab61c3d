"""Bad HTTP input is refused before it costs anything (a real ``skewless serve`` process on
the private Redis of ``served``, small limits so the tests stay cheap):

* a request head over ``SKEWLESS_MAX_HEADER_BYTES`` gets a 431 naming the limit as soon as the
  limit is crossed — before the head ends — and a 64 MiB header neither grows the server's
  memory nor stalls ``/health``;
* a body over ``SKEWLESS_MAX_BODY_BYTES`` gets a 413 naming the limit: by its Content-Length
  before a byte of it is read, or, chunked, on the chunk that crosses the limit; a 100 MB body
  does not grow the server's memory;
* a POST whose content type is not JSON gets a 415 naming ``application/json``;
* ``POST /rank/`` (any Host header) is a 404 naming ``/rank``, never a redirect;
* JSON nested past the parser's depth gets a 400 saying so; shallower nesting a 422 naming
  the field;
* join keys are strict JSON integers (no booleans, quoted or float numbers);
* ``/docs`` loads its assets from this server, never from a CDN.

Memory is the process' peak RSS (``VmHWM``, reset through ``/proc/<pid>/clear_refs``) around
one request: a server that buffered the input grows by at least its size."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.reliability.conftest import ServerProcess

HEAD_LIMIT = 8 * 1024
BODY_LIMIT = 64 * 1024
MIB = 1024 * 1024
READ_TIMEOUT_S = 15.0


@pytest.fixture(scope="module")
def server(served, tmp_path_factory):
    env = {**served["env"], "SKEWLESS_MAX_HEADER_BYTES": str(HEAD_LIMIT),
           "SKEWLESS_MAX_BODY_BYTES": str(BODY_LIMIT)}
    proc = ServerProcess(env, tmp_path_factory.mktemp("input") / "server.log", via_cli=True)
    yield proc.wait_ready()
    proc.stop()


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length read from ``sock``."""
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines[1:])}
        while len(body) < int(headers.get("content-length", 0)):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    except TimeoutError:
        pytest.fail(f"no answer within {READ_TIMEOUT_S}s (got {buf[:200]!r}): the server "
                    "waits to read the whole input before refusing it", pytrace=False)
    return int(lines[0].split(" ")[1]), headers, body


def _exchange(server: ServerProcess, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` on a fresh connection (and nothing more) and read the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=READ_TIMEOUT_S) as sock:
        sock.sendall(data)
        return _read_response(sock)


def _head(method: str, path: str, *lines: str) -> bytes:
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *lines]
                       ).encode() + b"\r\n"


def _peak_rss_growth(pid: int, action) -> int:
    """Bytes the process' peak RSS grew by while ``action()`` ran."""
    def status(field: str) -> int:
        text = Path(f"/proc/{pid}/status").read_text()
        return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1)) * 1024

    Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak RSS := current RSS
    before = status("VmRSS")
    action()
    return status("VmHWM") - before


def _send_flood(server: ServerProcess, head: bytes, total: int, fill: bytes = b"a") -> dict:
    """Send ``head`` then ``total`` bytes of ``fill`` (1 MiB at a time) on one connection;
    return what was sent and the answer, if one could be read (the server may cut the
    connection once it has refused)."""
    out: dict = {"sent": 0, "answer": None}
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        block = fill * MIB
        try:
            sock.sendall(head)
            while out["sent"] < total:
                sock.sendall(block)
                out["sent"] += len(block)
            out["answer"] = _read_response(sock)
        except OSError as exc:  # reset or broken pipe after a refusal
            out["error"] = exc
    return out


def _health_latencies(server: ServerProcess, during: threading.Thread) -> list[float]:
    took = []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        while during.is_alive() or not took:
            start = time.perf_counter()
            assert client.get("/health/live").status_code == 200
            took.append(time.perf_counter() - start)
            time.sleep(0.05)
    return took


# --- request head ----------------------------------------------------------------------------
def test_a_head_over_the_limit_gets_431_before_it_ends(server) -> None:
    unfinished = _head("GET", "/health") + b"X-Big: " + b"a" * (2 * HEAD_LIMIT)
    status, headers, body = _exchange(server, unfinished)
    assert status == 431, body
    assert headers["content-type"].startswith("application/json")
    detail = json.loads(body)["detail"]
    assert "SKEWLESS_MAX_HEADER_BYTES" in detail and str(HEAD_LIMIT) in detail, detail


def test_a_head_under_the_limit_is_served(http) -> None:
    r = http.get("/health/live", headers={"x-pad": "a" * (HEAD_LIMIT - 600)})
    assert r.status_code == 200, r.text


def test_a_64_mib_header_costs_no_memory_and_does_not_stall_health(server) -> None:
    sent: dict = {}
    flood = threading.Thread(target=lambda: sent.update(_send_flood(
        server, _head("GET", "/health") + b"X-Big: ", 64 * MIB)))

    def run() -> None:
        flood.start()
        sent["health"] = _health_latencies(server, flood)
        flood.join(timeout=120)

    growth = _peak_rss_growth(server.proc.pid, run)
    assert growth < 16 * MIB, f"peak RSS grew by {growth / MIB:.0f} MiB for a 64 MiB header"
    assert max(sent["health"]) < 5.0, sent["health"]  # generous: a loaded 2-core machine
    if sent.get("answer"):
        assert sent["answer"][0] == 431


# --- request body ----------------------------------------------------------------------------
def test_a_body_over_the_limit_by_content_length_gets_413_unread(server) -> None:
    head = _head("POST", "/rank", "Content-Type: application/json",
                 "Content-Length: 100000000") + b"\r\n" + b'{"member_id": 1, "candidates": ['
    status, headers, body = _exchange(server, head)  # the rest of the body is never sent
    assert status == 413, body
    detail = json.loads(body)["detail"]
    assert "SKEWLESS_MAX_BODY_BYTES" in detail and str(BODY_LIMIT) in detail, detail
    assert "100000000" in detail


def test_a_chunked_body_over_the_limit_gets_413_when_it_crosses_it(server) -> None:
    chunk = b"1" * 4096
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk)
                      for _ in range(BODY_LIMIT // len(chunk) + 2))
    head = _head("POST", "/features", "Content-Type: application/json",
                 "Transfer-Encoding: chunked") + b"\r\n"
    status, _, body = _exchange(server, head + chunks)  # no last chunk: the body never ends
    assert status == 413, body
    assert "SKEWLESS_MAX_BODY_BYTES" in json.loads(body)["detail"]


def test_a_100_mb_body_costs_no_memory(server, served) -> None:
    total = 100 * MIB
    head = _head("POST", "/rank", "Content-Type: application/json",
                 f"Content-Length: {total}") + b"\r\n"
    out: dict = {}
    growth = _peak_rss_growth(server.proc.pid, lambda: out.update(
        _send_flood(server, head, total, fill=b" ")))
    assert out["answer"] and out["answer"][0] == 413, out
    assert growth < 16 * MIB, f"peak RSS grew by {growth / MIB:.0f} MiB for a 100 MB body"


def test_a_body_at_the_limit_is_served(http, served) -> None:
    body = json.dumps({"member_id": served["rows"][0]["member_id"],
                       "candidates": [r["title_id"] for r in served["rows"]]})
    padded = body + " " * (BODY_LIMIT - len(body))
    r = http.post("/rank", content=padded, headers={"content-type": "application/json"})
    assert len(padded) == BODY_LIMIT and r.status_code == 200, r.text


# --- content type, slashes, nesting, ids -----------------------------------------------------
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", None])
def test_a_body_that_is_not_json_gets_415_naming_application_json(http, content_type) -> None:
    headers = {"content-type": content_type} if content_type else {}
    r = http.post("/features", content=b'{"entities": [{"member_id": 1, "title_id": 1}]}',
                  headers=headers)
    assert r.status_code == 415, r.text
    assert "application/json" in r.json()["detail"]
    ok = http.post("/features", content=b'{"entities": [{"member_id": 1, "title_id": 1}]}',
                   headers={"content-type": "application/json; charset=utf-8"})
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("method, path, right", [("POST", "/rank/", "/rank"),
                                                 ("POST", "/features/", "/features"),
                                                 ("GET", "/health/", "/health"),
                                                 ("POST", "/services/ranker/rank/",
                                                  "/services/ranker/rank")])
def test_a_trailing_slash_is_a_404_naming_the_route_never_a_redirect(http, method, path,
                                                                     right) -> None:
    r = http.request(method, path, json={"member_id": 1, "candidates": [1]},
                     headers={"host": "evil.example"}, follow_redirects=False)
    assert r.status_code == 404 and "location" not in r.headers, (r.status_code, r.headers)
    assert f"{method} {right}" in r.json()["detail"], r.text


@pytest.mark.parametrize("depth", [30_000, 5_000])  # 60 kB at most: under BODY_LIMIT
def test_json_nested_too_deep_gets_400_saying_so(http, depth) -> None:
    body = '{"member_id": 1, "candidates": ' + "[" * depth + "]" * depth + "}"
    r = http.post("/rank", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    err = r.json()["detail"][0]
    assert err["type"] == "body_too_deep" and err["loc"] == ["body"], err
    assert "nest" in err["msg"], err


@pytest.mark.parametrize("depth", [2, 50, 400])
def test_nesting_the_parser_takes_gets_422_naming_the_field(http, depth) -> None:
    nested = "[" * depth + "]" * depth
    for path, body in (("/rank", '{"member_id": 1, "candidates": ' + nested + "}"),
                       ("/features", '{"entities": [{"member_id": 1, "title_id": 1}], '
                                     '"device": ' + nested + "}")):
        r = http.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422, r.text
        assert {e["loc"][1] for e in r.json()["detail"]} <= {"candidates", "device"}, r.text


@pytest.mark.parametrize("bad", [True, "1_000_022", " 1000022 ", 1000022.0, "1000022", 1e3])
def test_ids_are_strict_json_integers(http, bad) -> None:
    for path, body, field in (
            ("/features", {"entities": [{"member_id": bad, "title_id": 1}]}, "member_id"),
            ("/rank", {"member_id": bad, "candidates": [1]}, "member_id"),
            ("/rank", {"member_id": 1, "candidates": [1, bad]}, "candidates")):
        r = http.post(path, json=body)
        assert r.status_code == 422, (path, body, r.text)
        assert any(field in e["loc"] for e in r.json()["detail"]), r.text


# --- /docs -----------------------------------------------------------------------------------
def test_docs_load_their_assets_from_this_server(http) -> None:
    for page in ("/docs", "/redoc"):
        r = http.get(page)
        assert r.status_code == 200, r.text
        assert "://" not in r.text and "cdn" not in r.text.lower(), r.text
        assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", r.text)
        assert any(a.endswith(".js") for a in assets), assets
        for asset in assets:
            assert asset.startswith("/") and not asset.startswith("//"), asset
            got = http.get(asset)
            assert got.status_code == 200 and len(got.content) > 0, asset
