"""In-band DTMF: every key, Q.24 timing, twist and frequency tolerance, noise, and talk-off."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
import soxr

from ivr.gateways.dtmf import HIGH, LOW, DtmfDetector, tones
from ivr.prompts import EspeakTts

ALL_KEYS = "0123456789*#ABCD"


def detect(samples: npt.NDArray[np.int16], rate: int, chunk_ms: int = 20) -> str:
    detector = DtmfDetector(rate)
    step = rate * chunk_ms // 1000
    return "".join(
        "".join(detector.feed(samples[i : i + step])) for i in range(0, len(samples), step)
    )


def pair(low: float, high: float, ms: int, rate: int = 8000) -> npt.NDArray[np.int16]:
    t = np.arange(rate * ms // 1000) / rate
    wave = 5000 * (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t))
    silence = np.zeros(rate // 10)
    return np.asarray(np.concatenate([silence, wave, silence]), dtype=np.int16)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_every_key_at_q24_minimum_timing_is_detected_once(rate: int) -> None:
    # Q.24: 40 ms tones separated by 40 ms pauses must all be recognized
    assert detect(tones(ALL_KEYS, rate, on_ms=40, off_ms=40), rate) == ALL_KEYS


def test_chunking_does_not_change_what_is_detected() -> None:
    signal = tones("159#", 8000)
    assert detect(signal, 8000, chunk_ms=7) == detect(signal, 8000, chunk_ms=100) == "159#"


def test_a_held_key_counts_once_and_repeated_keys_count_each_time() -> None:
    assert detect(tones("5", 8000, on_ms=900), 8000) == "5"
    assert detect(tones("555", 8000, on_ms=60, off_ms=50), 8000) == "555"


@pytest.mark.parametrize("ms", [10, 20])
def test_short_bursts_are_not_keys(ms: int) -> None:
    assert detect(tones("1234", 8000, on_ms=ms, off_ms=80), 8000) == ""


@pytest.mark.parametrize(
    ("twist", "found"), [(-8, "159"), (0, "159"), (4, "159"), (-12, ""), (7, "")]
)
def test_twist_within_q24_tolerance_passes_and_beyond_fails(twist: float, found: str) -> None:
    assert detect(tones("159", 8000, twist_db=twist), 8000) == found


@pytest.mark.parametrize(
    ("deviation", "found"), [(0.015, "1"), (-0.015, "1"), (0.035, ""), (-0.035, "")]
)
def test_frequency_tolerance(deviation: float, found: str) -> None:
    signal = pair(LOW[0] * (1 + deviation), HIGH[0] * (1 + deviation), 80)
    assert detect(signal, 8000) == found


def test_quiet_keys_at_minus_30_dbfs_are_detected() -> None:
    assert detect(tones("42", 8000, level_dbfs=-30), 8000) == "42"


@pytest.mark.parametrize("snr_db", [20, 10])
def test_keys_in_white_noise(snr_db: float) -> None:
    rng = np.random.default_rng(7)
    clean = tones("2580", 8000).astype(np.float64)
    power = np.mean(clean[clean != 0] ** 2)
    noisy = clean + rng.normal(0, np.sqrt(power / 10 ** (snr_db / 10)), len(clean))
    assert detect(np.clip(noisy, -32768, 32767).astype(np.int16), 8000) == "2580"


def test_noise_alone_is_not_a_key() -> None:
    rng = np.random.default_rng(3)
    assert detect(rng.normal(0, 3000, 8000 * 5).astype(np.int16), 8000) == ""


def speech(rate: int) -> npt.NDArray[np.int16]:
    tts = EspeakTts()
    lines = [
        "Hello, I would like to talk about my bill from last month, please.",
        "One two three four five six seven eight nine zero.",
        "Yes, that's right. No, the technical support line, the sales department.",
        "Mmmm, ooooh, eeee, aaah, I see, hmm.",
    ]
    parts = []
    for voice in ("en-us", "en", "en-us+f3", "en-us+m7", "en-gb-scotland"):
        for line in lines:
            clip = tts.synthesize(line, voice)
            parts.append(soxr.resample(clip.samples.astype(np.float32), clip.sample_rate, rate))
    return np.asarray(np.clip(np.concatenate(parts) * 2, -32768, 32767), dtype=np.int16)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_talk_off_speech_produces_no_keys(rate: int) -> None:
    assert detect(speech(rate), rate) == ""


def test_keys_over_speech_are_still_detected() -> None:
    voice = speech(8000)[: 8000 * 3].astype(np.float64) * 0.1
    keys = tones("73", 8000, on_ms=100, off_ms=400).astype(np.float64)
    mixed = voice[: len(keys)] + keys
    assert detect(np.clip(mixed, -32768, 32767).astype(np.int16), 8000) == "73"
