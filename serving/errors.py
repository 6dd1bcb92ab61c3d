"""How failures become HTTP answers: every one is a JSON body naming the problem and the fix.

:func:`install_error_handlers` registers, on a FastAPI app:

* **online store unavailable → 503.** Any redis-py error (connection refused or reset, timeout,
  authentication, ``LOADING``, cluster down, ...) and any socket-level ``OSError`` (``ssl``
  errors included) raised while answering becomes ``503`` with ``{"detail": <cause and fix>,
  "cause": "online_store_unavailable", "redis": <host:port>}`` and ``Retry-After: 1``. The
  detail never contains a password (redis-py's messages hold host and port only). The process
  stays up; nothing is cached about the failure, so the next request after Redis is back is
  answered normally (the client's pool replaces broken connections on checkout).
  This works whichever reader raised (Feast ``get_online_features`` or a direct pipelined
  reader): the handler matches the error classes, not the call site.
* **body not UTF-8 → 400.** FastAPI answers an undecodable JSON body with a bare "There was an
  error parsing the body"; the handler names the byte and offset and says to send UTF-8 JSON.
* **JSON nested past the parser's depth → 400** ``body_too_deep`` (FastAPI answers Python's
  ``RecursionError`` with a bare "There was an error parsing the body"); shallower nesting
  reaches validation and gets a 422 naming the field.
* **no route → 404** naming the method and path, and the route meant when the path differs
  from one only by a trailing slash (the app never redirects: a redirect would echo the
  request's ``Host`` header).
* **validation errors → 422** in FastAPI's format (``{"detail": [{"loc": [...], "msg": ...}]}``,
  the ``loc`` naming the field), rendered with ASCII escapes so that an echoed input holding a
  lone surrogate (``"\\ud800"`` is valid JSON) cannot crash the response.
* **anything else → 500** ``{"detail": "internal error ...", "error_id": ...}``, logged with its
  traceback under that id; never an HTML page, never a dead process.

:func:`redis_status` is the ``/health`` probe: ``"ok"`` or ``"unavailable: <cause>; <fix>"``.
"""

from __future__ import annotations

import json
import logging
import ssl
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from online_store.connection import address

__all__ = ["install_error_handlers", "no_route_detail", "redis_status", "store_failure",
           "unavailable_detail"]

log = logging.getLogger("skewless.serving")

CAUSE = "online_store_unavailable"
_ADDRESS_VARS = "SKEWLESS_REDIS_HOST / SKEWLESS_REDIS_PORT"


def _fix(exc: BaseException, where: str) -> str:
    import redis.exceptions as rx

    if isinstance(exc, rx.AuthenticationError | rx.NoPermissionError):
        return ("Redis refused the credentials: set SKEWLESS_REDIS_PASSWORD (or "
                "SKEWLESS_REDIS_PASSWORD_FILE) and SKEWLESS_REDIS_USERNAME to the server's, "
                "then restart this server")
    if isinstance(exc, ssl.SSLError):
        return ("the TLS handshake with Redis failed: check SKEWLESS_REDIS_SSL and the "
                "SKEWLESS_REDIS_SSL_CA_CERTS / _CERTFILE / _KEYFILE files")
    if isinstance(exc, rx.TimeoutError | TimeoutError):
        return (f"Redis at {where} did not answer within SKEWLESS_REDIS_SOCKET_TIMEOUT; check "
                "its load and the network; requests resume by themselves when it answers")
    if isinstance(exc, rx.BusyLoadingError):
        return f"Redis at {where} is loading its data set; retry in a moment"
    if "closed by server" in str(exc):
        # Redis 7 closes an unauthenticated connection that sends a command with more than
        # 10 arguments (our pipelined HMGETs) instead of answering NOAUTH.
        return (f"Redis at {where} closed the connection: when it requires a password, set "
                "SKEWLESS_REDIS_PASSWORD (or SKEWLESS_REDIS_PASSWORD_FILE) to the server's; "
                f"otherwise check that it answers ({_ADDRESS_VARS}); requests resume by "
                "themselves when it is back")
    return (f"check that Redis answers at {where} ({_ADDRESS_VARS}); requests resume by "
            "themselves when it is back")


def store_failure(exc: BaseException) -> bool:
    """Whether ``exc`` means the online store could not answer (see module docstring)."""
    import redis.exceptions as rx

    return isinstance(exc, rx.RedisError | ConnectionError | TimeoutError | ssl.SSLError)


def _redis_address(request: Request | None) -> str:
    service = getattr(getattr(getattr(request, "app", None), "state", None), "service", None)
    try:
        return address(service.store.config.online_store.connection_string)
    except AttributeError:
        return "the configured Redis"


def unavailable_detail(exc: BaseException, where: str) -> str:
    """``online store unavailable (<error class>: <message>); <fix>``."""
    text = str(exc).strip() or "no message"
    return f"online store unavailable ({exc.__class__.__name__}: {text}); {_fix(exc, where)}"


def redis_status(store: Any) -> str:
    """``"ok"`` when the store's own Redis client answers ``PING``, else the cause and fix.

    Uses Feast's client for the store (same connection string, same password, TLS and
    timeouts as the reads); never raises."""
    config = store.config.online_store
    where = address(getattr(config, "connection_string", "")) or "the configured Redis"
    try:
        client = store._get_provider().online_store._get_client(config)
        return "ok" if client.ping() else "unavailable: no answer to PING"
    except Exception as exc:  # a probe reports, never raises
        return "unavailable: " + unavailable_detail(exc, where).removeprefix(
            "online store unavailable ")


class _AsciiJSON(JSONResponse):
    """JSON that cannot fail to render: ASCII escapes (a lone surrogate is fine), ``repr``
    for objects JSON does not know."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, default=repr,
                          separators=(",", ":")).encode("ascii")


def _safe_json(status: int, content: Any, headers: dict[str, str] | None = None
               ) -> JSONResponse:
    return _AsciiJSON(status_code=status, content=content, headers=headers)


def _echo(value: Any) -> Any:
    """An input value as echoed in a 422: itself when short strict JSON, else a truncated
    ``repr`` (no NaN tokens, no megabyte echoes)."""
    try:
        text = json.dumps(value, ensure_ascii=True, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)[:200]
    return value if len(text) <= 200 else text[:200] + "..."


def _error_list(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        item = {k: err[k] for k in ("type", "loc", "msg") if k in err}
        if "input" in err:
            item["input"] = _echo(err["input"])
        if err.get("ctx"):
            item["ctx"] = {k: str(v) for k, v in err["ctx"].items()}
        out.append(item)
    return out


def no_route_detail(request: Request) -> str:
    """The 404 text for a path no route matches: the route meant when the path differs from
    one by a trailing slash (``POST /rank/`` -> ``POST /rank``), else where routes are listed."""
    method, path = request.method, request.scope["path"]
    stripped = path.rstrip("/")
    if stripped and stripped != path:
        scope = {**request.scope, "path": stripped}
        for route in request.app.router.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return (f"no route {method} {path}; did you mean {method} {stripped} (without "
                        "the trailing slash)? This server does not redirect")
            if match is Match.PARTIAL and getattr(route, "methods", None):
                methods = "/".join(sorted(set(route.methods) - {"HEAD"}))
                return f"no route {method} {path}; did you mean {methods} {stripped}?"
    return f"no route {method} {path}: the routes are listed at /docs (and /openapi.json)"


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers of the module docstring on ``app``."""
    import redis.exceptions as rx

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        where = _redis_address(request)
        return _safe_json(503, {"detail": unavailable_detail(exc, where), "cause": CAUSE,
                                "redis": where}, headers={"Retry-After": "1"})

    async def validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _safe_json(422, {"detail": _error_list(exc)})

    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        cause = exc.__cause__
        if exc.status_code == 400 and isinstance(cause, UnicodeDecodeError):
            bad = cause.object[cause.start:cause.start + 1].hex()
            return _safe_json(400, {"detail": [{
                "type": "body_not_utf8", "loc": ["body", cause.start],
                "msg": (f"the request body is not UTF-8 (byte 0x{bad} at offset {cause.start} "
                        f"cannot be decoded as {cause.encoding}); send the JSON body encoded "
                        "as UTF-8 with content-type: application/json")}]})
        if exc.status_code == 400 and isinstance(cause, RecursionError):
            return _safe_json(400, {"detail": [{
                "type": "body_too_deep", "loc": ["body"],
                "msg": "the request body nests JSON arrays or objects deeper than the parser "
                       f"allows ({cause}); this API's bodies nest a few levels at most (an "
                       "object holding a list of ids or of entity rows): send the shape /docs "
                       "shows"}]})
        if exc.status_code == 404 and exc.detail == "Not Found":
            return _safe_json(404, {"detail": no_route_detail(request)})
        if exc.status_code == 400 and isinstance(cause, ValueError):
            return _safe_json(400, {"detail": [{
                "type": "body_invalid", "loc": ["body"],
                "msg": f"the request body could not be read as JSON ({cause}); send a JSON "
                       "object encoded as UTF-8"}]})
        return _safe_json(exc.status_code, {"detail": exc.detail},
                          headers=getattr(exc, "headers", None))

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        if store_failure(exc):
            return await unavailable(request, exc)
        error_id = uuid.uuid4().hex
        log.exception("internal error %s on %s %s", error_id, request.method, request.url.path,
                      exc_info=exc)
        return _safe_json(500, {"detail": f"internal error ({exc.__class__.__name__}); it is "
                                          f"logged under error_id {error_id}: report it",
                                "error_id": error_id})

    app.add_exception_handler(rx.RedisError, unavailable)
    for cls in (ConnectionError, TimeoutError, ssl.SSLError):
        app.add_exception_handler(cls, unavailable)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal)
