"""The encoded-vector ``POST`` routes without FastAPI's per-request machinery, for valid bodies.

FastAPI's request handling around an endpoint (routing, the dependency solver, the body's
validation through a type adapter, the exception and exit-stack middlewares) cost ~0.2 ms
of the ~2 ms of a ``/rank`` with 100 candidates (measured in-process, the ASGI call vs the
endpoint function, alternating; issue 12's HTTP-vs-in-process target). :class:`HotRoutes` is
a pure ASGI middleware, the innermost one (inside the body limits and the admission bound),
that answers a ``POST`` to one of the registered paths itself when it can:

* it reads the body (already limited by :class:`serving.limits.InputLimits`), parses and
  validates it in one step with the route's own generated model (pydantic's JSON mode,
  ``model_validate_json``: 7 vs 22 µs for a 100-candidate ``/rank`` body) and calls the
  route's function. A body JSON mode accepts gives the same model as FastAPI's
  ``json.loads`` + Python-mode validation (``tests/online/test_hot_routes.py`` checks it on
  hostile bodies for every request-input type); the few it refuses that FastAPI accepts
  (a UTF-8 byte-order mark, say) take the next point's way;
* **anything else is FastAPI's**: a body that does not parse or validate is replayed, body and
  all, through the FastAPI app behind it, which answers as it always did; an error the
  function raises (Redis down, a stale state, a batch over the limit …) is replayed the same
  way with the error in the scope (:data:`FAILED`), and the FastAPI endpoint raises it again
  (:func:`raise_failed`) for its handlers to answer — the function never runs twice, so a
  request to a hung Redis waits for one socket timeout, not two;
* an error while the body is read (the body limit's 413 on a chunked body) is raised again
  from the first read of the FastAPI app behind, whose handlers answer it;
* ``taken`` and ``replayed`` count the two ways (tests use them; ``/health`` does not show
  them).

OpenAPI and ``/docs`` still come from the FastAPI routes, which stay registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["FAILED", "HotRoutes", "raise_failed"]

#: The scope key under which a replayed request carries the error the route's function raised
#: on the hot path (the FastAPI endpoint raises it again instead of running the function).
FAILED = "skewless.hot_route_error"


class HotRoutes:
    """Pure ASGI middleware answering valid ``POST`` bodies of ``routes`` directly.

    ``routes``: path -> (function of the validated body returning an ASGI response, the body's
    pydantic model); the dict may be filled after the app is built (the middleware stack is
    built on the first request)."""

    def __init__(self, app: ASGIApp,
                 routes: dict[str, tuple[Callable[[Any], Any], type]]) -> None:
        self.app = app
        self.routes = routes
        self.taken = 0
        self.replayed = 0

    @staticmethod
    def of(app: Any) -> HotRoutes:
        """The :class:`HotRoutes` layer of a FastAPI/Starlette ``app`` whose middleware stack
        is built (after its first request); raises ``LookupError`` when it has none."""
        layer = app.middleware_stack
        while layer is not None and not isinstance(layer, HotRoutes):
            layer = getattr(layer, "app", None)
        if layer is None:
            raise LookupError("the app has no HotRoutes layer, or its middleware stack is not "
                              "built yet (send it a request first)")
        return layer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (self.routes.get(scope["path"])
                 if scope["type"] == "http" and scope["method"] == "POST" else None)
        if route is None:
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(receive)
        except Exception as exc:  # e.g. the body limit's 413: FastAPI's handlers answer it
            self.replayed += 1
            await self.app(scope, _raising(exc), send)
            return
        if body is None:  # the client left before sending its body: nobody to answer
            return
        replay = _replaying(body, receive)
        fn, model = route
        try:
            parsed = model.model_validate_json(body)
        except Exception:  # FastAPI answers it (module docstring); too deep a nesting too
            self.replayed += 1
            await self.app(scope, replay, send)
            return
        try:
            response = fn(parsed)
        except Exception as exc:  # FastAPI's handlers answer it, the function not run again
            self.replayed += 1
            await self.app({**scope, FAILED: exc}, replay, send)
            return
        self.taken += 1
        await response(scope, replay, send)


def raise_failed(scope: Scope) -> None:
    """Raise the error the hot path met for this request, if any (the FastAPI endpoint calls
    it first, so its handlers answer that error without the function running twice)."""
    failed = scope.get(FAILED)
    if failed is not None:
        raise failed


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body; ``None`` when the client disconnected first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _raising(exc: Exception) -> Receive:
    """A ``receive`` raising ``exc``, as the real one did while the body was read."""

    async def again() -> Message:
        raise exc

    return again


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` giving ``body`` once as one message, then the real one's messages (a
    response waiting for ``http.disconnect`` still gets it)."""
    given = False

    async def again() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again
