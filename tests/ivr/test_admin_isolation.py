"""Tenant isolation: a tenant key acts on its own tenant only, on every route; an admin key on
all of them; admin-only routes refuse tenant keys."""

from __future__ import annotations

from typing import Any

import pytest

from tests.hotwords.support import BASE, add_phrase, bearer, make_tenant

HOTWORD = {"phrase": "secret product", "boost": 5}
# (method, path under the tenant, JSON body or None, content type or None)
TENANT_ROUTES: list[tuple[str, str, Any, str | None]] = [
    ("GET", "", None, None),
    ("GET", "/hotwords", None, None),
    ("POST", "/hotwords", HOTWORD, None),
    ("PUT", "/hotwords", {"hotwords": [HOTWORD]}, None),
    ("DELETE", "/hotwords", None, None),
    ("POST", "/hotwords/import", [HOTWORD], None),
    ("POST", "/hotwords/import", "phrase\nsecret product\n", "text/csv"),
    ("GET", "/hotwords/export", None, None),
    ("GET", "/hotwords/export?format=csv", None, None),
    ("GET", "/hotwords/active", None, None),
    ("GET", "/hotwords/{id}", None, None),
    ("DELETE", "/hotwords/{id}", None, None),
    ("GET", "/audit", None, None),
]
ADMIN_ONLY: list[tuple[str, str, Any]] = [
    ("GET", f"{BASE}/tenants", None),
    ("POST", f"{BASE}/tenants", {"id": "newco"}),
    ("PATCH", f"{BASE}/tenants/{{tenant}}", {"retention_days": 7}),
    ("DELETE", f"{BASE}/tenants/{{tenant}}", None),
    ("GET", f"{BASE}/keys", None),
    ("GET", f"{BASE}/audit", None),
    ("POST", f"{BASE}/keys", {"kind": "admin"}),
    ("DELETE", f"{BASE}/keys/{{key}}", None),
]


async def setup_two_tenants(client: Any) -> dict[str, Any]:
    admin = await bearer(client)
    ids = {}
    for tenant in ("acme", "globex"):
        await make_tenant(client, admin, tenant)
        ids[tenant] = (await add_phrase(client, admin, tenant, f"{tenant} only"))["hotword"]["id"]
    return {
        "admin": admin,
        "acme": await bearer(client, "tenant", "acme"),
        "globex": await bearer(client, "tenant", "globex"),
        "ids": ids,
    }


async def call(
    client: Any, headers: dict[str, str], route: tuple[str, str, Any, str | None], tenant: str,
    hotword_id: str,
) -> Any:  # fmt: skip
    method, suffix, body, content_type = route
    path = f"{BASE}/tenants/{tenant}{suffix.replace('{id}', hotword_id)}"
    if content_type is not None:
        return await client.request(
            method, path, data=body, headers={**headers, "Content-Type": content_type}
        )
    return await client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("route", TENANT_ROUTES, ids=lambda r: f"{r[0]} {r[1]} {r[3] or ''}")
async def test_a_tenant_key_is_refused_on_another_tenant_and_changes_nothing(
    client: Any, route: tuple[str, str, Any, str | None]
) -> None:
    keys = await setup_two_tenants(client)
    before = await (await client.get(f"{BASE}/tenants/globex/hotwords/export",
                                     headers=keys["admin"])).json()  # fmt: skip
    response = await call(client, keys["acme"], route, "globex", keys["ids"]["globex"])
    assert response.status == 403
    assert "another tenant" in (await response.json())["error"]
    after = await (await client.get(f"{BASE}/tenants/globex/hotwords/export",
                                    headers=keys["admin"])).json()  # fmt: skip
    assert after == before


@pytest.mark.parametrize("route", TENANT_ROUTES, ids=lambda r: f"{r[0]} {r[1]} {r[3] or ''}")
async def test_a_tenant_key_and_an_admin_key_work_on_the_tenant(
    client: Any, route: tuple[str, str, Any, str | None]
) -> None:
    keys = await setup_two_tenants(client)
    response = await call(client, keys["acme"], route, "acme", keys["ids"]["acme"])
    assert response.status in (200, 201), await response.text()
    if route[0] == "GET":
        assert "globex" not in await response.text()
    again = await call(client, keys["admin"], route, "globex", keys["ids"]["globex"])
    assert again.status in (200, 201, 404)  # 404: the hot word deleted just before


async def test_reading_another_tenants_hotwords_never_leaks_them(client: Any) -> None:
    keys = await setup_two_tenants(client)
    own = await (await client.get(f"{BASE}/tenants/acme/hotwords", headers=keys["acme"])).json()
    assert [h["phrase"] for h in own["hotwords"]] == ["acme only"]
    response = await client.get(
        f"{BASE}/tenants/globex/hotwords/{keys['ids']['globex']}", headers=keys["acme"]
    )
    assert response.status == 403 and "globex only" not in await response.text()


async def test_a_tenant_key_is_refused_on_an_unknown_tenant_with_403_not_404(
    client: Any,
) -> None:
    keys = await setup_two_tenants(client)
    response = await client.get(f"{BASE}/tenants/initech/hotwords", headers=keys["acme"])
    assert response.status == 403  # a tenant key learns nothing about which tenants exist


@pytest.mark.parametrize("route", ADMIN_ONLY, ids=lambda r: f"{r[0]} {r[1]}")
async def test_admin_only_routes_refuse_tenant_keys(
    client: Any, route: tuple[str, str, Any]
) -> None:
    keys = await setup_two_tenants(client)
    method, path, body = route
    listed = await (await client.get(f"{BASE}/keys", headers=keys["admin"])).json()
    some_key = next(k["id"] for k in listed["keys"] if k["tenant"] == "globex")
    path = path.replace("{tenant}", "acme").replace("{key}", some_key)
    response = await client.request(method, path, json=body, headers=keys["acme"])
    assert response.status == 403
    assert "admin key" in (await response.json())["error"]
    # The same request with the admin key is accepted.
    response = await client.request(method, path, json=body, headers=keys["admin"])
    assert response.status in (200, 201)


async def test_refusals_are_audited_against_the_key(client: Any) -> None:
    keys = await setup_two_tenants(client)
    await client.get(f"{BASE}/tenants/globex/hotwords", headers=keys["acme"])
    page = await (await client.get(f"{BASE}/tenants/acme/audit", headers=keys["acme"])).json()
    denied = [e for e in page["entries"] if e["action"] == "access.denied"]
    assert denied and denied[0]["details"]["wanted_tenant"] == "globex"
