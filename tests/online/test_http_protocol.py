"""The protocol ``skewless serve`` runs (:mod:`serving.http_protocol`): an answer's head and
body leave in one write, and nothing is held past the answer — on a recording transport, and
on a real uvicorn server (a minimal ASGI app, raw sockets) for the cases that could hang a
client: ``100 Continue``, ``HEAD``, an empty body, a streamed body whose first piece comes
late, pipelined requests and ``Connection: close``."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from clusters.processes import free_port
from serving.http_protocol import PROTOCOL, CoalescedTransport

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class Recording:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.soon: list = []

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def test_head_and_body_leave_in_one_write_and_interim_answers_at_once() -> None:
    t = Recording()
    c = CoalescedTransport(t, t.soon.append)
    c.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert t.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    c.write(HEAD)
    assert t.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    c.write(b"ok")
    assert t.writes[1:] == [HEAD + b"ok"]
    for flush in t.soon:  # the next loop turn finds nothing held
        flush()
    assert len(t.writes) == 2 and not c.is_closing()


def test_a_held_head_is_written_at_the_next_turn_and_before_a_close() -> None:
    t = Recording()
    c = CoalescedTransport(t, t.soon.append)
    c.write(HEAD)
    assert t.writes == []
    t.soon[0]()
    assert t.writes == [HEAD]
    c.write(HEAD)
    c.close()
    assert t.writes == [HEAD, HEAD] and t.closed


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    path = scope["path"]
    if path == "/empty":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"transfer-encoding", b"chunked")]})
        await asyncio.sleep(1.0)  # the head must not wait for the first piece
        await send({"type": "http.response.body", "body": b"late", "more_body": False})
        return
    answer = b"echo:" + body
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, http=PROTOCOL,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start within 20 s")
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(10)


def _talk(port: int, raw: bytes, until: bytes, timeout: float = 5.0) -> bytes:
    """Send ``raw`` and read until ``until`` is in the answer (or the server closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        got = b""
        while until not in got:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def test_answers_through_the_protocol(port) -> None:
    got = _talk(port, b"POST /x HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\n\r\nhi", b"echo:hi")
    assert got.startswith(b"HTTP/1.1 200 OK") and got.endswith(b"echo:hi")
    got = _talk(port, b"HEAD /x HTTP/1.1\r\nhost: t\r\n\r\n", b"\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200 OK") and b"content-length: 5" in got
    got = _talk(port, b"GET /empty HTTP/1.1\r\nhost: t\r\n\r\n", b"\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 204")


def test_100_continue_is_sent_before_the_client_sends_its_body(port) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"POST /x HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\n"
                  b"expect: 100-continue\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 100 Continue")
        s.sendall(b"hi")
        got = b""
        while b"echo:hi" not in got:
            got += s.recv(65536)
        assert b"HTTP/1.1 200 OK" in got


def test_a_streamed_head_is_not_held_until_its_first_piece(port) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /stream HTTP/1.1\r\nhost: t\r\n\r\n")
        t0 = time.monotonic()
        head = s.recv(65536)
        assert head.startswith(b"HTTP/1.1 200 OK") and b"late" not in head
        assert time.monotonic() - t0 < 0.9, "the head waited for the body's first piece"
        got = head
        while b"0\r\n\r\n" not in got:
            got += s.recv(65536)
        assert b"late" in got


def test_pipelined_requests_and_connection_close_get_every_answer_in_order(port) -> None:
    raw = (b"POST /x HTTP/1.1\r\nhost: t\r\ncontent-length: 1\r\n\r\na"
           b"HEAD /x HTTP/1.1\r\nhost: t\r\n\r\n"
           b"POST /x HTTP/1.1\r\nhost: t\r\ncontent-length: 1\r\nconnection: close\r\n\r\nb")
    got = _talk(port, raw, b"echo:b")
    assert got.count(b"HTTP/1.1 200 OK") == 3
    assert got.index(b"echo:a") < got.index(b"echo:b")
