"""The simulated telephone channel."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from recognizer.features import MODEL_SAMPLE_RATE
from recognizer.training.augment import ChannelConfig, NoiseBank, _g711, _gsm, telephone


def _tone_mix() -> npt.NDArray[np.float32]:
    t = np.arange(MODEL_SAMPLE_RATE) / MODEL_SAMPLE_RATE
    mix: npt.NDArray[np.float32] = (
        0.3 * np.sin(2 * np.pi * 1000 * t) + 0.3 * np.sin(2 * np.pi * 6000 * t)
    ).astype(np.float32)
    return mix


def test_telephone_keeps_length_and_removes_energy_above_4_khz() -> None:
    rng = np.random.default_rng(0)
    out = telephone(_tone_mix(), NoiseBank(), rng, ChannelConfig(noise_p=0.0, reverb_p=0.0))
    assert abs(len(out) - MODEL_SAMPLE_RATE) <= 2
    assert np.isfinite(out).all() and np.abs(out).max() <= 1.0
    spectrum = np.abs(np.fft.rfft(out)) ** 2
    freqs = np.fft.rfftfreq(len(out), 1 / MODEL_SAMPLE_RATE)
    assert spectrum[freqs > 4100].sum() < 1e-3 * spectrum.sum()


def test_g711_round_trip_is_close_for_both_laws() -> None:
    x = np.linspace(-0.9, 0.9, 2001).astype(np.float32)
    for law in ("mu", "a"):
        y = _g711(x, law)
        assert np.max(np.abs(y - x)) < 0.03
        assert np.all(np.sign(y[x != 0]) == np.sign(x[x != 0]))


def test_gsm_round_trip_keeps_length_and_a_voice_band_tone_but_is_lossy() -> None:
    t = np.arange(8000) / 8000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    out = _gsm(tone)
    assert len(out) == len(tone) and out.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(out[800:])) ** 2
    freqs = np.fft.rfftfreq(len(out) - 800, 1 / 8000)
    assert spectrum[np.abs(freqs - 440) < 20].sum() > 0.8 * spectrum.sum()
    assert float(np.mean(np.abs(out - tone))) > 1e-4  # a real codec, not a copy
