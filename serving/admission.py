"""Load shedding: a bound on the requests a server process works on at once.

:class:`Admission` counts the ``POST`` requests in flight (from the moment the ASGI app is
called until the answer is sent) and refuses one beyond ``limit`` at once with ``503``,
``Retry-After`` and a JSON ``detail`` naming ``SKEWLESS_MAX_IN_FLIGHT``, without reading its
body: a refusal costs a few microseconds, so an overloaded server keeps answering the requests
it admitted at the latency of ``limit`` queued requests instead of letting every request wait
behind all the others (unbounded, a closed loop of 32 clients saw a p99 of 2.5 s).

Edge cases:

* only ``POST`` requests (the work: ``/features``, ``/rank``) are counted and shed; ``GET``
  (``/health``, ``/docs``, the OpenAPI document) always passes, so probes answer under load;
* the counters are per process: with several workers each has its own bound and its own
  figures, and ``/health`` reports those of the worker that answered;
* a request counts from the moment uvicorn hands it to the app: requests still unread in the
  sockets while the loop works are not counted yet (there are at most as many as connections);
  an admitted request waits for at most ``limit - 1`` others, plus the batch being worked on
  when it arrived;
* a request whose client goes away is still counted until the app returns (the ``finally``);
  so is one whose client sends its body slowly (a slow body holds a slot);
* everything runs on the event loop's thread, so the counters need no lock.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Admission", "AdmissionMiddleware", "Figures"]

SETTING = "SKEWLESS_MAX_IN_FLIGHT"


@dataclass(frozen=True)
class Figures:
    """A snapshot of the counters (``/health`` shows it as a dict)."""

    max_in_flight: int
    in_flight: int
    admitted: int
    shed: int


class Admission:
    """The bound and its counters: ``in_flight`` now, ``admitted`` and ``shed`` since start."""

    def __init__(self, limit: int, retry_after_s: int = 1) -> None:
        if limit < 1:
            raise ValueError(f"{SETTING}={limit} must be >= 1")
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        self.admitted = 0
        self.shed = 0
        self._refusal = json.dumps({
            "detail": f"the server is saturated: {limit} requests are in flight, the bound "
                      f"{SETTING}={limit}; retry after {retry_after_s} s, or raise "
                      f"{SETTING} (or add workers) when the latency budget allows",
            "cause": "overloaded", "max_in_flight": limit}).encode()

    def figures(self) -> Figures:
        return Figures(self.limit, self.in_flight, self.admitted, self.shed)

    def health(self) -> dict[str, int]:
        """The figures as the ``/health`` payload shows them."""
        return asdict(self.figures())

    async def refuse(self, send: Any) -> None:
        """Send the 503 of a shed request (counted)."""
        self.shed += 1
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self._refusal)).encode()),
            (b"retry-after", str(self.retry_after_s).encode())]})
        await send({"type": "http.response.body", "body": self._refusal})


class AdmissionMiddleware:
    """Pure ASGI middleware applying an :class:`Admission` to ``POST`` requests."""

    def __init__(self, app: Any, admission: Admission) -> None:
        self.app = app
        self.admission = admission

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        gate = self.admission
        if gate.in_flight >= gate.limit:
            await gate.refuse(send)
            return
        gate.in_flight += 1
        gate.admitted += 1
        try:
            # Yield once before the work: the endpoints run on the event loop without awaiting,
            # so without this the requests uvicorn read in one go would each run to completion
            # before the next is even counted, and the queue would hide in the loop's ready
            # tasks. After it, every request read is counted before any is worked on.
            await asyncio.sleep(0)
            await self.app(scope, receive, send)
        finally:
            gate.in_flight -= 1
