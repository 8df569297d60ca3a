"""Helpers for the admin API tests (plain functions, so tests in any folder can use them)."""

from __future__ import annotations

from typing import Any

from ivr.admin.state import ADMIN

BASE = "/admin/v1"


async def bearer(client: Any, kind: str = "admin", tenant: str | None = None) -> dict[str, str]:
    """Authorization headers for a fresh key made the way `ivr keys create` makes it."""
    new = await client.server.app[ADMIN].keys.create(kind, tenant, "test")
    return {"Authorization": f"Bearer {new.secret}"}


async def make_tenant(client: Any, headers: dict[str, str], tenant: str, **extra: Any) -> None:
    response = await client.post(f"{BASE}/tenants", json={"id": tenant, **extra}, headers=headers)
    assert response.status == 201, await response.text()


async def add_phrase(
    client: Any, headers: dict[str, str], tenant: str, phrase: str, boost: float = 10.0
) -> dict[str, Any]:
    response = await client.post(
        f"{BASE}/tenants/{tenant}/hotwords", json={"phrase": phrase, "boost": boost},
        headers=headers,
    )  # fmt: skip
    assert response.status in (200, 201), await response.text()
    body: dict[str, Any] = await response.json()
    return body
