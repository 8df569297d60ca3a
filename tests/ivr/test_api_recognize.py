"""`POST /v1/recognize` and the model's readiness check."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from ivr.api import RECOGNIZER
from ivr.settings import Settings
from recognizer.audio import encode_mulaw, to_int16
from tests.recognizer.speech import (
    TELEPHONE_RATE,
    find_model_dir,
    mulaw_frames,
    synthesize,
    telephone,
    with_silence,
)

StartApp = Callable[[Settings], Any]


@pytest.fixture(scope="module")
def phrase_audio(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    path = tmp_path_factory.mktemp("api") / "phrase.wav"
    return with_silence(telephone(synthesize("i lost my credit card", path)))


async def _ready_client(start_app: StartApp, settings: Settings) -> Any:
    client = await start_app(settings)
    await asyncio.wait_for(client.server.app[RECOGNIZER].wait_loaded(), 60)
    return client


def _wav(audio: np.ndarray, fmt: str = "WAV") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, to_int16(audio), TELEPHONE_RATE, format=fmt)
    return buffer.getvalue()


async def test_a_wav_body_gets_the_transcript_json(
    start_app: StartApp, make_settings: Callable[..., Settings], phrase_audio: np.ndarray
) -> None:
    client = await _ready_client(start_app, make_settings(model_dir=find_model_dir()))
    response = await client.post(
        "/v1/recognize", data=_wav(phrase_audio), headers={"Content-Type": "audio/wav"}
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert set(body) == {"text", "confidence", "duration_s", "words"}
    assert body["text"]
    assert body["duration_s"] == pytest.approx(len(phrase_audio) / TELEPHONE_RATE, abs=0.01)
    assert set(body["words"][0]) == {"word", "start", "end", "confidence"}


async def test_raw_mulaw_and_flac_give_the_same_words_as_wav(
    start_app: StartApp, make_settings: Callable[..., Settings], phrase_audio: np.ndarray
) -> None:
    client = await _ready_client(start_app, make_settings(model_dir=find_model_dir()))
    texts = []
    for data, content_type in [
        (_wav(phrase_audio), "audio/wav"),
        (_wav(phrase_audio, "FLAC"), "audio/flac"),
        (encode_mulaw(to_int16(phrase_audio)), "audio/pcmu;rate=8000"),
    ]:
        response = await client.post(
            "/v1/recognize", data=data, headers={"Content-Type": content_type}
        )
        assert response.status == 200, await response.text()
        texts.append((await response.json())["text"])
    assert texts[0] == texts[1]
    assert texts[2]


async def test_a_body_over_the_limit_is_413(
    start_app: StartApp, make_settings: Callable[..., Settings]
) -> None:
    client = await start_app(make_settings(model_dir=find_model_dir(), max_body_bytes=4096))
    response = await client.post(
        "/v1/recognize", data=b"\x00" * 10_000, headers={"Content-Type": "audio/pcmu"}
    )
    assert response.status == 413
    assert "IVR_MAX_BODY_BYTES" in (await response.json())["error"]


@pytest.mark.parametrize(
    ("data", "content_type", "status", "fragment"),
    [
        (b"not audio at all", "audio/wav", 400, "cannot read audio"),
        (b"\x00\x01\x02", "audio/l16;rate=8000", 400, "odd-length"),
        (b"\x00\x00", "audio/pcmu;rate=11025", 400, "unsupported sample rate"),
        (b"\x00\x00", "text/plain", 415, "Content-Type"),
        (b"", "audio/wav", 400, "empty"),
    ],
)
async def test_bad_bodies_get_a_json_error_saying_what_to_send(
    start_app: StartApp,
    make_settings: Callable[..., Settings],
    data: bytes,
    content_type: str,
    status: int,
    fragment: str,
) -> None:
    client = await start_app(make_settings(model_dir=find_model_dir()))
    response = await client.post("/v1/recognize", data=data, headers={"Content-Type": content_type})
    assert response.status == status
    assert fragment in (await response.json())["error"]


async def test_a_bad_hotword_is_a_400(
    start_app: StartApp, make_settings: Callable[..., Settings], phrase_audio: np.ndarray
) -> None:
    client = await start_app(make_settings(model_dir=find_model_dir()))
    response = await client.post(
        "/v1/recognize?hotword=card:99",
        data=_wav(phrase_audio),
        headers={"Content-Type": "audio/wav"},
    )
    assert response.status == 400
    assert "boost" in (await response.json())["error"]


async def test_readiness_names_the_missing_model_file_and_the_setting(
    start_app: StartApp, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    client = await start_app(make_settings(model_dir=tmp_path))
    for _ in range(100):
        response = await client.get("/readyz")
        problem = (await response.json()).get("problems", {}).get("model", "")
        if "missing" in problem:
            break
        await asyncio.sleep(0.05)
    assert response.status == 503
    assert "model.onnx" in problem and "IVR_MODEL_DIR" in problem
    recognize = await client.post(
        "/v1/recognize", data=b"\x00" * 100, headers={"Content-Type": "audio/pcmu"}
    )
    assert recognize.status == 503
    assert "model.onnx" in (await recognize.json())["error"]


async def test_readiness_passes_the_model_check_once_loaded(
    start_app: StartApp, make_settings: Callable[..., Settings]
) -> None:
    client = await _ready_client(start_app, make_settings(model_dir=find_model_dir()))
    response = await client.get("/readyz")
    assert "model" not in (await response.json()).get("problems", {})


async def test_recognition_metrics_appear_on_the_app_registry(
    start_app: StartApp, make_settings: Callable[..., Settings], phrase_audio: np.ndarray
) -> None:
    client = await _ready_client(start_app, make_settings(model_dir=find_model_dir()))
    await client.post(
        "/v1/recognize", data=_wav(phrase_audio), headers={"Content-Type": "audio/wav"}
    )
    # a file's VAD windows run on the spot; a live stream's, arriving at the pace of speech,
    # go through the VAD batcher
    async with client.ws_connect("/v1/stream") as ws:
        await ws.send_str(json.dumps({"type": "config", "encoding": "pcmu"}))
        for frame in mulaw_frames(phrase_audio)[:25]:
            await ws.send_bytes(frame)
            await asyncio.sleep(0.02)
        await ws.send_str(json.dumps({"type": "end"}))
        async for _ in ws:
            pass
    text = await (await client.get("/metrics")).text()
    for name in (
        "ivr_recognizer_batch_size_windows_count",
        "ivr_recognizer_queue_wait_seconds_count",
        "ivr_recognizer_inference_seconds_count",
        "ivr_recognizer_decode_seconds_count",
        "ivr_recognizer_real_time_factor_ratio_count",
        "ivr_recognizer_final_latency_seconds_count",
        "ivr_recognizer_vad_batch_size_windows_count",
    ):
        line = next(line for line in text.splitlines() if line.startswith(name))
        assert float(line.split()[-1]) >= 1, line
    assert "ivr_recognizer_active_streams 0.0" in text
