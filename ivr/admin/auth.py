"""Who is calling the admin API, whether they may, and whether they are calling too often.

`authorize(request, tenant)` is the one gate: other areas' admin-side routes (erasing a call's
data, for instance) call it too. Order of checks: a valid key (401), the key's rate (429), then
its scope (403), so a stranger learns nothing about which tenants exist.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from aiohttp import web

from ivr.admin.errors import Forbidden, json_http_error
from ivr.admin.keys import ApiKey, KeyKind
from ivr.admin.state import ADMIN
from ivr.settings import SETTINGS

WINDOW_S = 60


@dataclass(frozen=True)
class Principal:
    """The caller behind a valid key."""

    key_id: str
    kind: KeyKind
    tenant: str | None

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"

    def may_act_on(self, tenant: str) -> bool:
        return self.is_admin or self.tenant == tenant


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _count(request: web.Request, subject: str) -> tuple[int, int]:
    """Requests of `subject` in this clock minute, and the seconds until the next one."""
    now = time.time()
    window = int(now // WINDOW_S)
    counter = f"ivr:ratelimit:admin:{subject}:{window}"
    async with request.app[ADMIN].keys.redis.pipeline(transaction=True) as pipe:
        pipe.incr(counter)
        pipe.expire(counter, WINDOW_S * 2)
        count, _ = await pipe.execute()
    return int(count), max(1, math.ceil((window + 1) * WINDOW_S - now))


def _too_many(message: str, retry_after: int) -> web.HTTPException:
    return json_http_error(
        web.HTTPTooManyRequests,
        f"{message} (IVR_ADMIN_RATE_PER_MINUTE); retry after {retry_after} s",
        headers={"Retry-After": str(retry_after)},
    )


async def check_rate(request: web.Request, key: ApiKey) -> None:
    """A fixed one-minute window per key, counted in Redis so it holds across replicas."""
    limit = request.app[SETTINGS].admin_rate_per_minute
    count, retry_after = await _count(request, key.id)
    if count > limit:
        raise _too_many(f"API key {key.id} made more than {limit} admin requests this minute",
                        retry_after)  # fmt: skip


async def _refuse(request: web.Request) -> web.HTTPException:
    """401, or 429 for an address that keeps guessing (same budget as a key)."""
    limit = request.app[SETTINGS].admin_rate_per_minute
    count, retry_after = await _count(request, f"failed:{request.remote or 'unknown'}")
    if count > limit:
        return _too_many(f"more than {limit} failed admin logins this minute from this address",
                         retry_after)  # fmt: skip
    return json_http_error(
        web.HTTPUnauthorized,
        "a valid API key is required: send 'Authorization: Bearer ivrk_...' "
        "(make the first one with `ivr keys create --admin`)",
        headers={"WWW-Authenticate": 'Bearer realm="ivr-admin"'},
    )


async def authenticate(request: web.Request, *, rate_limited: bool = True) -> Principal:
    """The caller's key (401 without a valid one) within its rate (429).

    `rate_limited=False` (the `/v1` routes under `IVR_API_AUTH=required`) skips the per-key
    admin budget; failed keys still count against the per-address one."""
    token = _bearer(request)
    key = await request.app[ADMIN].keys.check(token) if token else None
    if key is None:
        raise await _refuse(request)
    if rate_limited:
        await check_rate(request, key)
    return Principal(key_id=key.id, kind=key.kind, tenant=key.tenant)


async def check_scope(request: web.Request, principal: Principal, tenant: str | None) -> Principal:
    """`principal` if it may act on `tenant` (None: admin keys only); else an audited 403."""
    allowed = principal.may_act_on(tenant) if tenant is not None else principal.is_admin
    if allowed:
        return principal
    await request.app[ADMIN].audit.append(
        principal.key_id,
        "access.denied",
        principal.tenant,
        {"method": request.method, "path": request.path, "wanted_tenant": tenant},
    )
    if tenant is None:
        raise Forbidden("this route needs an admin key; tenant keys act on their own tenant")
    raise Forbidden(
        f"this key belongs to tenant {principal.tenant!r} and may not act on another tenant"
    )


async def authorize(
    request: web.Request, tenant: str | None, *, rate_limited: bool = True
) -> Principal:
    """The caller, if allowed to act on `tenant` (None: an admin-only route); else 401/403.

    A refusal of a valid key is written to the audit log."""
    principal = await authenticate(request, rate_limited=rate_limited)
    return await check_scope(request, principal, tenant)
