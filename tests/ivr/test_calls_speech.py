"""Calls with the real recognizer: speech barges in on a prompt, and is heard as speech."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from gateway_harness import TOKEN, GatewayApp, gateway_app, menu_prompt_seconds

from ivr import api
from ivr.gateways.callers import TwilioCaller
from ivr.gateways.simulator import Step, run_script
from ivr.settings import DEFAULT_MODEL_DIR

__all__ = ["gateway_app"]
StartApp = Callable[..., Any]
RECOGNIZER: Any = getattr(api, "RECOGNIZER", None)
pytestmark = pytest.mark.skipif(
    RECOGNIZER is None or not (DEFAULT_MODEL_DIR / "model.onnx").is_file(),
    reason="needs the recognizer area and the shipped model",
)


async def started(gateway_app: StartApp) -> GatewayApp:
    gateway: GatewayApp = await gateway_app()
    await gateway.app[RECOGNIZER].wait_loaded()
    return gateway


async def test_speech_over_a_prompt_stops_it_and_reaches_the_dialog(gateway_app: StartApp) -> None:
    gateway = await started(gateway_app)
    caller = TwilioCaller(gateway.url, TOKEN)
    steps = [Step("barge", "I would like to talk to sales please")]
    report = await run_script(caller, steps, end_limit_s=3)
    assert caller.cleared >= 1
    assert report.prompts_s[0] < await menu_prompt_seconds() - 0.2  # cut short
    assert gateway.metric("ivr_calls_barge_ins_total", by="speech") == 1
    kind, heard = gateway.inputs(await gateway.record(caller.call_id))[0]
    assert kind == "Speech" and heard


async def test_speech_after_the_prompt_is_heard_with_a_latency(gateway_app: StartApp) -> None:
    gateway = await started(gateway_app)
    caller = TwilioCaller(gateway.url, TOKEN)
    report = await run_script(caller, [Step("say", "sales")], end_limit_s=3)
    kind, heard = gateway.inputs(await gateway.record(caller.call_id))[0]
    assert kind == "Speech" and heard
    assert report.turns[0].latency_s is not None
    assert gateway.metric("ivr_calls_response_latency_seconds_count") >= 1
    assert gateway.metric("ivr_calls_speech_end_latency_seconds_count") >= 1


async def test_a_malformed_call_leaves_a_concurrent_calls_speech_intact(
    gateway_app: StartApp,
) -> None:
    gateway = await started(gateway_app)
    broken = TwilioCaller(gateway.url, TOKEN)
    await broken.open()
    speaking = TwilioCaller(gateway.url, TOKEN)
    talking = asyncio.create_task(run_script(speaking, [Step("say", "sales")], end_limit_s=3))
    for _ in range(500):
        if broken.heard:
            break
        await asyncio.sleep(0.02)
    assert broken.ws is not None
    await broken.ws.send_bytes(b"\x00garbage")  # Media Streams are text frames only
    await talking
    assert (await gateway.record(broken.call_id))["disposition"] == "error"
    kind, heard = gateway.inputs(await gateway.record(speaking.call_id))[0]
    assert kind == "Speech" and heard
    await broken.close()
