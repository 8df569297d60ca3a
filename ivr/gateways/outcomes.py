"""`GET /calls/{call_id}`: how a call ended and the states it went through.

Written by the call session when a call ends (kept `IVR_RETENTION_DAYS`). It holds no caller
words unless `IVR_LOG_TRANSCRIPTS` is on (debugging), so gateways, dialplans and the simulator
can read it; the dialog's full, sealed history stays with the dialog service.
"""

from __future__ import annotations

from aiohttp import web

from ivr.calls import call_record
from ivr.store import STORE

routes = web.RouteTableDef()


@routes.get("/calls/{call_id}")
async def record(request: web.Request) -> web.Response:
    call_id = request.match_info["call_id"]
    if len(call_id) > 128:
        raise web.HTTPBadRequest(reason="a call id is at most 128 characters")
    found = await call_record(request.app[STORE].redis, call_id)
    if found is None:
        raise web.HTTPNotFound(reason=f"no ended call {call_id!r} (still running, or expired)")
    return web.json_response(found)
