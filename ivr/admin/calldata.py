"""Callers' data through the admin API: read one call's outcome and turn history, erase it.

Both routes go through `authorize` (401/429/403) like every admin route, and both are audited:
a read is a data access (`call.read`), an erasure a change (`call.erase`, written by
`DialogService.erase`). A call is found only under its own tenant's path: another tenant's
call, an unknown call and a call whose data no configured key opens all answer the same 404,
so a key never learns that some other tenant's call exists.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from aiohttp import web

from dialogs.errors import SealingError
from ivr.admin.auth import Principal, authorize
from ivr.admin.errors import AdminError
from ivr.admin.routes import BASE
from ivr.admin.state import ADMIN
from ivr.flows import DIALOGS

CALL_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")  # as `POST /v1/dialogs` accepts them
routes = web.RouteTableDef()


class UnknownCall(AdminError):
    http_status = 404

    def __init__(self, tenant: str, call_id: str) -> None:
        super().__init__(
            f"tenant {tenant!r} has no stored data for call {call_id!r}: never started, "
            "erased, past its retention, or another tenant's"
        )


async def call_scope(request: web.Request) -> tuple[Principal, str, str]:
    tenant = request.match_info["tenant"]
    who = await authorize(request, tenant)
    return who, tenant, request.match_info["call_id"]


def owner(data: dict[str, Any]) -> str | None:
    part = data.get("outcome") or data.get("live") or {}
    tenant = part.get("tenant")
    return str(tenant) if tenant is not None else None


def answer(call_id: str, data: dict[str, Any], redacted: bool) -> dict[str, Any]:
    outcome = data.get("outcome")
    live = data.get("live")
    about = outcome if outcome is not None else live
    assert about is not None
    return {
        "call_id": call_id,
        "tenant": about["tenant"],
        "flow": about["flow"],
        "finished": outcome is not None,
        "redacted": redacted,
        "outcome": None
        if outcome is None
        else {
            "disposition": outcome["disposition"],
            "transfer_target": outcome.get("transfer_target"),
            "final_state": outcome.get("final_state"),
            "turns": outcome.get("turns", 0),
        },
        "state": None if live is None else live["state"],
        "slots": about["slots"],
        "history": data.get("history", []),
    }


@routes.get(f"{BASE}/tenants/{{tenant}}/calls/{{call_id}}")
async def read_call(request: web.Request) -> web.Response:
    who, tenant, call_id = await call_scope(request)
    service = request.app[DIALOGS]
    data = None
    if CALL_ID_RE.fullmatch(call_id):
        with contextlib.suppress(SealingError):  # no configured key opens it: same 404
            data = await service.call_data(call_id)
    found = data is not None and owner(data) == tenant
    redacted = service.settings.redact_sensitive
    await request.app[ADMIN].audit.append(
        who.key_id, "call.read", tenant,
        {"call_id": call_id, "found": found, "redacted": redacted},
    )  # fmt: skip
    if data is None or not found:
        raise UnknownCall(tenant, call_id)
    return web.json_response(answer(call_id, data, redacted))


@routes.delete(f"{BASE}/tenants/{{tenant}}/calls/{{call_id}}")
async def erase_call(request: web.Request) -> web.Response:
    who, tenant, call_id = await call_scope(request)
    service = request.app[DIALOGS]
    found = CALL_ID_RE.fullmatch(call_id) is not None
    if found:
        found = await service.store.tenant_of(call_id) == tenant
    if not found:
        await request.app[ADMIN].audit.append(
            who.key_id, "call.erase", tenant, {"call_id": call_id, "found": False}
        )
        raise UnknownCall(tenant, call_id)
    # The erasure itself writes the `call.erase` entry (who, which call, when).
    if not await service.erase(call_id, actor=who.key_id):
        raise UnknownCall(tenant, call_id)  # expired or erased between the two steps
    return web.Response(status=204)
