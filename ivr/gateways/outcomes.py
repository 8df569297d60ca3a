"""`GET /calls/{call_id}`: how a call ended and the states it went through.

Written by the call session when a call ends (kept `IVR_RETENTION_DAYS`), with no caller words
in it. With `IVR_LOG_TRANSCRIPTS=true` (debugging) the answer adds what was heard at each turn,
read from the dialog service's sealed history (sensitive slots masked unless
`IVR_REDACT_SENSITIVE=false`); nothing of it is stored in plain text. With
`IVR_API_AUTH=required` it needs an API key that may act on the call's tenant.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ivr.admin.apiauth import api_key, api_scope
from ivr.calls import call_record
from ivr.flows import DIALOGS
from ivr.settings import SETTINGS
from ivr.store import STORE

routes = web.RouteTableDef()


async def _add_heard(app: web.Application, call_id: str, record: dict[str, Any]) -> None:
    dialogs = app.get(DIALOGS)
    sealed = await dialogs.record(call_id) if dialogs is not None else None
    history = sealed.get("history", []) if sealed else []
    said = iter(
        entry.get("text") if entry.get("event") == "speech" else entry.get("digits")
        for entry in history
        if entry.get("event") in ("speech", "digits")
    )
    for turn in record.get("turns", []):
        if turn.get("input") in ("Speech", "Digits"):
            turn["heard"] = next(said, None)


@routes.get("/calls/{call_id}")
async def record(request: web.Request) -> web.Response:
    call_id = request.match_info["call_id"]
    principal = await api_key(request)
    if len(call_id) > 128:
        raise web.HTTPBadRequest(reason="a call id is at most 128 characters")
    found = await call_record(request.app[STORE].redis, call_id)
    if found is None:
        raise web.HTTPNotFound(reason=f"no ended call {call_id!r} (still running, or expired)")
    await api_scope(request, principal, found.get("tenant"))
    if request.app[SETTINGS].log_transcripts:
        await _add_heard(request.app, call_id, found)
    return web.json_response(found)
