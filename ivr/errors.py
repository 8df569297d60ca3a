"""One place that turns every failure into a JSON answer: no HTML error page, no traceback.

Exceptions of our packages carry an `http_status` class attribute (`HotwordError`, `FlowError`,
`RecognizerError`, ...); anything else is a 500 with the request id to find it in the logs.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ivr.logs import REQUEST_ID
from ivr.settings import SETTINGS

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REQUEST_ID_HEADER = "X-Request-Id"
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def json_error(status: int, message: str, **fields: Any) -> web.Response:
    body = {"error": message, "status": status, **fields}
    request_id = REQUEST_ID.get()
    if request_id:
        body["request_id"] = request_id
    return web.json_response(body, status=status)


@web.middleware
async def request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Take the caller's request id (or make one), log with it, and echo it back."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    valid = 0 < len(incoming) <= 64 and incoming.isprintable()
    request_id = incoming if valid else uuid.uuid4().hex
    token = REQUEST_ID.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    finally:
        level = logging.DEBUG if request.path in QUIET_PATHS else logging.INFO
        log.log(
            level,
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        REQUEST_ID.reset(token)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    limit = request.app[SETTINGS].max_body_bytes
    try:
        if request.content_length is not None and request.content_length > limit:
            # Refuse before reading a byte; chunked bodies are cut by aiohttp at the same limit.
            raise web.HTTPRequestEntityTooLarge(limit, request.content_length)
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.content_type == "application/json":
            raise
        message = (
            exc.reason
            if exc.status != 413
            else (f"request body too large: the limit is {limit} bytes (IVR_MAX_BODY_BYTES)")
        )
        response = json_error(exc.status, message)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in exc.headers:
                response.headers[header] = exc.headers[header]
        return response
    except Exception as exc:  # the one place where any failure becomes an answer
        status = getattr(type(exc), "http_status", None)
        if isinstance(status, int):
            extra = getattr(exc, "details", None)
            fields = extra if isinstance(extra, dict) else {}
            return json_error(status, str(exc), **fields)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal error; quote the request id when reporting it")
