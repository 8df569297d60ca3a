"""The real `ivr serve` process: `ivr call` against it, and drain on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Callable

import numpy as np
import redis.asyncio as aioredis
from gateway_harness import FLOWS, SALES, TOKEN

from ivr.calls import call_record
from ivr.gateways.callers import AudioSocketCaller, TwilioCaller
from tests.conftest import REPO, ServiceProcess, free_port, service_env

StartService = Callable[..., ServiceProcess]


def serve(start_service: StartService, redis_url: str) -> tuple[ServiceProcess, int]:
    port = free_port()
    service = start_service(
        IVR_REDIS_URL=redis_url,
        IVR_FLOWS_DIR=str(FLOWS),
        IVR_DEFAULT_FLOW="menu",
        IVR_AUDIOSOCKET_PORT=str(port),
        IVR_TWILIO_AUTH_TOKEN=TOKEN,
        IVR_DRAIN_TIMEOUT_S="60",
    )
    return service, port


async def ivr_call(*args: str, **env: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr", "call", *args,
        env=service_env(**env), cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, output.decode()
    return output.decode()


async def test_ivr_call_places_a_call_over_each_protocol(
    start_service: StartService, redis_url: str
) -> None:
    service, port = serve(start_service, redis_url)
    twilio = await ivr_call(
        service.url, "--protocol", "twilio", "--press", "1", IVR_TWILIO_AUTH_TOKEN=TOKEN
    )
    assert f"outcome: transferred {SALES}" in twilio
    assert "state menu, input Digits" in twilio
    jambonz = await ivr_call(service.url, "--press", "2")  # no token known: jambonz
    assert "over jambonz" in jambonz and "outcome: completed" in jambonz
    asterisk = await ivr_call(
        service.url, "--protocol", "audiosocket", "--audiosocket-port", str(port), "--press", "1"
    )
    assert f"outcome: transferred {SALES}" in asterisk


async def test_sigterm_refuses_new_calls_and_lets_the_live_one_finish(
    start_service: StartService, redis_url: str, redis_client: aioredis.Redis
) -> None:
    service, port = serve(start_service, redis_url)
    live = AudioSocketCaller("127.0.0.1", port, service.url)
    await live.open()
    await live.send_audio(np.zeros(160, dtype=np.int16))
    for _ in range(500):
        if live.heard:
            break
        await asyncio.sleep(0.02)
    service.signal(signal.SIGTERM)
    await asyncio.sleep(0.5)
    late = TwilioCaller(service.url, TOKEN)
    status, twiml = await late._post_signed("/twilio/voice", late._form())
    assert status == 200 and '<Reject reason="busy"/>' in twiml
    await late.close()
    await live.send_key("1")
    for _ in range(500):
        if live.ended.is_set():
            break
        await asyncio.sleep(0.02)
    assert live.hung_up_by_server
    await live.close()
    assert await asyncio.to_thread(service.wait, 30) == 0  # exits once the live call is done
    record = await call_record(redis_client, live.call_id)
    assert record is not None and record["disposition"] == "transferred"
