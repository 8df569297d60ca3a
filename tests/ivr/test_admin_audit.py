"""The audit log: who, what, when, before/after counts; newest first, paginated; a hash chain
that `ivr audit verify` checks and that an edit made directly in Redis breaks."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import redis.asyncio as aioredis

from ivr.admin.audit import ENTRIES_KEY, AuditLog, entry_hash
from tests.conftest import REPO, service_env
from tests.hotwords.support import BASE, add_phrase, bearer, make_tenant


def ivr(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ivr", *args],
        env=service_env(IVR_REDIS_URL=redis_url),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_changes_record_who_what_and_counts_newest_first(client: Any) -> None:
    headers = await bearer(client)
    key_id = headers["Authorization"].split("_")[1]
    await make_tenant(client, headers, "acme")
    await add_phrase(client, headers, "acme", "one")
    await add_phrase(client, headers, "acme", "two")
    await client.delete(f"{BASE}/tenants/acme/hotwords", headers=headers)
    page = await (await client.get(f"{BASE}/tenants/acme/audit", headers=headers)).json()
    actions = [e["action"] for e in page["entries"]]
    assert actions == ["hotwords.delete_all", "hotword.create", "hotword.create", "tenant.create"]
    newest = page["entries"][0]
    assert newest["actor"] == key_id
    assert (newest["details"]["before"], newest["details"]["after"]) == (2, 0)
    assert newest["ts"].endswith("Z")
    seqs = [e["seq"] for e in page["entries"]]
    assert seqs == sorted(seqs, reverse=True)


async def test_reads_and_exports_are_recorded_too(client: Any) -> None:
    headers = await bearer(client)
    await make_tenant(client, headers, "acme")
    await client.get(f"{BASE}/tenants/acme/hotwords/export?format=csv", headers=headers)
    page = await (await client.get(f"{BASE}/tenants/acme/audit", headers=headers)).json()
    export = page["entries"][0]
    assert export["action"] == "hotwords.export" and export["details"]["format"] == "csv"


async def test_key_management_is_in_the_global_audit(client: Any) -> None:
    headers = await bearer(client)
    await client.post(f"{BASE}/keys", json={"kind": "admin", "name": "ops"}, headers=headers)
    page = await (await client.get(f"{BASE}/audit", headers=headers)).json()
    assert page["tenant"] is None
    assert page["entries"][0]["action"] == "key.create"
    assert page["entries"][0]["details"]["kind"] == "admin"


async def test_audit_pages_follow_each_other(client: Any) -> None:
    headers = await bearer(client)
    await make_tenant(client, headers, "acme")
    for n in range(7):
        await add_phrase(client, headers, "acme", f"word {n}")
    seen: list[int] = []
    offset: int | None = 0
    while offset is not None:
        page = await (
            await client.get(f"{BASE}/tenants/acme/audit?limit=3&offset={offset}", headers=headers)
        ).json()
        assert page["total"] == 8
        seen += [e["seq"] for e in page["entries"]]
        offset = page["next_offset"]
    assert len(seen) == 8 and seen == sorted(seen, reverse=True)
    response = await client.get(f"{BASE}/tenants/acme/audit?limit=0", headers=headers)
    assert response.status == 422 and (await response.json())["field"] == "limit"


async def test_the_chain_links_each_entry_to_the_previous(client: Any) -> None:
    headers = await bearer(client)
    await make_tenant(client, headers, "acme")
    await add_phrase(client, headers, "acme", "one")
    page = await (await client.get(f"{BASE}/tenants/acme/audit", headers=headers)).json()
    newer, older = page["entries"][0], page["entries"][1]
    assert newer["prev"] == older["hash"]


async def test_verify_passes_then_names_the_entry_edited_in_redis(
    client: Any, redis_client: aioredis.Redis, redis_url: str
) -> None:
    headers = await bearer(client)
    await make_tenant(client, headers, "acme")
    for n in range(3):
        await add_phrase(client, headers, "acme", f"word {n}")
    good = ivr(redis_url, "audit", "verify")
    assert good.returncode == 0, good.stderr
    assert "4 entries verified" in good.stdout
    raw = await redis_client.hget(ENTRIES_KEY, "2")
    assert raw is not None
    entry = json.loads(raw)
    entry["actor"] = "someone-else"  # an insider rewriting history
    await redis_client.hset(ENTRIES_KEY, "2", json.dumps(entry))
    bad = ivr(redis_url, "audit", "verify")
    assert bad.returncode == 1
    assert "entry 2" in bad.stderr and "edited" in bad.stderr


async def test_verify_detects_a_removed_entry_and_a_rehashed_one(
    redis_client: aioredis.Redis,
) -> None:
    log = AuditLog(redis_client)
    for n in range(4):
        await log.append("k1", "test", "acme", {"n": n})
    assert (await log.verify()).ok
    # Rewriting entry 2 with a freshly computed hash still breaks entry 3's link.
    raw = await redis_client.hget(ENTRIES_KEY, "2")
    assert raw is not None
    entry = json.loads(raw)
    entry["details"] = {"n": 99}
    entry["hash"] = entry_hash(entry)
    await redis_client.hset(ENTRIES_KEY, "2", json.dumps(entry))
    result = await log.verify()
    assert not result.ok and result.broken_seq == 3
    await redis_client.hdel(ENTRIES_KEY, "3")
    result = await log.verify()
    assert result.broken_seq == 3 and result.reason == "entry is missing"


async def test_concurrent_appends_keep_one_unbroken_chain(redis_client: aioredis.Redis) -> None:
    # Three clients stand for three replicas appending at once.
    url = redis_client.connection_pool.connection_kwargs
    clients = [aioredis.Redis(host=url["host"], port=url["port"]) for _ in range(3)]
    logs = [AuditLog(c) for c in clients]
    await asyncio.gather(*(logs[n % 3].append(f"k{n}", "test", "acme", {}) for n in range(30)))
    for c in clients:
        await c.aclose()
    log = AuditLog(redis_client)
    result = await log.verify()
    assert result.ok and result.checked == 30


def test_cli_keys_create_list_revoke(redis_url: str) -> None:
    created = ivr(redis_url, "keys", "create", "--admin", "--json")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert key["secret"].startswith(f"ivrk_{key['id']}_")
    listed = ivr(redis_url, "keys", "list")
    assert key["id"] in listed.stdout and key["secret"] not in listed.stdout
    assert "admin" in listed.stdout
    tenant_key = ivr(redis_url, "keys", "create", "--tenant", "ghost")
    assert tenant_key.returncode != 0 and "unknown tenant" in tenant_key.stderr
    revoked = ivr(redis_url, "keys", "revoke", key["id"])
    assert revoked.returncode == 0 and key["id"] in revoked.stdout
    assert key["id"] not in ivr(redis_url, "keys", "list").stdout
    again = ivr(redis_url, "keys", "revoke", key["id"])
    assert again.returncode != 0 and "no API key" in again.stderr
    assert ivr(redis_url, "audit", "verify").returncode == 0


def test_cli_needs_a_redis_url() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ivr", "keys", "list"],
        env=service_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "IVR_REDIS_URL" in result.stderr
