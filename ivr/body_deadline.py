"""Slow-client protection: a request body must arrive within `IVR_BODY_TIMEOUT_S`.

aiohttp's server has no read timeout: once a client has sent its headers, it may trickle the
body a byte a minute and hold a connection, a handler and its buffers for as long as it likes
(its keep-alive timer only covers idle connections). This middleware starts a timer when the
handler is called; if the body is still incomplete when it fires, the waiting read raises
`BodyTimeout`, the client gets a JSON 408 and the connection is closed (the rest of the body
would never be read). A request without a body, or whose body has fully arrived, has no timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from ivr.errors import json_error
from ivr.settings import SETTINGS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BodyTimeout(Exception):
    """The client did not finish sending its request body in time."""

    http_status = 408


@web.middleware
async def body_deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
    content = request.content
    if content.is_eof():
        return await handler(request)
    limit = request.app[SETTINGS].body_timeout_s
    timeout = BodyTimeout(
        f"the request body did not arrive within {limit:g} s (IVR_BODY_TIMEOUT_S); "
        "send it at once, or raise the limit for slow links"
    )
    expired = False

    def expire() -> None:
        nonlocal expired
        if not content.is_eof():
            expired = True
            content.set_exception(timeout)

    timer = asyncio.get_running_loop().call_later(limit, expire)
    try:
        response = await handler(request)
    except Exception:
        if not expired:
            raise
        response = json_error(BodyTimeout.http_status, str(timeout))
    finally:
        timer.cancel()
    if not expired:
        return response
    # Answer, then drop the connection instead of waiting for (or lingering over) the rest.
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()
    return response
