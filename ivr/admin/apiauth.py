"""`IVR_API_AUTH`: API keys on the service's own routes (`/v1/recognize`, `/v1/stream`,
`/v1/dialogs*`, `/v1/flows`, `GET /calls/{call_id}`).

With `off` (the default: the single-process quick start, `ivr call`) these gates pass everyone.
With `required` they use the admin API's keys and checks (`ivr.admin.auth`): 401 without a valid
`Authorization: Bearer ivrk_...`, 403 (audited) when a tenant key names another tenant. The
per-key admin rate limit does not apply here (call volume is bounded by `IVR_MAX_CALLS` and
`IVR_MAX_STREAMS`); failed keys count against the per-address budget as on the admin API.
"""

from __future__ import annotations

from aiohttp import web

from ivr.admin.auth import Principal, authenticate, check_scope
from ivr.settings import SETTINGS


def required(request: web.Request) -> bool:
    return request.app[SETTINGS].api_auth == "required"


async def api_key(request: web.Request) -> Principal | None:
    """The caller's key (401 without a valid one), or None with `IVR_API_AUTH=off`."""
    if not required(request):
        return None
    return await authenticate(request, rate_limited=False)


async def api_scope(request: web.Request, principal: Principal | None, tenant: str | None) -> None:
    """403 unless `principal` may act on `tenant` (None: admin keys only); no-op without auth."""
    if principal is not None:
        await check_scope(request, principal, tenant)


async def api_authorize(request: web.Request, tenant: str | None) -> None:
    """`api_key` then `api_scope`: 401/403 under `IVR_API_AUTH=required`, else nothing."""
    await api_scope(request, await api_key(request), tenant)
