"""Hostile input against the live server: random frames on every gateway socket end only
their own connection, and a good call still goes through afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
from gateway_harness import SALES, TOKEN, GatewayApp, gateway_app

from ivr.gateways import audiosocket
from ivr.gateways.admission import ADMISSION
from ivr.gateways.callers import TwilioCaller
from ivr.gateways.simulator import Step, run_script

__all__ = ["gateway_app"]
StartApp = Callable[..., Any]
ROUNDS = 25


def junk(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randint(0, 600))


def junk_json(rng: random.Random) -> str:
    choices: list[Any] = [
        {"event": rng.choice(["start", "media", "dtmf", "mark", "stop", "x"])},
        {"event": "media", "media": {"payload": rng.randbytes(20).hex()}},
        {"event": "start", "start": {"callSid": 5, "streamSid": None}},
        {"callSid": "x", "sampleRate": rng.choice([0, 8000, "abc", -1, 10**9])},
        [1, 2, 3],
        "null",
    ]
    value = rng.choice(choices)
    return value if isinstance(value, str) else json.dumps(value)


async def hammer_audiosocket(port: int, rng: random.Random) -> None:
    with contextlib.suppress(OSError, asyncio.TimeoutError):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        if rng.random() < 0.5:
            writer.write(audiosocket.frame(audiosocket.KIND_UUID, uuid.uuid4().bytes))
        writer.write(junk(rng))
        await writer.drain()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(reader.read(65536), 2)
        writer.close()


async def hammer_websocket(session: aiohttp.ClientSession, url: str, rng: random.Random) -> None:
    with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
        async with session.ws_connect(url, protocols=("audio.jambonz.org",)) as ws:
            for _ in range(rng.randint(1, 4)):
                if rng.random() < 0.5:
                    await ws.send_bytes(junk(rng))
                else:
                    await ws.send_str(junk_json(rng))
            await asyncio.wait_for(ws.receive(), 2)


async def test_random_frames_on_every_socket_leave_the_service_serving(
    gateway_app: StartApp,
) -> None:
    gateway: GatewayApp = await gateway_app()
    rng = random.Random(1234)
    ws_base = gateway.url.replace("http", "ws")
    async with aiohttp.ClientSession() as session:
        for _ in range(ROUNDS):
            await asyncio.gather(
                hammer_audiosocket(gateway.audiosocket_port, rng),
                hammer_websocket(session, ws_base + "/twilio/stream", rng),
                hammer_websocket(session, ws_base + "/jambonz/listen", rng),
            )
        body = {"CallSid": "CA" + rng.randbytes(4).hex(), "To": junk(rng).hex()}
        async with session.post(gateway.url + "/twilio/voice", data=body) as response:
            assert response.status == 403  # unsigned
    caller = TwilioCaller(gateway.url, TOKEN)
    report = await run_script(caller, [Step("press", "1")])
    assert report.outcome["transfer_target"] == SALES
    for _ in range(250):
        if gateway.app[ADMISSION].active == 0:
            break
        await asyncio.sleep(0.02)
    assert gateway.app[ADMISSION].active == 0  # no call left hanging by the junk
