"""Webhook edges: per-tenant Twilio tokens, the jambonz call hook, silent sockets time out."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gateway_harness import SALES, TOKEN, GatewayApp, gateway_app
from twilio.request_validator import RequestValidator

from ivr.gateways import asterisk, audiosocket
from ivr.gateways.callers import AudioSocketCaller, JambonzCaller
from ivr.gateways.simulator import Step, run_script
from ivr.health import READINESS

__all__ = ["gateway_app"]
StartApp = Callable[..., Any]
ACME_TOKEN = "acme-own-token-abcdef0123456789"


async def post_signed(gateway: GatewayApp, token: str, to: str) -> tuple[int, str]:
    form = {"CallSid": "CA" + uuid.uuid4().hex, "From": "+15550001111", "To": to}
    url = gateway.url + "/twilio/voice"
    signature = RequestValidator(token).compute_signature(url, form)
    response = await gateway.client.post(
        "/twilio/voice", data=form, headers={"X-Twilio-Signature": signature}
    )
    return response.status, await response.text()


async def test_a_tenants_own_twilio_token_overrides_the_default(
    gateway_app: StartApp, tmp_path: Path
) -> None:
    numbers = tmp_path / "numbers.yaml"
    numbers.write_text(
        f'tenants: {{acme: {{twilio_auth_token: "{ACME_TOKEN}"}}}}\n'
        'numbers: {"+15551230000": {tenant: acme}}'
    )
    gateway: GatewayApp = await gateway_app(number_map_file=numbers)
    status, twiml = await post_signed(gateway, ACME_TOKEN, "+15551230000")
    assert status == 200 and "<Connect" in twiml
    assert (await post_signed(gateway, TOKEN, "+15551230000"))[0] == 403
    assert (await post_signed(gateway, TOKEN, "+15559999999"))[0] == 200  # unmapped: default


async def test_without_any_twilio_token_the_webhook_says_what_to_set(gateway_app: StartApp) -> None:
    gateway: GatewayApp = await gateway_app(twilio_auth_token=None)
    status, body = await post_signed(gateway, TOKEN, "+15551230000")
    assert status == 403 and "IVR_TWILIO_AUTH_TOKEN" in body


async def test_the_jambonz_call_hook_answers_listen_or_busy(gateway_app: StartApp) -> None:
    gateway: GatewayApp = await gateway_app()
    response = await gateway.client.post("/jambonz/call", json={"call_sid": "j", "to": "+1"})
    verbs = await response.json()
    assert verbs[0]["verb"] == "listen"
    assert verbs[0]["url"].endswith("/jambonz/listen?playback=stream")
    assert verbs[0]["actionHook"].endswith("/jambonz/action")
    gateway.app[READINESS].draining = True
    busy = await (await gateway.client.post("/jambonz/call", json={"to": "+1"})).json()
    assert busy == [{"verb": "sip:decline", "status": 486, "reason": "Busy Here"}]


async def test_a_silent_socket_is_dropped_and_other_calls_go_on(
    gateway_app: StartApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(asterisk, "RECEIVE_TIMEOUT_S", 1.0)  # 20 s in service
    gateway: GatewayApp = await gateway_app()
    silent = AudioSocketCaller("127.0.0.1", gateway.audiosocket_port, gateway.url)
    await silent.open()
    await silent.send_audio(np.zeros(160, dtype=np.int16))  # then nothing, not even audio
    talking = AudioSocketCaller("127.0.0.1", gateway.audiosocket_port, gateway.url)
    report = await run_script(talking, [Step("press", "1")])
    assert report.outcome["transfer_target"] == SALES
    record = await gateway.record(silent.call_id)
    assert record["disposition"] == "caller_hangup"
    await silent.close()


async def test_a_socket_that_never_sends_its_uuid_is_closed(
    gateway_app: StartApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(asterisk, "RECEIVE_TIMEOUT_S", 0.5)
    gateway: GatewayApp = await gateway_app()
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.audiosocket_port)
    writer.write(audiosocket.HEADER.pack(audiosocket.KIND_UUID, 16))  # header, no payload
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # the server hung up
    writer.close()


async def test_an_audiosocket_port_in_use_leaves_the_http_gateways_working(
    gateway_app: StartApp,
) -> None:
    first: GatewayApp = await gateway_app()
    second: GatewayApp = await gateway_app(audiosocket_port=first.audiosocket_port)
    caller = JambonzCaller(second.url)
    report = await run_script(caller, [Step("press", "1")])
    assert report.outcome["transfer_target"] == SALES
