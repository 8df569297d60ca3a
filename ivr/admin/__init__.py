"""The admin area: tenants, hot words, API keys, callers' data (read, erase) and the audit log,
under `/admin/v1`.

Public hooks for other areas: `await app[HOTWORDS].get(tenant)` at each call or stream start gives
the tenant's hot words, fresh across replicas; `app[AUDIT]` appends to the audit log; and
`ivr.admin.auth.authorize(request, tenant)` guards admin-side routes (401/403/429).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from hotwords.cache import HotwordCache
from hotwords.normalize import load_alphabet
from hotwords.store import HotwordStore
from ivr.admin.audit import AuditLog
from ivr.admin.keys import KeyStore
from ivr.admin.schemas import PhraseRules
from ivr.admin.state import ADMIN, AdminState
from ivr.metrics import METRICS
from ivr.settings import SETTINGS
from ivr.store import STORE

HOTWORDS = web.AppKey("hotwords", HotwordCache)
AUDIT = web.AppKey("audit", AuditLog)
"""`await app[AUDIT].append(actor, action, tenant, details)`: other areas' audited events."""
OPENAPI_PATH = "/admin/openapi.json"


async def admin_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    redis = app[STORE].redis
    store = HotwordStore(redis, settings.hotwords_max_per_tenant)
    cache = HotwordCache(store, app[METRICS].registry)
    rules = PhraseRules(settings.hotwords_max_phrase_chars, load_alphabet(settings.model_dir))
    app[ADMIN] = AdminState(store, cache, KeyStore(redis), AuditLog(redis), rules)
    app[HOTWORDS] = cache
    app[AUDIT] = app[ADMIN].audit
    cache.start()
    yield
    await cache.stop()


def setup(app: web.Application) -> None:
    """Add this area's cleanup contexts and routes to the app."""
    from ivr.admin.calldata import routes as call_routes
    from ivr.admin.openapi import openapi_handler
    from ivr.admin.routes import routes

    app.cleanup_ctx.append(admin_context)
    app.router.add_routes(routes)
    app.router.add_routes(call_routes)
    app.router.add_get(OPENAPI_PATH, openapi_handler)
