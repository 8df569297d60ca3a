"""Feature extraction: shape, streaming equality and sample-rate handling."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from recognizer.features import HOP, MODEL_SAMPLE_RATE, N_FFT, log_mel, mel_filters, to_model_rate


def _noise(seconds: float, rate: int = MODEL_SAMPLE_RATE) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(0)
    return (0.1 * rng.standard_normal(int(seconds * rate))).astype(np.float32)


def test_log_mel_has_80_bins_and_one_frame_per_hop() -> None:
    audio = _noise(1.0)
    feats = log_mel(audio)
    assert feats.shape == (80, len(audio) // HOP)
    assert feats.dtype == np.float32


def test_chunk_features_equal_the_same_frames_of_the_whole_file() -> None:
    audio = _noise(3.0)
    whole = log_mel(audio)
    start_frame, n_frames = 50, 120
    chunk = audio[start_frame * HOP : (start_frame + n_frames) * HOP]
    part = log_mel(chunk)
    margin = N_FFT // HOP  # frames whose window reaches the chunk edges see reflect padding
    np.testing.assert_allclose(
        part[:, margin:-margin],
        whole[:, start_frame + margin : start_frame + n_frames - margin],
        atol=1e-5,
    )


def test_loudness_of_other_frames_does_not_change_a_frame() -> None:
    audio = _noise(2.0)
    louder = audio.copy()
    louder[: MODEL_SAMPLE_RATE // 2] *= 5.0
    np.testing.assert_allclose(log_mel(audio)[:, 100:], log_mel(louder)[:, 100:], atol=1e-5)


def test_mel_filters_are_slaney_normalised() -> None:
    filters = mel_filters()
    assert filters.shape == (80, N_FFT // 2 + 1)
    # librosa's first slaney filter for sr=16000, n_fft=400 peaks at 0.0246 (Whisper's assets).
    assert filters[0].max() == pytest.approx(0.02466, rel=1e-2)


def test_to_model_rate_upsamples_telephone_audio() -> None:
    audio = _noise(1.0, rate=8000)
    out = to_model_rate(audio, 8000)
    assert out.dtype == np.float32
    assert abs(len(out) - MODEL_SAMPLE_RATE) <= 2


def test_to_model_rate_is_identity_at_16k() -> None:
    audio = _noise(0.5)
    assert to_model_rate(audio, MODEL_SAMPLE_RATE) is not None
    np.testing.assert_array_equal(to_model_rate(audio, MODEL_SAMPLE_RATE), audio)


def test_log_mel_rejects_stereo() -> None:
    with pytest.raises(ValueError):
        log_mel(np.zeros((2, 1600), dtype=np.float32))
