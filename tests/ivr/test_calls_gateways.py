"""Full calls through all three gateway dialects against the real server on loopback."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway_harness import SALES, TOKEN, GatewayApp, gateway_app
from twilio.request_validator import RequestValidator

from ivr.gateways.callers import AudioSocketCaller, JambonzCaller, TwilioCaller
from ivr.gateways.simulator import Step, run_script
from ivr.store import STORE

__all__ = ["gateway_app"]
StartApp = Callable[..., Any]


async def test_twilio_call_pressing_one_is_transferred_and_the_action_dials(
    gateway_app: StartApp,
) -> None:
    gateway: GatewayApp = await gateway_app()
    caller = TwilioCaller(gateway.url, TOKEN, sign=RequestValidator(TOKEN).compute_signature)
    report = await run_script(caller, [Step("press", "1")])
    assert report.ended_by_server
    assert report.outcome["transfer_target"] == SALES
    assert "<Dial>" in report.outcome["twiml"]
    record = await gateway.record(caller.call_id)
    assert record["disposition"] == "transferred"
    assert [t["state"] for t in record["turns"]] == ["menu", "sales"]
    outcome = await gateway.outcome(caller.call_id)
    assert (outcome.disposition, outcome.transfer_target) == ("transferred", SALES)
    assert len(report.prompts_s) >= 2 and report.prompts_s[0] > 1.0


async def test_jambonz_streaming_call_pressing_two_hangs_up(gateway_app: StartApp) -> None:
    gateway: GatewayApp = await gateway_app()
    caller = JambonzCaller(gateway.url, rate=16000, playback="stream")
    report = await run_script(caller, [Step("press", "2")])
    assert report.ended_by_server
    assert report.outcome["verbs"] == [{"verb": "hangup"}]
    record = await gateway.record(caller.call_id)
    assert (record["disposition"], record["gateway"]) == ("completed", "jambonz")
    assert gateway.inputs(record) == [("Digits", "2"), (None, None)]
    assert (await gateway.outcome(caller.call_id)).disposition == "completed"


async def test_mod_audio_fork_call_with_in_band_keys_and_play_audio(gateway_app: StartApp) -> None:
    gateway: GatewayApp = await gateway_app()
    caller = JambonzCaller(gateway.url, playback="playaudio", subprotocol="audio.drachtio.org")
    report = await run_script(caller, [Step("press", "1")], inband_keys=True)
    assert report.outcome["transfer_target"] == SALES
    record = await gateway.record(caller.call_id)
    assert gateway.inputs(record)[0] == ("Digits", "1")
    assert gateway.metric("ivr_calls_dtmf_digits_total", source="inband") == 1


async def test_audiosocket_call_is_transferred_and_the_dialplan_reads_the_outcome(
    gateway_app: StartApp,
) -> None:
    gateway: GatewayApp = await gateway_app()
    caller = AudioSocketCaller("127.0.0.1", gateway.audiosocket_port, gateway.url)
    report = await run_script(caller, [Step("press", "1")])
    assert caller.hung_up_by_server
    assert report.outcome["disposition"] == "transferred"
    assert report.outcome["transfer_target"] == SALES
    response = await gateway.client.get(
        f"/asterisk/calls/{caller.call_id}/outcome", params={"field": "transfer_target"}
    )
    assert await response.text() == SALES


async def test_audiosocket_at_16_khz_gets_prompts_at_16_khz(gateway_app: StartApp) -> None:
    gateway: GatewayApp = await gateway_app()
    caller = AudioSocketCaller("127.0.0.1", gateway.audiosocket_port, gateway.url, rate=16000)
    report = await run_script(caller, [Step("press", "2")])
    assert report.outcome["disposition"] == "completed"
    assert caller.audio_kinds == {0x12}  # slin at 16 kHz, the caller's own rate
    assert 1.0 < report.prompts_s[0] < 5.0


async def test_the_number_map_routes_a_number_to_its_flow_and_keys_are_collected(
    gateway_app: StartApp, tmp_path: Path
) -> None:
    numbers = tmp_path / "numbers.yaml"
    numbers.write_text('tenants: {bank: {}}\nnumbers: {"+15559990000": {tenant: bank, flow: pin}}')
    gateway: GatewayApp = await gateway_app(number_map_file=numbers, redact_sensitive=False)
    full = JambonzCaller(gateway.url, called="+1 555 999 0000")
    await run_script(full, [Step("press", "1234")])
    record = await gateway.record(full.call_id)
    assert (record["tenant"], record["flow"]) == ("bank", "pin")
    assert gateway.inputs(record)[0] == ("Digits", "1234")  # four keys end the entry
    assert b"1234" not in await gateway.stored(full.call_id)  # no caller data in the record
    short = JambonzCaller(gateway.url, called="+15559990000")
    await run_script(short, [Step("press", "42#")])
    assert gateway.inputs(await gateway.record(short.call_id))[0] == ("Digits", "42")
    unmapped = JambonzCaller(gateway.url, called="+15550000000")
    await run_script(unmapped, [Step("press", "2")])
    record = await gateway.record(unmapped.call_id)
    assert (record["tenant"], record["flow"]) == ("default", "menu")


async def test_redis_holds_no_plaintext_caller_data_after_a_full_twilio_call(
    gateway_app: StartApp, tmp_path: Path
) -> None:
    """Issue #11's scan: after a whole call over Twilio's protocol (number, PIN by keypad),
    no key or value in Redis contains the caller's number or the digits they pressed."""
    numbers = tmp_path / "numbers.yaml"
    numbers.write_text('tenants: {bank: {}}\nnumbers: {"+15559990000": {tenant: bank, flow: pin}}')
    key = "k1:" + base64.b64encode(bytes(range(32))).decode()
    gateway: GatewayApp = await gateway_app(
        number_map_file=numbers, log_transcripts=False, data_keys=key
    )
    caller = TwilioCaller(
        gateway.url,
        TOKEN,
        caller="+15557654321",
        called="+15559990000",
        sign=RequestValidator(TOKEN).compute_signature,
    )
    await run_script(caller, [Step("press", "9182")])
    record = await gateway.record(caller.call_id)
    assert record["disposition"] == "completed"
    outcome = await gateway.outcome(caller.call_id)
    assert outcome.flow == "pin" and outcome.turns >= 1
    redis = gateway.app[STORE].redis
    dump = b""
    async for name in redis.scan_iter(count=500):
        dump += name + b"\n"
        kind = await redis.type(name)
        if kind == b"string":
            dump += await redis.get(name) or b""
        elif kind == b"hash":
            for field, value in (await redis.hgetall(name)).items():
                dump += field + b"=" + value + b"\n"
        elif kind == b"list":
            dump += b"\n".join(await redis.lrange(name, 0, -1))
        elif kind in (b"set", b"zset"):
            members = await (redis.smembers(name) if kind == b"set" else redis.zrange(name, 0, -1))
            dump += b"\n".join(members)
    assert caller.call_id.encode() in dump  # the scan did see this call's records
    for secret in (b"9182", b"5557654321", b"7654321"):
        assert secret not in dump, secret


async def test_asterisk_registration_routes_the_call_and_is_stored_sealed(
    gateway_app: StartApp, tmp_path: Path
) -> None:
    numbers = tmp_path / "numbers.yaml"
    numbers.write_text('tenants: {bank: {}}\nnumbers: {"+15559990000": {tenant: bank, flow: pin}}')
    gateway: GatewayApp = await gateway_app(number_map_file=numbers)
    caller = AudioSocketCaller("127.0.0.1", gateway.audiosocket_port, gateway.url)
    response = await gateway.client.post(
        f"/asterisk/calls/{caller.call_id}",
        json={"called": "+15559990000", "caller": "+15557654321"},
    )
    assert response.status == 200
    stored = await gateway.app[STORE].redis.get(f"ivr:asterisk:{caller.call_id}")
    assert isinstance(stored, bytes) and stored.startswith(b"ivr1:")
    assert b"5557654321" not in stored and b"5559990000" not in stored
    await run_script(caller, [Step("press", "42#")])
    record = await gateway.record(caller.call_id)
    assert (record["tenant"], record["flow"]) == ("bank", "pin")
