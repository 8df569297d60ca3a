"""Call session behaviour end to end: barge-in, no-input, hang-ups, drops, malformed frames,
caps and drain, each through a real gateway socket on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import numpy as np
from gateway_harness import SALES, TOKEN, GatewayApp, gateway_app, menu_prompt_seconds

from ivr.gateways import audiosocket, twilio
from ivr.gateways.admission import ADMISSION
from ivr.gateways.callers import AudioSocketCaller, JambonzCaller, TwilioCaller
from ivr.gateways.simulator import Step, run_script
from ivr.health import READINESS

__all__ = ["gateway_app"]
StartApp = Callable[..., Any]


async def until(condition: Callable[[], bool], limit_s: float = 10.0) -> None:
    for _ in range(int(limit_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def test_a_key_during_the_prompt_stops_it_at_once(gateway_app: StartApp) -> None:
    gateway: GatewayApp = await gateway_app()
    caller = TwilioCaller(gateway.url, TOKEN)
    report = await run_script(caller, [Step("press", "1", over_prompt=True)])
    assert caller.cleared >= 1  # Twilio `clear` sent on barge-in
    assert report.prompts_s[0] < await menu_prompt_seconds() - 0.2  # cut short
    assert report.outcome["transfer_target"] == SALES
    assert gateway.metric("ivr_calls_barge_ins_total", by="dtmf") == 1


async def test_silence_gives_no_input_and_a_reprompt(gateway_app: StartApp) -> None:
    gateway: GatewayApp = await gateway_app()
    caller = JambonzCaller(gateway.url)
    steps = [Step("silence", "3.5"), Step("press", "2")]
    report = await run_script(caller, steps)
    record = await gateway.record(caller.call_id)
    assert gateway.inputs(record) == [("NoInput", None), ("Digits", "2"), (None, None)]
    assert len(report.prompts_s) >= 3  # menu, re-prompt, goodbye
    assert gateway.metric("ivr_calls_no_input_total") == 1


async def test_caller_hang_up_mid_prompt_ends_the_call_cleanly(gateway_app: StartApp) -> None:
    gateway: GatewayApp = await gateway_app()
    caller = TwilioCaller(gateway.url, TOKEN)
    await caller.open()
    await until(lambda: bool(caller.heard))
    await caller.hang_up()
    record = await gateway.record(caller.call_id)
    assert record["disposition"] == "caller_hangup"
    assert (await gateway.outcome(caller.call_id)).disposition == "caller_hangup"
    await until(lambda: gateway.app[ADMISSION].active == 0)
    await caller.close()


async def test_socket_drop_mid_call_is_a_caller_hang_up(gateway_app: StartApp) -> None:
    gateway: GatewayApp = await gateway_app()
    caller = AudioSocketCaller("127.0.0.1", gateway.audiosocket_port, gateway.url)
    await caller.open()
    await caller.send_audio(np.zeros(160, dtype=np.int16))  # Asterisk sends audio at once
    await until(lambda: bool(caller.heard))
    assert caller.writer is not None
    caller.writer.transport.abort()  # no hang-up frame: the TCP connection just goes
    record = await gateway.record(caller.call_id)
    assert record["disposition"] == "caller_hangup"
    await until(lambda: gateway.app[ADMISSION].active == 0)
    assert gateway.app[READINESS].active == 0
    await caller.close()


async def test_a_malformed_frame_ends_only_its_own_call(gateway_app: StartApp) -> None:
    gateway: GatewayApp = await gateway_app()
    broken = TwilioCaller(gateway.url, TOKEN)
    healthy = TwilioCaller(gateway.url, TOKEN)
    await broken.open()
    talking = asyncio.create_task(run_script(healthy, [Step("press", "1")]))
    await until(lambda: bool(broken.heard))
    assert broken.ws is not None
    await broken.ws.send_str('{"event": "media", "media": {"payload": "%%% not base64"}}')
    assert (await gateway.record(broken.call_id))["disposition"] == "error"
    report = await talking
    assert report.outcome["transfer_target"] == SALES
    assert (await gateway.record(healthy.call_id))["disposition"] == "transferred"
    assert gateway.metric("ivr_calls_protocol_errors_total", gateway="twilio") == 1
    await broken.close()


async def test_an_oversized_message_ends_the_call(gateway_app: StartApp) -> None:
    gateway: GatewayApp = await gateway_app()
    caller = TwilioCaller(gateway.url, TOKEN)
    await caller.open()
    assert caller.ws is not None
    await caller.ws.send_str(json.dumps({"event": "mark", "mark": {"name": "x" * 200_000}}))
    await until(caller.ended.is_set)
    assert (await gateway.record(caller.call_id))["disposition"] == "error"
    await caller.close()


async def test_audiosocket_garbage_frame_ends_the_call(gateway_app: StartApp) -> None:
    gateway: GatewayApp = await gateway_app()
    call_id = uuid.uuid4()
    _reader, writer = await asyncio.open_connection("127.0.0.1", gateway.audiosocket_port)
    writer.write(audiosocket.frame(audiosocket.KIND_UUID, call_id.bytes))
    writer.write(audiosocket.frame(0x10, b"\x00\x00" * 160))
    writer.write(struct.pack(">BH", 0x42, 3) + b"abc")  # no such frame type
    await writer.drain()
    assert (await gateway.record(str(call_id)))["disposition"] == "error"
    writer.close()


async def test_a_bad_twilio_signature_is_403(gateway_app: StartApp) -> None:
    gateway: GatewayApp = await gateway_app()
    caller = TwilioCaller(gateway.url, "not-the-token")
    form = caller._form()
    status, body = await caller._post_signed("/twilio/voice", form)
    assert status == 403 and "X-Twilio-Signature" in body
    await caller.close()


async def test_a_media_stream_without_our_token_is_refused(gateway_app: StartApp) -> None:
    gateway: GatewayApp = await gateway_app()
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(gateway.url.replace("http", "ws") + "/twilio/stream") as ws,
    ):
        start = {"streamSid": "MZ1", "callSid": "CA1", "customParameters": {}}
        await ws.send_str(json.dumps({"event": "start", "start": start}))
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION


async def test_the_tenant_cap_gives_each_gateway_its_busy_answer(gateway_app: StartApp) -> None:
    gateway: GatewayApp = await gateway_app(max_calls_per_tenant=1)
    first = TwilioCaller(gateway.url, TOKEN)
    await first.open()
    await until(lambda: gateway.app[ADMISSION].active == 1)
    second = TwilioCaller(gateway.url, TOKEN)
    status, twiml = await second._post_signed("/twilio/voice", second._form())
    assert status == 200 and '<Reject reason="busy"/>' in twiml
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            gateway.url.replace("http", "ws") + "/jambonz/listen", protocols=("audio.jambonz.org",)
        ) as ws,
    ):
        await ws.send_str(json.dumps({"callSid": "j1", "sampleRate": 8000}))
        await ws.receive(timeout=5)
        assert ws.close_code == aiohttp.WSCloseCode.TRY_AGAIN_LATER
    assert gateway.metric("ivr_calls_refused_total", reason="tenant_cap") == 2
    await first.close()
    await second.close()


async def test_drain_refuses_new_calls_while_the_call_in_progress_finishes(
    gateway_app: StartApp,
) -> None:
    gateway: GatewayApp = await gateway_app()
    live = TwilioCaller(gateway.url, TOKEN)
    talking = asyncio.create_task(run_script(live, [Step("press", "1")]))
    await until(lambda: gateway.app[ADMISSION].active == 1)
    gateway.app[READINESS].draining = True
    late = TwilioCaller(gateway.url, TOKEN)
    _status, twiml = await late._post_signed("/twilio/voice", late._form())
    assert '<Reject reason="busy"/>' in twiml
    refused = AudioSocketCaller("127.0.0.1", gateway.audiosocket_port, gateway.url)
    await refused.open()
    await refused.send_audio(np.zeros(160, dtype=np.int16))
    await until(refused.ended.is_set)
    assert refused.hung_up_by_server
    assert (await gateway.record(refused.call_id))["disposition"] == "rejected"
    report = await talking
    assert report.outcome["transfer_target"] == SALES
    await late.close()
    await refused.close()


def test_the_audiosocket_port_is_closed_when_disabled() -> None:
    from tests.conftest import free_port

    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", free_port())) != 0
    assert twilio.DIALECT == "twilio"


async def test_a_call_longer_than_max_call_s_is_hung_up(gateway_app: StartApp) -> None:
    gateway: GatewayApp = await gateway_app(max_call_s=10)
    caller = AudioSocketCaller("127.0.0.1", gateway.audiosocket_port, gateway.url)
    await caller.open()
    await caller.send_audio(np.zeros(160, dtype=np.int16))
    await until(caller.ended.is_set, limit_s=20)  # silence: the menu re-prompts until the cut
    assert caller.hung_up_by_server
    assert (await gateway.record(caller.call_id))["disposition"] == "max_length"
    await caller.close()
