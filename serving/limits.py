"""Limits on HTTP input, enforced before the input costs memory or time.

* **Request head over ``SKEWLESS_MAX_HEADER_BYTES`` → 431** (default 16 KiB, request line and
  headers together). Headers are parsed by the server before any app sees the request, so the
  limit lives in the server's HTTP protocol: :class:`HeadLimitedHttpTools` is uvicorn's
  httptools protocol counting the bytes of each request head as they arrive and feeding the
  parser no byte past the limit (the parser accumulates a header value in memory, with copies
  growing with its size). ``skewless serve`` runs it (inside
  :class:`serving.http_protocol.HttpProtocol`); with plain uvicorn, pass
  ``--http serving.http_protocol:HttpProtocol`` (uvicorn's own ``httptools`` protocol has no
  head limit; ``--http h11`` has ``--h11-max-incomplete-event-size``, answered with a 400).
  The 431 is JSON naming the limit and the variable; the connection is then half-closed and
  whatever the client still sends is dropped unread for at most :data:`LINGER_SECONDS`
  (so the client can read the answer instead of a reset), then closed.
* **Request body over the limit → 413** (:attr:`serving.settings.Settings.body_limit`,
  ``SKEWLESS_MAX_BODY_BYTES``), by :class:`InputLimits`, an ASGI middleware: a
  ``Content-Length`` over the limit is refused before a byte of the body is read; a chunked
  body is counted as it streams and refused on the chunk that crosses the limit. The server
  drops the unread rest as it arrives (never buffered) and the connection stays usable.
* **A POST, PUT or PATCH body that is not JSON → 415** naming ``application/json``: a
  ``content-type`` other than ``application/json`` (parameters such as ``charset`` allowed) or
  ``application/*+json``, or none with a non-empty body (``curl -d`` sends
  ``application/x-www-form-urlencoded``; FastAPI would answer a 422 about the body's shape).

Edge cases: with pipelined requests the head count restarts at the end of each message, so a
head that follows another request in the same read is counted from its first byte only
within that read (off by less than one read); requests read before a refused head are still
answered, in order, and the 431 follows their answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from serving.settings import max_header_bytes

__all__ = ["LINGER_SECONDS", "HeadLimitedHttpTools", "InputLimits", "body_detail",
           "head_detail", "is_json"]

LINGER_SECONDS = 2.0
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def is_json(content_type: str) -> bool:
    """Whether a ``content-type`` value names JSON, as FastAPI decides to parse a body:
    ``application/json`` or ``application/<x>+json``, any parameters, any case."""
    if content_type == "application/json":  # the usual value, on every POST: no parsing
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    maintype, _, subtype = media.partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


def body_detail(limit: int, length: int | None = None) -> str:
    """The 413 text: the body's size when known (``Content-Length``), the limit, the fix."""
    size = (f"the request body is {length} bytes (Content-Length), over" if length is not None
            else "the request body exceeds")
    return (f"{size} the limit of {limit} bytes (SKEWLESS_MAX_BODY_BYTES): send fewer rows "
            "per request (SKEWLESS_MAX_BATCH entities, SKEWLESS_MAX_CANDIDATES candidates) or "
            "raise the limit")


def head_detail(limit: int) -> str:
    """The 431 text: the limit and the fix."""
    return (f"the request head (request line and headers) exceeds {limit} bytes, the server's "
            "limit (SKEWLESS_MAX_HEADER_BYTES): send smaller headers (cookies, tokens, URL) or "
            "raise the limit")


def _content_type_detail(content_type: str | None) -> str:
    got = (f"the request body is {content_type[:100]!r}" if content_type is not None
           else "the request body has no content-type")
    return (f"{got}; this API takes JSON bodies: send the body as JSON with "
            "content-type: application/json")


class InputLimits:
    """ASGI middleware refusing a request body that is too large (413) or not JSON (415)
    before the app reads it (module docstring). Requests without a body pass untouched."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope["headers"])
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, self._counted(receive), send)

    def _refusal(self, headers: Iterable[tuple[bytes, bytes]]) -> JSONResponse | None:
        """The answer refusing a request with these (ASGI: lower-case) headers, or ``None``.
        One pass over the raw pairs: this runs on every POST."""
        content_type = length = None
        chunked = False
        for name, value in headers:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                length = value.strip()
            elif name == b"transfer-encoding":
                chunked = True
        if content_type is None:
            if chunked or (length is not None and length != b"0"):
                return JSONResponse({"detail": _content_type_detail(None)}, 415)
        elif not is_json(content_type):
            return JSONResponse({"detail": _content_type_detail(content_type)}, 415)
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            return JSONResponse({"detail": body_detail(self.max_body_bytes, int(length))}, 413)
        return None

    def _counted(self, receive: Receive) -> Receive:
        """``receive`` raising a 413 ``HTTPException`` (FastAPI passes it on to the error
        handlers) on the body chunk that takes the total past the limit."""
        limit, seen = self.max_body_bytes, 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, body_detail(limit))
            return message

        return counted


class HeadLimitedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol that answers 431 to a request head over
    ``SKEWLESS_MAX_HEADER_BYTES`` without parsing past the limit (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_head_bytes = max_header_bytes()
        self._head_bytes = 0  # bytes of the current request head fed to the parser so far
        self._in_head = True  # from the end of a message (or the connection's start) to the
        self._refused = False  # end of the next head

    def data_received(self, data: bytes) -> None:
        while data and not self._refused:
            if not self._in_head:
                super().data_received(data)
                return
            room = self.max_head_bytes - self._head_bytes
            if len(data) <= room:
                self._head_bytes += len(data)
                super().data_received(data)
                return
            first, data = data[:room], data[room:]
            self._head_bytes += len(first)
            super().data_received(first)
            if self.transport.is_closing():
                return
            if self._in_head and self._head_bytes >= self.max_head_bytes:
                self._refuse_head()
        # refused: the rest of the head is dropped unread until the linger ends

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._refused and self._answers_done():
            self._send_431()

    def _answers_done(self) -> bool:
        """Whether every request read before the refused head has been answered."""
        return (self.cycle is None or self.cycle.response_complete) and not self.pipeline

    def _refuse_head(self) -> None:
        self._refused = True
        self.logger.warning("request head over %d bytes (SKEWLESS_MAX_HEADER_BYTES): 431",
                            self.max_head_bytes)
        if self._answers_done():
            self._send_431()
        # else: on_response_complete sends it after the last pending answer

    def _send_431(self) -> None:
        if self.transport.is_closing():
            return
        body = json.dumps({"detail": head_detail(self.max_head_bytes)}).encode("ascii")
        lines = [STATUS_LINE[431]]
        for name, value in self.server_state.default_headers:
            lines += [name, b": ", value, b"\r\n"]
        lines += [b"content-type: application/json\r\n",
                  b"content-length: %d\r\n" % len(body), b"connection: close\r\n\r\n", body]
        self.transport.write(b"".join(lines))
        self._unset_keepalive_if_required()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)
