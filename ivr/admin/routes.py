"""The admin REST API under `/admin/v1`: tenants, their hot words, keys and the audit log.

Every handler starts with `authorize` (401/429/403), validates with pydantic (422 naming the
field), and writes one audit entry: the change with before/after counts, or the read.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from aiohttp import web

from hotwords.errors import UnknownTenant
from hotwords.store import PhraseSpec, StoredHotword, WriteResult
from hotwords.store import Tenant as StoredTenant
from ivr.admin import schemas
from ivr.admin.auth import Principal, authorize
from ivr.admin.bodies import parse_csv, query_choice, query_int, read_json, validate
from ivr.admin.errors import InvalidBody, KeyConflict
from ivr.admin.keys import ApiKey
from ivr.admin.state import ADMIN, AdminState

BASE = "/admin/v1"
TENANT_RE = re.compile(schemas.TENANT_PATTERN)
MAX_AUDIT_PAGE = 500
routes = web.RouteTableDef()


def specs(items: list[schemas.HotwordIn]) -> list[PhraseSpec]:
    return [PhraseSpec(i.phrase, i.boost, tuple(i.tags)) for i in items]


async def tenant_scope(request: web.Request) -> tuple[AdminState, Principal, str]:
    """The caller may act on the path's tenant (403 otherwise); unknown ids are 404 later."""
    tenant = request.match_info["tenant"]
    principal = await authorize(request, tenant)
    if not TENANT_RE.fullmatch(tenant):
        raise UnknownTenant(tenant)
    return request.app[ADMIN], principal, tenant


# --- answers ---
def hotword_json(h: StoredHotword) -> dict[str, Any]:
    return h.to_json()


def tenant_json(t: StoredTenant) -> dict[str, Any]:
    return schemas.Tenant(
        id=t.id,
        created_at=t.created_at,
        retention_days=t.retention_days,
        version=t.version,
        hotwords=t.hotwords,
    ).model_dump()


def key_json(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "kind": key.kind,
        "tenant": key.tenant,
        "name": key.name,
        "created_at": key.created_at,
    }


def summary(tenant: str, result: WriteResult) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "version": result.version,
        "before": result.before,
        "after": result.after,
    }


async def record(
    admin: AdminState, who: Principal, action: str, tenant: str | None, **details: Any
) -> None:
    await admin.audit.append(who.key_id, action, tenant, details)


async def record_change(
    admin: AdminState, who: Principal, action: str, tenant: str, result: WriteResult, **more: Any
) -> None:
    await record(
        admin, who, action, tenant,
        version=result.version, before=result.before, after=result.after, **more,
    )  # fmt: skip


# --- tenants ---
@routes.post(f"{BASE}/tenants")
async def create_tenant(request: web.Request) -> web.Response:
    who = await authorize(request, None)
    admin = request.app[ADMIN]
    body = validate(schemas.TenantIn, await read_json(request))
    result = await admin.store.create_tenant(body.id, body.retention_days)
    await record_change(
        admin, who, "tenant.create", body.id, result, retention_days=body.retention_days
    )
    return web.json_response(tenant_json(await admin.store.tenant(body.id)), status=201)


@routes.get(f"{BASE}/tenants")
async def list_tenants(request: web.Request) -> web.Response:
    who = await authorize(request, None)
    admin = request.app[ADMIN]
    tenants = await admin.store.tenants()
    await record(admin, who, "tenant.list", None, count=len(tenants))
    return web.json_response({"tenants": [tenant_json(t) for t in tenants]})


@routes.get(f"{BASE}/tenants/{{tenant}}")
async def get_tenant(request: web.Request) -> web.Response:
    admin, who, tenant = await tenant_scope(request)
    found = await admin.store.tenant(tenant)
    await record(admin, who, "tenant.read", tenant)
    return web.json_response(tenant_json(found))


@routes.patch(f"{BASE}/tenants/{{tenant}}")
async def update_tenant(request: web.Request) -> web.Response:
    tenant = request.match_info["tenant"]
    who = await authorize(request, None)  # retention is a policy: admin keys only
    if not TENANT_RE.fullmatch(tenant):
        raise UnknownTenant(tenant)
    admin = request.app[ADMIN]
    body = validate(schemas.TenantUpdate, await read_json(request))
    before = await admin.store.tenant(tenant)
    after = await admin.store.set_retention(tenant, body.retention_days)
    await record(
        admin, who, "tenant.update", tenant,
        retention_days_before=before.retention_days, retention_days=after.retention_days,
    )  # fmt: skip
    return web.json_response(tenant_json(after))


@routes.delete(f"{BASE}/tenants/{{tenant}}")
async def delete_tenant(request: web.Request) -> web.Response:
    tenant = request.match_info["tenant"]
    who = await authorize(request, None)
    if not TENANT_RE.fullmatch(tenant):
        raise UnknownTenant(tenant)
    admin = request.app[ADMIN]
    result = await admin.store.delete_tenant(tenant)
    revoked = await admin.keys.revoke_tenant(tenant)
    await record_change(admin, who, "tenant.delete", tenant, result, revoked_keys=revoked)
    return web.json_response(
        {
            "tenant": tenant,
            "version": result.version,
            "deleted_hotwords": result.before,
            "revoked_keys": revoked,
        }
    )


# --- hot words ---
@routes.get(f"{BASE}/tenants/{{tenant}}/hotwords")
async def list_hotwords(request: web.Request) -> web.Response:
    admin, who, tenant = await tenant_scope(request)
    snap = await admin.store.existing(tenant)
    await record(admin, who, "hotwords.list", tenant, version=snap.version)
    return web.json_response(
        {
            "tenant": tenant,
            "version": snap.version,
            "hotwords": [hotword_json(h) for h in snap.hotwords],
        }
    )


@routes.post(f"{BASE}/tenants/{{tenant}}/hotwords")
async def upsert_hotword(request: web.Request) -> web.Response:
    admin, who, tenant = await tenant_scope(request)
    body = validate(schemas.HotwordIn, await read_json(request), admin.rules)
    result = await admin.store.merge(tenant, specs([body]))
    assert result.hotword is not None
    action = "hotword.create" if result.created else "hotword.update"
    await record_change(
        admin, who, action, tenant, result, id=result.hotword.id, phrase=result.hotword.phrase
    )
    return web.json_response(
        {
            "tenant": tenant,
            "version": result.version,
            "created": result.created,
            "hotword": hotword_json(result.hotword),
        },
        status=201 if result.created else 200,
    )


@routes.put(f"{BASE}/tenants/{{tenant}}/hotwords")
async def replace_hotwords(request: web.Request) -> web.Response:
    admin, who, tenant = await tenant_scope(request)
    body = validate(schemas.HotwordsIn, await read_json(request), admin.rules)
    result = await admin.store.replace(tenant, specs(body.hotwords))
    await record_change(admin, who, "hotwords.replace", tenant, result)
    return web.json_response(summary(tenant, result))


@routes.delete(f"{BASE}/tenants/{{tenant}}/hotwords")
async def delete_all_hotwords(request: web.Request) -> web.Response:
    admin, who, tenant = await tenant_scope(request)
    result = await admin.store.delete_all(tenant)
    await record_change(admin, who, "hotwords.delete_all", tenant, result)
    return web.json_response(summary(tenant, result))


@routes.post(f"{BASE}/tenants/{{tenant}}/hotwords/import")
async def import_hotwords(request: web.Request) -> web.Response:
    admin, who, tenant = await tenant_scope(request)
    mode = query_choice(request, "mode", ("merge", "replace"))
    if request.content_type in ("text/csv", "application/csv"):
        try:
            text = (await request.read()).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidBody("the CSV is not valid UTF-8", field="body") from None
        body = parse_csv(text, admin.rules)
    else:
        data = await read_json(request)
        # A bare list, or an export as it is (its tenant and version are ignored).
        body = validate(
            schemas.HotwordImport, {"hotwords": data} if isinstance(data, list) else data,
            admin.rules,
        )  # fmt: skip
    items = specs(body.hotwords)
    await admin.store.existing(tenant)
    if mode == "replace":
        result = await admin.store.replace(tenant, items)
    else:
        result = await admin.store.merge(tenant, items)
    await record_change(admin, who, "hotwords.import", tenant, result, mode=mode)
    return web.json_response(summary(tenant, result))


@routes.get(f"{BASE}/tenants/{{tenant}}/hotwords/export")
async def export_hotwords(request: web.Request) -> web.Response:
    admin, who, tenant = await tenant_scope(request)
    fmt = query_choice(request, "format", ("json", "csv"))
    snap = await admin.store.existing(tenant)
    await record(
        admin, who, "hotwords.export", tenant,
        version=snap.version, count=len(snap.hotwords), format=fmt,
    )  # fmt: skip
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["phrase", "boost", "tags"])
        for h in snap.hotwords:
            writer.writerow([h.phrase, f"{h.boost:g}", ";".join(h.tags)])
        return web.Response(text=out.getvalue(), content_type="text/csv")
    items = [{"phrase": h.phrase, "boost": h.boost, "tags": list(h.tags)} for h in snap.hotwords]
    return web.json_response({"tenant": tenant, "version": snap.version, "hotwords": items})


@routes.get(f"{BASE}/tenants/{{tenant}}/hotwords/active")
async def active_hotwords(request: web.Request) -> web.Response:
    """What this replica's cache hands the recognizer now (to check propagation)."""
    admin, who, tenant = await tenant_scope(request)
    await admin.store.tenant(tenant)
    active = await admin.cache.get(tenant)
    await record(admin, who, "hotwords.active", tenant, version=active.version)
    phrases = [{"phrase": h.phrase, "boost": h.boost} for h in active.phrases]
    return web.json_response({"tenant": tenant, "version": active.version, "phrases": phrases})


@routes.get(f"{BASE}/tenants/{{tenant}}/hotwords/{{id}}")
async def get_hotword(request: web.Request) -> web.Response:
    admin, who, tenant = await tenant_scope(request)
    found = await admin.store.get(tenant, request.match_info["id"])
    await record(admin, who, "hotword.read", tenant, id=found.id)
    return web.json_response(hotword_json(found))


@routes.delete(f"{BASE}/tenants/{{tenant}}/hotwords/{{id}}")
async def delete_hotword(request: web.Request) -> web.Response:
    admin, who, tenant = await tenant_scope(request)
    result = await admin.store.delete(tenant, request.match_info["id"])
    gone = result.hotword
    assert gone is not None
    await record_change(
        admin, who, "hotword.delete", tenant, result, id=gone.id, phrase=gone.phrase
    )
    return web.json_response(summary(tenant, result))


# --- audit ---
async def audit_page(request: web.Request, tenant: str | None) -> web.Response:
    offset = query_int(request, "offset", 0, 0, 10**9)
    limit = query_int(request, "limit", 50, 1, MAX_AUDIT_PAGE)
    page = await request.app[ADMIN].audit.page(tenant, offset, limit)
    end = offset + len(page.entries)
    return web.json_response(
        {
            "tenant": tenant,
            "total": page.total,
            "offset": offset,
            "limit": limit,
            "next_offset": end if end < page.total else None,
            "entries": [e.to_json() for e in page.entries],
        }
    )


@routes.get(f"{BASE}/tenants/{{tenant}}/audit")
async def read_audit(request: web.Request) -> web.Response:
    _, _, tenant = await tenant_scope(request)
    return await audit_page(request, tenant)


@routes.get(f"{BASE}/audit")
async def read_global_audit(request: web.Request) -> web.Response:
    """Entries about no tenant: admin keys, tenant listings (admin keys only)."""
    await authorize(request, None)
    return await audit_page(request, None)


# --- keys ---
@routes.post(f"{BASE}/keys")
async def create_key(request: web.Request) -> web.Response:
    who = await authorize(request, None)
    admin = request.app[ADMIN]
    body = validate(schemas.KeyIn, await read_json(request))
    if body.kind == "tenant" and body.tenant is None:
        raise InvalidBody("a tenant key needs 'tenant'", field="tenant")
    if body.kind == "admin" and body.tenant is not None:
        raise InvalidBody("an admin key acts on every tenant: leave 'tenant' out", field="tenant")
    if body.tenant is not None:
        await admin.store.tenant(body.tenant)
    new = await admin.keys.create(body.kind, body.tenant, body.name)
    await record(admin, who, "key.create", body.tenant, key=new.key.id, kind=body.kind)
    return web.json_response({**key_json(new.key), "secret": new.secret}, status=201)


@routes.get(f"{BASE}/keys")
async def list_keys(request: web.Request) -> web.Response:
    who = await authorize(request, None)
    admin = request.app[ADMIN]
    keys = await admin.keys.all()
    await record(admin, who, "key.list", None, count=len(keys))
    return web.json_response({"keys": [key_json(k) for k in keys]})


@routes.delete(f"{BASE}/keys/{{key_id}}")
async def revoke_key(request: web.Request) -> web.Response:
    who = await authorize(request, None)
    admin = request.app[ADMIN]
    if request.match_info["key_id"] == who.key_id:
        raise KeyConflict(
            "a key cannot revoke itself (that would lock you out): use another admin key "
            "or `ivr keys revoke`"
        )
    key = await admin.keys.revoke(request.match_info["key_id"])
    await record(admin, who, "key.revoke", key.tenant, key=key.id, kind=key.kind)
    return web.json_response(key_json(key))
