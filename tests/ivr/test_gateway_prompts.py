"""Prompts: recorded files per key and locale, embedded TTS, conversion per gateway format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from dialogs.actions import Say
from ivr.gateways import g711
from ivr.prompts import AudioFormat, Clip, Prompts, convert

ULAW_8K = AudioFormat("pcmu", 8000)
L16_16K = AudioFormat("l16", 16000)


class CountingTts:
    """A TTS engine that counts its calls: to see what the cache saves (it is not ours)."""

    def __init__(self) -> None:
        self.calls = 0

    def synthesize(self, text: str, voice: str) -> Clip:
        self.calls += 1
        return Clip(np.full(22050, 1000, dtype=np.int16), 22050)


async def test_recorded_prompt_is_used_and_converted_to_the_gateway_rate(tmp_path: Path) -> None:
    tone = (np.sin(np.arange(48000) * 2 * np.pi * 440 / 48000) * 8000).astype(np.int16)
    soundfile.write(tmp_path / "welcome.en-US.wav", tone, 48000)
    prompts = Prompts(tmp_path, CountingTts())
    audio = await prompts.render(Say("ignored", prompt_key="welcome"), ULAW_8K)
    assert len(audio) == 8000  # one second of 8 kHz mu-law
    decoded = g711.ulaw_to_pcm(audio).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(decoded[1000:7000]))
    assert abs(np.argmax(spectrum) * 8000 / 6000 - 440) < 5
    wide = await prompts.render(Say("ignored", prompt_key="welcome"), L16_16K)
    assert len(wide) == 32000


async def test_missing_recording_falls_back_to_tts_and_tts_is_cached(tmp_path: Path) -> None:
    tts = CountingTts()
    prompts = Prompts(tmp_path, tts)
    say = Say("Hello there", prompt_key="nothing_recorded")
    first = await prompts.render(say, ULAW_8K)
    second = await prompts.render(say, ULAW_8K)
    assert first == second and len(first) == 8000
    assert tts.calls == 1


async def test_embedded_espeak_speaks_text() -> None:
    audio = await Prompts(None).render(Say("Which department would you like?"), L16_16K)
    samples = np.frombuffer(audio, dtype="<i2")
    assert len(samples) > 16000 * 0.8
    assert np.sqrt(np.mean(samples.astype(np.float64) ** 2)) > 300


def test_prompt_keys_cannot_escape_the_prompts_folder(tmp_path: Path) -> None:
    assert Prompts(tmp_path).recorded_path("../secret", "en-US") is None


def test_alaw_conversion_round_trips_within_g711_error() -> None:
    clip = Clip((np.sin(np.arange(800) / 5) * 10000).astype(np.int16), 8000)
    decoded = g711.alaw_to_pcm(convert(clip, AudioFormat("pcma", 8000)))
    assert np.max(np.abs(decoded.astype(int) - clip.samples)) < 10000 * 0.04
