"""Tenant hot words reach recognition: the admin store's phrases boost `/v1/recognize`."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import Any

import soundfile

from hotwords.store import HotwordStore, PhraseSpec
from ivr.api import RECOGNIZER
from ivr.api.hotwords import resolve_hotwords
from ivr.settings import Settings
from ivr.store import STORE
from recognizer.audio import to_int16
from recognizer.phrases import Hotword
from tests.recognizer.speech import (
    TELEPHONE_RATE,
    find_model_dir,
    synthesize,
    telephone,
    with_silence,
)
from tests.recognizer.test_transcribe import RARE_NAME, RARE_SENTENCE

StartApp = Callable[[Settings], Any]


async def _app_with_tenant(start_app: StartApp, settings: Settings, boost: float) -> Any:
    client = await start_app(settings)
    app = client.server.app
    store = HotwordStore(app[STORE].redis, settings.hotwords_max_per_tenant)
    await store.create_tenant("acme")
    await store.replace("acme", [PhraseSpec(RARE_NAME, boost), PhraseSpec("gold plan", 5.0)])
    await asyncio.wait_for(app[RECOGNIZER].wait_loaded(), 60)
    return client


async def test_a_request_gets_its_tenants_phrases_and_its_own_boost_wins(
    start_app: StartApp, make_settings: Callable[..., Settings]
) -> None:
    client = await _app_with_tenant(start_app, make_settings(model_dir=find_model_dir()), 15.0)
    app = client.server.app
    merged = await resolve_hotwords(app, "acme", [Hotword("gold plan", 12.0)])
    assert merged == (Hotword("gold plan", 12.0), Hotword(RARE_NAME, 15.0))
    assert await resolve_hotwords(app, None, []) == ()
    assert await resolve_hotwords(app, "nobody", []) == ()


async def test_tenant_hot_words_boost_recognize(
    start_app: StartApp, make_settings: Callable[..., Settings], tmp_path: Any
) -> None:
    client = await _app_with_tenant(start_app, make_settings(model_dir=find_model_dir()), 20.0)
    audio = with_silence(telephone(synthesize(RARE_SENTENCE, tmp_path / "rare.wav")))
    buffer = io.BytesIO()
    soundfile.write(buffer, to_int16(audio), TELEPHONE_RATE, format="WAV")
    texts = {}
    for tenant in ("", "acme"):
        response = await client.post(
            f"/v1/recognize?tenant={tenant}",
            data=buffer.getvalue(),
            headers={"Content-Type": "audio/wav"},
        )
        assert response.status == 200, await response.text()
        texts[tenant] = (await response.json())["text"]
    assert RARE_NAME not in texts[""].split()
    assert RARE_NAME in texts["acme"].split()
