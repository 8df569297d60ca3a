"""`GET /v1/stream`: the WebSocket protocol, errors per socket, and the stream limit."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import numpy as np
import pytest

from ivr.api import RECOGNIZER
from ivr.settings import Settings
from tests.recognizer.speech import (
    find_model_dir,
    mulaw_frames,
    synthesize,
    telephone,
    with_silence,
)

StartApp = Callable[[Settings], Any]


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    folder = tmp_path_factory.mktemp("stream")
    first = telephone(synthesize("i lost my credit card", folder / "a.wav"))
    second = telephone(synthesize("transfer me to billing please", folder / "b.wav"))
    return np.concatenate([with_silence(first), with_silence(second, 0.2, 1.2)])


async def _ready_client(start_app: StartApp, settings: Settings) -> Any:
    client = await start_app(settings)
    await asyncio.wait_for(client.server.app[RECOGNIZER].wait_loaded(), 60)
    return client


async def _run_stream(
    client: Any, audio: np.ndarray, config: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    async with client.ws_connect("/v1/stream") as ws:
        await ws.send_str(json.dumps({"type": "config", "encoding": "pcmu", **(config or {})}))
        for frame in mulaw_frames(audio):
            await ws.send_bytes(frame)
        await ws.send_str(json.dumps({"type": "end"}))
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                messages.append(json.loads(msg.data))
    return messages


async def test_a_stream_gets_speech_started_partials_and_numbered_finals(
    start_app: StartApp, make_settings: Callable[..., Settings], speech: np.ndarray
) -> None:
    client = await _ready_client(start_app, make_settings(model_dir=find_model_dir()))
    messages = await _run_stream(client, speech, {"sample_rate": 8000, "interim_results": True})
    kinds = [m["type"] for m in messages]
    assert kinds.count("speech_started") == 2
    assert "partial" in kinds
    finals = [m for m in messages if m["type"] == "final"]
    assert [f["utterance"] for f in finals] == [1, 2]
    assert all(f["text"] for f in finals)
    assert set(finals[0]["words"][0]) == {"word", "start", "end", "confidence"}
    assert 0.0 <= finals[0]["confidence"] <= 1.0


async def test_streamed_finals_match_the_recognize_endpoint(
    start_app: StartApp, make_settings: Callable[..., Settings], speech: np.ndarray
) -> None:
    client = await _ready_client(start_app, make_settings(model_dir=find_model_dir()))
    messages = await _run_stream(client, speech, {"interim_results": False})
    finals = [m["text"] for m in messages if m["type"] == "final"]
    response = await client.post(
        "/v1/recognize",
        data=b"".join(mulaw_frames(speech)),
        headers={"Content-Type": "audio/pcmu;rate=8000"},
    )
    assert (await response.json())["text"] == " ".join(finals)


async def test_bad_frames_end_only_that_socket_while_another_stream_stays_intact(
    start_app: StartApp, make_settings: Callable[..., Settings], speech: np.ndarray
) -> None:
    client = await _ready_client(start_app, make_settings(model_dir=find_model_dir()))
    alone = [m for m in await _run_stream(client, speech) if m["type"] == "final"]

    async def bad_stream() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        async with client.ws_connect("/v1/stream") as ws:
            await ws.send_str(json.dumps({"type": "config", "encoding": "l16"}))
            await ws.send_bytes(b"\x00\x00" * 80)
            await asyncio.sleep(0.05)
            await ws.send_bytes(b"\x01\x02\x03")  # odd-length 16-bit frame
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    got.append(json.loads(msg.data))
            assert ws.close_code == aiohttp.WSCloseCode.UNSUPPORTED_DATA
        return got

    good, bad = await asyncio.gather(_run_stream(client, speech), bad_stream())
    assert bad[-1]["type"] == "error" and "odd-length" in bad[-1]["message"]
    assert [m for m in good if m["type"] == "final"] == alone


@pytest.mark.parametrize(
    ("first", "fragment"),
    [
        ({"type": "config", "encoding": "g729"}, "unknown audio encoding"),
        ({"type": "config", "sample_rate": 11025}, "unsupported sample rate"),
        ({"type": "config", "hotwords": [{"phrase": "card", "boost": 50}]}, "hotwords"),
        ({"type": "config", "bogus": 1}, "bogus"),
        ({"type": "hello"}, "type"),
    ],
)
async def test_a_bad_config_gets_an_error_message_then_the_socket_closes(
    start_app: StartApp,
    make_settings: Callable[..., Settings],
    first: dict[str, Any],
    fragment: str,
) -> None:
    client = await _ready_client(start_app, make_settings(model_dir=find_model_dir()))
    async with client.ws_connect("/v1/stream") as ws:
        await ws.send_str(json.dumps(first))
        msg = await ws.receive(timeout=10)
        error = json.loads(msg.data)
        assert error["type"] == "error" and fragment in error["message"]
        closing = await ws.receive(timeout=10)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_binary_before_the_config_is_refused(
    start_app: StartApp, make_settings: Callable[..., Settings]
) -> None:
    client = await _ready_client(start_app, make_settings(model_dir=find_model_dir()))
    async with client.ws_connect("/v1/stream") as ws:
        await ws.send_bytes(b"\x00" * 160)
        error = json.loads((await ws.receive(timeout=10)).data)
        assert error["type"] == "error" and "config" in error["message"]


async def test_an_oversized_frame_closes_that_socket(
    start_app: StartApp, make_settings: Callable[..., Settings]
) -> None:
    client = await _ready_client(start_app, make_settings(model_dir=find_model_dir()))
    async with client.ws_connect("/v1/stream") as ws:
        await ws.send_str(json.dumps({"type": "config", "encoding": "pcmu"}))
        await ws.send_bytes(b"\xff" * (1024 * 1024))
        async for _ in ws:
            pass
        assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG


async def test_streams_over_the_limit_are_refused_with_503(
    start_app: StartApp, make_settings: Callable[..., Settings]
) -> None:
    client = await _ready_client(
        start_app, make_settings(model_dir=find_model_dir(), max_streams=1)
    )
    async with client.ws_connect("/v1/stream") as first:
        await first.send_str(json.dumps({"type": "config", "encoding": "pcmu"}))
        await first.send_bytes(b"\xff" * 160)
        await asyncio.sleep(0.1)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/v1/stream")
        assert refused.value.status == 503
    async with client.ws_connect("/v1/stream") as again:  # the slot is free once the first ends
        await again.send_str(json.dumps({"type": "end"}))
