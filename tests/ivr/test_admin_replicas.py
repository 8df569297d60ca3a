"""Two real `ivr serve` processes sharing one redis-server: a hot-word write through one
replica is what the other serves next, through pub/sub and after Redis restarts."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from ivr.admin.keys import KeyStore
from tests.conftest import RedisServer, ServiceProcess

BASE = "/admin/v1"


async def admin_headers(redis_url: str) -> dict[str, str]:
    client = aioredis.Redis.from_url(redis_url)
    new = await KeyStore(client).create("admin", None, "replicas test")
    await client.aclose()
    return {"Authorization": f"Bearer {new.secret}"}


async def metric(session: aiohttp.ClientSession, service: ServiceProcess, name: str) -> float:
    async with session.get(f"{service.url}/metrics") as response:
        text = await response.text()
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def eventually(check: Callable[[], Any], limit_s: float = 10.0) -> None:
    """Wait for something asynchronous (a pub/sub message) with a generous limit."""
    deadline = time.monotonic() + limit_s
    while not await check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def write_and_read_across(
    session: aiohttp.ClientSession,
    headers: dict[str, str],
    writer: ServiceProcess,
    reader: ServiceProcess,
    phrase: str,
) -> None:
    """A write on `writer` is in `reader`'s very next answer; its pub/sub message then lands."""
    invalidations = await metric(session, reader, "ivr_hotwords_invalidations_total")
    async with session.post(
        f"{writer.url}{BASE}/tenants/acme/hotwords",
        json={"phrase": phrase, "boost": 12},
        headers=headers,
    ) as response:
        assert response.status in (200, 201), await response.text()
        version = (await response.json())["version"]
    async with session.get(
        f"{reader.url}{BASE}/tenants/acme/hotwords/active", headers=headers
    ) as response:
        active = await response.json()
    assert active["version"] == version
    assert {"phrase": phrase, "boost": 12.0} in active["phrases"]

    async def message_arrived() -> bool:
        now = await metric(session, reader, "ivr_hotwords_invalidations_total")
        return now > invalidations

    await eventually(message_arrived)


async def test_a_write_on_one_replica_is_served_by_the_other_also_after_a_redis_restart(
    start_service: Callable[..., ServiceProcess], redis_url: str, redis_server: RedisServer
) -> None:
    one = start_service(IVR_REDIS_URL=redis_url)
    two = start_service(IVR_REDIS_URL=redis_url)
    headers = await admin_headers(redis_url)
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{one.url}{BASE}/tenants", json={"id": "acme"}, headers=headers
        ) as response:
            assert response.status == 201
        # Warm replica two's cache, then change the tenant through replica one.
        async with session.get(
            f"{two.url}{BASE}/tenants/acme/hotwords/active", headers=headers
        ) as response:
            assert (await response.json())["phrases"] == []
        await write_and_read_across(session, headers, one, two, "quorvia premier")
        await write_and_read_across(session, headers, two, one, "globex plus")

        # The pub/sub message alone refreshed replica two: its next answer is a cache hit.
        async with session.post(
            f"{one.url}{BASE}/tenants/acme/hotwords",
            json={"phrase": "warm by message", "boost": 3},
            headers=headers,
        ) as response:
            version = (await response.json())["version"]

        async def reloaded() -> bool:
            async with session.get(f"{two.url}/metrics") as response:
                return 'ivr_hotwords_phrases{tenant="acme"} 3.0' in await response.text()

        await eventually(reloaded)
        hits = await metric(session, two, "ivr_hotwords_cache_hits_total")
        async with session.get(
            f"{two.url}{BASE}/tenants/acme/hotwords/active", headers=headers
        ) as response:
            assert (await response.json())["version"] == version
        assert await metric(session, two, "ivr_hotwords_cache_hits_total") == hits + 1

        # Redis restarts empty (no persistence in the test server): both replicas reconnect.
        redis_server.restart()
        headers = await admin_headers(redis_url)

        async def tenant_recreated() -> bool:
            async with session.post(
                f"{one.url}{BASE}/tenants", json={"id": "acme"}, headers=headers
            ) as response:
                return response.status == 201

        await eventually(tenant_recreated)
        async with session.get(
            f"{two.url}{BASE}/tenants/acme/hotwords/active", headers=headers
        ) as response:
            assert (await response.json())["phrases"] == []  # nothing stale survives
        await write_and_read_across(session, headers, one, two, "after the restart")
