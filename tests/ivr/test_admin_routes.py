"""Every admin route and the status codes the API promises."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.hotwords.support import BASE, add_phrase, bearer, make_tenant


async def test_without_a_key_every_route_is_401_with_www_authenticate(client: Any) -> None:
    for method, path in [
        ("GET", f"{BASE}/tenants"),
        ("POST", f"{BASE}/tenants"),
        ("GET", f"{BASE}/tenants/acme/hotwords"),
        ("GET", f"{BASE}/keys"),
    ]:
        response = await client.request(method, path)
        assert response.status == 401, path
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "ivr keys create --admin" in (await response.json())["error"]


async def test_a_wrong_or_malformed_key_is_401(client: Any) -> None:
    headers = await bearer(client)
    good = headers["Authorization"]
    for token in (good[:-2] + "xx", "Bearer nope", "Basic abc", "Bearer ivrk_x_y", good + " "):
        response = await client.get(f"{BASE}/tenants", headers={"Authorization": token})
        if token == good + " ":
            assert response.status == 200  # surrounding whitespace is not part of the token
        else:
            assert response.status == 401, token


async def test_tenant_create_get_list_delete(client: Any) -> None:
    headers = await bearer(client)
    response = await client.post(
        f"{BASE}/tenants", json={"id": "acme", "retention_days": 14}, headers=headers
    )
    assert response.status == 201
    created = await response.json()
    assert created["id"] == "acme" and created["retention_days"] == 14
    assert created["hotwords"] == 0
    assert (await client.get(f"{BASE}/tenants/acme", headers=headers)).status == 200
    listed = await (await client.get(f"{BASE}/tenants", headers=headers)).json()
    assert [t["id"] for t in listed["tenants"]] == ["acme"]
    response = await client.delete(f"{BASE}/tenants/acme", headers=headers)
    assert response.status == 200
    assert (await client.get(f"{BASE}/tenants/acme", headers=headers)).status == 404


async def test_retention_can_be_changed_and_cleared(client: Any, redis_client: Any) -> None:
    headers = await bearer(client)
    await make_tenant(client, headers, "acme", retention_days=30)
    path = f"{BASE}/tenants/acme"
    response = await client.patch(path, json={"retention_days": 90}, headers=headers)
    assert response.status == 200 and (await response.json())["retention_days"] == 90
    assert await redis_client.hget("ivr:tenant:acme:meta", "retention_days") == b"90"
    response = await client.patch(path, json={"retention_days": None}, headers=headers)
    assert (await response.json())["retention_days"] is None
    response = await client.patch(path, json={"retention_days": 0}, headers=headers)
    assert response.status == 422 and (await response.json())["field"] == "retention_days"
    response = await client.patch(f"{BASE}/tenants/ghost", json={"retention_days": 5},
                                  headers=headers)  # fmt: skip
    assert response.status == 404


async def test_creating_an_existing_tenant_is_409(client: Any) -> None:
    headers = await bearer(client)
    await make_tenant(client, headers, "acme")
    response = await client.post(f"{BASE}/tenants", json={"id": "acme"}, headers=headers)
    assert response.status == 409


async def test_invalid_bodies_are_422_naming_the_field(client: Any) -> None:
    headers = await bearer(client)
    await make_tenant(client, headers, "acme")
    cases = [
        (f"{BASE}/tenants", {"id": "Not Valid!"}, "id"),
        (f"{BASE}/tenants", {"id": "ok", "retention_days": 0}, "retention_days"),
        (f"{BASE}/tenants", {"id": "ok", "colour": "red"}, "colour"),
        (f"{BASE}/tenants/acme/hotwords", {"phrase": "hi", "boost": 21}, "boost"),
        (f"{BASE}/tenants/acme/hotwords", {"phrase": "hi", "tags": ["a b"]}, "tags.0"),
        (f"{BASE}/tenants/acme/hotwords", {"boost": 3}, "phrase"),
        (f"{BASE}/keys", {"kind": "tenant"}, "tenant"),
        (f"{BASE}/keys", {"kind": "admin", "tenant": "acme"}, "tenant"),
        (f"{BASE}/keys", {"kind": "root"}, "kind"),
    ]
    for path, body, field in cases:
        response = await client.post(path, json=body, headers=headers)
        assert response.status == 422, (path, body)
        assert (await response.json())["field"] == field, (path, body)


async def test_a_body_that_is_not_json_is_422(client: Any) -> None:
    headers = await bearer(client)
    response = await client.post(f"{BASE}/tenants", data=b"{not json", headers=headers)
    assert response.status == 422
    assert (await response.json())["field"] == "body"


async def test_a_phrase_the_model_cannot_spell_is_422_naming_the_character(client: Any) -> None:
    headers = await bearer(client)
    await make_tenant(client, headers, "acme")
    response = await client.post(
        f"{BASE}/tenants/acme/hotwords", json={"phrase": "naïve plan"}, headers=headers
    )
    assert response.status == 422
    body = await response.json()
    assert body["field"] == "phrase" and "'ï'" in body["error"]


async def test_hotword_add_update_get_delete(client: Any) -> None:
    headers = await bearer(client)
    await make_tenant(client, headers, "acme")
    path = f"{BASE}/tenants/acme/hotwords"
    response = await client.post(
        path, json={"phrase": "Quorvia Premier", "boost": 12, "tags": ["product"]}, headers=headers
    )
    assert response.status == 201
    written = await response.json()
    assert written["hotword"]["phrase"] == "quorvia premier"
    hotword_id = written["hotword"]["id"]
    response = await client.post(
        path, json={"phrase": "quorvia premier", "boost": 4}, headers=headers
    )
    assert response.status == 200 and (await response.json())["created"] is False
    one = await (await client.get(f"{path}/{hotword_id}", headers=headers)).json()
    assert one["boost"] == 4
    listed = await (await client.get(path, headers=headers)).json()
    assert [h["id"] for h in listed["hotwords"]] == [hotword_id]
    response = await client.delete(f"{path}/{hotword_id}", headers=headers)
    assert response.status == 200 and (await response.json())["after"] == 0
    assert (await client.get(f"{path}/{hotword_id}", headers=headers)).status == 404
    assert (await client.delete(f"{path}/{hotword_id}", headers=headers)).status == 404


async def test_replace_all_and_delete_all(client: Any) -> None:
    headers = await bearer(client)
    await make_tenant(client, headers, "acme")
    await add_phrase(client, headers, "acme", "old one")
    path = f"{BASE}/tenants/acme/hotwords"
    new = {"hotwords": [{"phrase": "alpha", "boost": 1}, {"phrase": "beta", "boost": 2}]}
    response = await client.put(path, json=new, headers=headers)
    assert response.status == 200
    assert (await response.json())[("before")] == 1
    listed = await (await client.get(path, headers=headers)).json()
    assert [h["phrase"] for h in listed["hotwords"]] == ["alpha", "beta"]
    response = await client.delete(path, headers=headers)
    assert (await response.json())["after"] == 0


async def test_duplicate_phrases_in_one_body_are_422(client: Any) -> None:
    headers = await bearer(client)
    await make_tenant(client, headers, "acme")
    body = {"hotwords": [{"phrase": "Hello!"}, {"phrase": "hello"}]}
    response = await client.put(f"{BASE}/tenants/acme/hotwords", json=body, headers=headers)
    assert response.status == 422
    assert (await response.json())["field"] == "hotwords"


async def test_going_over_the_tenant_limit_is_409(start_app: Any, make_settings: Any) -> None:
    client = await start_app(make_settings(hotwords_max_per_tenant=2))
    headers = await bearer(client)
    await make_tenant(client, headers, "acme")
    await add_phrase(client, headers, "acme", "one")
    await add_phrase(client, headers, "acme", "two")
    response = await client.post(
        f"{BASE}/tenants/acme/hotwords", json={"phrase": "three"}, headers=headers
    )
    assert response.status == 409
    assert "IVR_HOTWORDS_MAX_PER_TENANT" in (await response.json())["error"]


async def test_unknown_tenant_is_404_on_tenant_routes(client: Any) -> None:
    headers = await bearer(client)
    for method, suffix in [
        ("GET", ""),
        ("DELETE", ""),
        ("GET", "/hotwords"),
        ("DELETE", "/hotwords"),
        ("GET", "/hotwords/export"),
        ("GET", "/hotwords/active"),
        ("GET", "/hotwords/0123456789abcdef"),
    ]:
        response = await client.request(method, f"{BASE}/tenants/globex{suffix}", headers=headers)
        assert response.status == 404, (method, suffix)
    response = await client.post(
        f"{BASE}/tenants/globex/hotwords", json={"phrase": "x"}, headers=headers
    )
    assert response.status == 404


async def test_import_json_and_csv_and_export_round_trip(client: Any) -> None:
    headers = await bearer(client)
    await make_tenant(client, headers, "acme")
    path = f"{BASE}/tenants/acme/hotwords"
    csv_body = "phrase,boost,tags\nQuorvia Premier,12,product;sales\nRoute 7,3,\n"
    response = await client.post(
        f"{path}/import", data=csv_body, headers={**headers, "Content-Type": "text/csv"}
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["after"] == 2
    exported = await (await client.get(f"{path}/export", headers=headers)).json()
    assert exported["hotwords"] == [
        {"phrase": "quorvia premier", "boost": 12.0, "tags": ["product", "sales"]},
        {"phrase": "route seven", "boost": 3.0, "tags": []},
    ]
    csv_out = await (await client.get(f"{path}/export?format=csv", headers=headers)).text()
    assert csv_out.splitlines() == [
        "phrase,boost,tags",
        "quorvia premier,12,product;sales",
        "route seven,3,",
    ]
    await client.delete(path, headers=headers)
    response = await client.post(f"{path}/import?mode=replace", json=exported, headers=headers)
    assert response.status == 200
    again = await (await client.get(f"{path}/export", headers=headers)).json()
    assert again["hotwords"] == exported["hotwords"]


async def test_import_merges_by_default_and_bad_rows_name_their_line(client: Any) -> None:
    headers = await bearer(client)
    await make_tenant(client, headers, "acme")
    await add_phrase(client, headers, "acme", "keep me")
    path = f"{BASE}/tenants/acme/hotwords/import"
    response = await client.post(path, json=[{"phrase": "new one"}], headers=headers)
    assert (await response.json())["after"] == 2
    bad_csv = "phrase,boost\nfine,1\nbad,99\n"
    response = await client.post(
        path, data=bad_csv, headers={**headers, "Content-Type": "text/csv"}
    )
    assert response.status == 422
    assert (await response.json())["field"] == "hotwords.1.boost"
    response = await client.post(
        path, data="word\nx\n", headers={**headers, "Content-Type": "text/csv"}
    )
    assert response.status == 422 and (await response.json())["field"] == "csv.header"
    response = await client.post(f"{path}?mode=sideways", json=[], headers=headers)
    assert response.status == 422 and (await response.json())["field"] == "mode"


async def test_keys_create_list_revoke(client: Any) -> None:
    headers = await bearer(client)
    await make_tenant(client, headers, "acme")
    response = await client.post(
        f"{BASE}/keys", json={"kind": "tenant", "tenant": "acme", "name": "ops"}, headers=headers
    )
    assert response.status == 201
    created = await response.json()
    assert created["secret"].startswith(f"ivrk_{created['id']}_")
    listed = await (await client.get(f"{BASE}/keys", headers=headers)).json()
    assert created["id"] in {k["id"] for k in listed["keys"]}
    assert all("secret" not in k and "hash" not in k for k in listed["keys"])
    tenant_headers = {"Authorization": f"Bearer {created['secret']}"}
    assert (await client.get(f"{BASE}/tenants/acme", headers=tenant_headers)).status == 200
    response = await client.delete(f"{BASE}/keys/{created['id']}", headers=headers)
    assert response.status == 200
    assert (await client.get(f"{BASE}/tenants/acme", headers=tenant_headers)).status == 401
    assert (await client.delete(f"{BASE}/keys/{created['id']}", headers=headers)).status == 404


async def test_a_key_cannot_revoke_itself(client: Any) -> None:
    headers = await bearer(client)
    own_id = headers["Authorization"].split("_")[1]
    response = await client.delete(f"{BASE}/keys/{own_id}", headers=headers)
    assert response.status == 409
    assert (await client.get(f"{BASE}/keys", headers=headers)).status == 200


async def test_a_tenant_key_for_an_unknown_tenant_is_404(client: Any) -> None:
    headers = await bearer(client)
    response = await client.post(
        f"{BASE}/keys", json={"kind": "tenant", "tenant": "ghost"}, headers=headers
    )
    assert response.status == 404


async def test_deleting_a_tenant_revokes_its_keys(client: Any) -> None:
    headers = await bearer(client)
    await make_tenant(client, headers, "acme")
    tenant_headers = await bearer(client, "tenant", "acme")
    body = await (await client.delete(f"{BASE}/tenants/acme", headers=headers)).json()
    assert len(body["revoked_keys"]) == 1
    assert (await client.get(f"{BASE}/tenants/acme", headers=tenant_headers)).status == 401


async def test_active_shows_what_this_replicas_cache_serves(client: Any) -> None:
    headers = await bearer(client)
    await make_tenant(client, headers, "acme")
    written = await add_phrase(client, headers, "acme", "Quorvia Premier", 12)
    active = await (
        await client.get(f"{BASE}/tenants/acme/hotwords/active", headers=headers)
    ).json()
    assert active == {
        "tenant": "acme",
        "version": written["version"],
        "phrases": [{"phrase": "quorvia premier", "boost": 12.0}],
    }


async def test_too_many_requests_is_429_with_retry_after(
    start_app: Any, make_settings: Any
) -> None:
    client = await start_app(make_settings(admin_rate_per_minute=3))
    headers = await bearer(client)
    other = await bearer(client)
    if time.time() % 60 > 57:  # the window is a clock minute: do not straddle two
        await asyncio.sleep(60 - time.time() % 60)
    statuses = [(await client.get(f"{BASE}/tenants", headers=headers)).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = await client.get(f"{BASE}/tenants", headers=headers)
    assert response.status == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert "IVR_ADMIN_RATE_PER_MINUTE" in (await response.json())["error"]
    # The limit is per key: another key is unaffected.
    assert (await client.get(f"{BASE}/tenants", headers=other)).status == 200


async def test_an_address_that_keeps_guessing_keys_gets_429(
    start_app: Any, make_settings: Any
) -> None:
    client = await start_app(make_settings(admin_rate_per_minute=3))
    if time.time() % 60 > 57:  # the window is a clock minute: do not straddle two
        await asyncio.sleep(60 - time.time() % 60)
    wrong = {"Authorization": "Bearer ivrk_0000_guess"}
    statuses = [(await client.get(f"{BASE}/tenants", headers=wrong)).status for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
