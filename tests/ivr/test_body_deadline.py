"""Slow clients: a request body that stalls or trickles in is cut at IVR_BODY_TIMEOUT_S with a
JSON 408 and a closed connection, while other clients are served meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from ivr.admin.keys import KeyStore
from ivr.settings import Settings

LIMIT_S = 1.0
NEVER_S = 30.0  # a bound on waiting for the server: far above LIMIT_S, far below "never"


async def open_slow(client: Any, path: str, headers: str = "") -> tuple[Any, Any]:
    """Headers promising a 1000-byte JSON body, then only its first bytes."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: 1000\r\n{headers}\r\n".encode()
        + b'{"id": "ac'
    )
    await writer.drain()
    return reader, writer


def parse(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in fields.items()}, json.loads(body)


async def test_a_stalled_body_gets_408_and_a_closed_connection_while_others_are_served(
    start_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    client = await start_app(make_settings(body_timeout_s=LIMIT_S))
    reader, writer = await open_slow(client, "/v1/dialogs")
    normal = await client.post("/v1/dialogs", json={"tenant": "acme"})
    assert normal.status == 201, await normal.text()
    assert not reader.at_eof()  # the stalled client is still waiting, not yet answered
    raw = await asyncio.wait_for(reader.read(), NEVER_S)  # read() returns at the server's close
    status, headers, body = parse(raw)
    assert status == 408 and headers["connection"] == "close"
    assert "IVR_BODY_TIMEOUT_S" in body["error"] and body["status"] == 408
    writer.close()
    assert (await client.get("/healthz")).status == 200


async def test_a_body_trickling_in_is_cut_too_not_only_a_silent_one(
    start_app: Callable[[Settings], Any],
    make_settings: Callable[..., Settings],
    redis_client: aioredis.Redis,
) -> None:
    client = await start_app(make_settings(body_timeout_s=LIMIT_S))
    secret = (await KeyStore(redis_client).create("admin", None, "slow")).secret
    reader, writer = await open_slow(
        client, "/admin/v1/tenants", f"Authorization: Bearer {secret}\r\n"
    )

    async def trickle() -> None:
        with contextlib.suppress(ConnectionError):
            for _ in range(990):  # one byte at a time, each well inside the limit
                await asyncio.sleep(LIMIT_S / 5)
                writer.write(b" ")
                await writer.drain()

    dripping = asyncio.create_task(trickle())
    try:
        raw = await asyncio.wait_for(reader.read(), NEVER_S)
    finally:
        dripping.cancel()
        writer.close()
    status, _, body = parse(raw)
    assert status == 408 and body["status"] == 408
    listed = await client.get("/admin/v1/tenants", headers={"Authorization": f"Bearer {secret}"})
    assert listed.status == 200 and (await listed.json())["tenants"] == []
