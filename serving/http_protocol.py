"""The HTTP protocol ``skewless serve`` runs: uvicorn's httptools protocol with the request-head
limit (:class:`serving.limits.HeadLimitedHttpTools`) and one socket write per answer.

uvicorn writes an answer's status line and headers when the app sends
``http.response.start``, then its body on ``http.response.body``: two writes, so two TCP
segments for the client to wait for. On this project's loopback benchmark (``/rank`` with
100 candidates, one keep-alive client, servers alternating request by request) one write per
answer took the median from 3.41 to 2.26 ms on a loaded machine (load average 3-4: a reader
woken by the head may wait a time slice for the body); on a quiet machine no difference was
measured. Here the head of a final answer (a status other than 1xx) is held by
:class:`CoalescedTransport` and written together with the first piece of the body, in one
``write``.

Nothing is held past the answer: the head goes out with the first body piece; else when the
answer completes (a ``HEAD`` answer, an empty body), when the transport is closed or
half-closed, or at the event loop's next turn (a streamed answer whose first piece comes
later). A ``100 Continue`` interim answer is written at once (the client waits for it
before it sends its body).

Start it with ``skewless serve`` or ``uvicorn serving.api:app --http`` :data:`PROTOCOL`.
"""

from __future__ import annotations

from typing import Any

from serving.limits import HeadLimitedHttpTools

__all__ = ["PROTOCOL", "CoalescedTransport", "HttpProtocol"]

PROTOCOL = "serving.http_protocol:HttpProtocol"  # uvicorn's ``http`` setting for it


class CoalescedTransport:
    """A transport that holds a final answer's head until the next write (module docstring);
    everything else is the wrapped transport's."""

    __slots__ = ("_transport", "_held", "_call_soon")

    def __init__(self, transport: Any, call_soon: Any) -> None:
        self._transport = transport
        self._held: bytes | None = None
        self._call_soon = call_soon

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif data[:9] == b"HTTP/1.1 " and data[9:10] != b"1":  # a final answer's head
            self._held = data
            self._call_soon(self.flush)  # a streamed body's first piece may come much later
        else:
            self._transport.write(data)

    def flush(self) -> None:
        """Write the held head, if any."""
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpProtocol(HeadLimitedHttpTools):
    """uvicorn's httptools protocol with the head limit and one write per answer (module
    docstring)."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is None or isinstance(cycle.transport, CoalescedTransport):
            return
        coalesced = CoalescedTransport(self.transport, self.loop.call_soon)
        cycle.transport = coalesced
        completed = cycle.on_response

        def on_response() -> None:  # this cycle's head, before the protocol goes on
            coalesced.flush()  # (a pipelined request's cycle may be ``self.cycle`` by now)
            completed()

        cycle.on_response = on_response
