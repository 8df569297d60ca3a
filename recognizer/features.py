"""Whisper-compatible log-mel features, shared by training and serving.

Serving has no torch, so everything here is numpy (plus soxr for resampling). The
normalisation uses a fixed floor instead of Whisper's ``max - 8`` clamp: Whisper's clamp depends
on the loudest frame of the whole 30 s window, which would make the features of a streamed chunk
differ from the same frames of the whole file.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import soxr

MODEL_SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 80
#: log10 power floor; Whisper's clamp is ``max - 8`` and speech peaks near +1, so -7 matches it
#: for normally levelled speech while staying independent of the rest of the utterance.
LOG_FLOOR = -7.0

FloatArray = npt.NDArray[np.float32]


def _hz_to_mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Slaney's mel scale (librosa's default, ``htk=False``): linear below 1 kHz, log above."""
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    mels = hz / f_sp
    above = hz >= min_log_hz
    mels[above] = min_log_mel + np.log(hz[above] / min_log_hz) / logstep
    return mels


def _mel_to_hz(mels: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    hz = f_sp * mels
    above = mels >= min_log_mel
    hz[above] = min_log_hz * np.exp(logstep * (mels[above] - min_log_mel))
    return hz


@lru_cache(maxsize=4)
def mel_filters(
    sample_rate: int = MODEL_SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS
) -> FloatArray:
    """Slaney-normalised triangular filters, equal to ``librosa.filters.mel`` (Whisper's)."""
    fftfreqs = np.linspace(0.0, sample_rate / 2, 1 + n_fft // 2)
    mel_range = np.array([0.0, sample_rate / 2])
    low, high = _hz_to_mel(mel_range.copy())
    mel_f = _mel_to_hz(np.linspace(low, high, n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, None]
    out: FloatArray = weights.astype(np.float32)
    return out


@lru_cache(maxsize=2)
def _hann(n: int) -> npt.NDArray[np.float64]:
    """Periodic Hann window, as ``torch.hann_window`` builds it."""
    window: npt.NDArray[np.float64] = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
    return window


def power_spectrogram(audio: FloatArray) -> FloatArray:
    """Centred STFT power with reflect padding; like Whisper, the last frame is dropped.

    The result has ``len(audio) // HOP`` frames; frame ``t`` is centred on sample ``t * HOP``.
    """
    x = np.asarray(audio, dtype=np.float64)
    pad = N_FFT // 2
    if len(x) <= pad:
        x = np.pad(x, (0, pad + 1 - len(x)))
    x = np.pad(x, (pad, pad), mode="reflect")
    n_frames = 1 + (len(x) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(
        x, shape=(n_frames, N_FFT), strides=(x.strides[0] * HOP, x.strides[0])
    )
    spec = np.fft.rfft(frames * _hann(N_FFT), axis=1)
    power = spec.real**2 + spec.imag**2
    out: FloatArray = power[:-1].T.astype(np.float32)
    return out


def log_mel(audio: npt.NDArray[Any]) -> FloatArray:
    """Float32 mono audio at 16 kHz in [-1, 1] -> float32 log-mel of shape ``(80, frames)``.

    ``frames == len(audio) // HOP``. Frames whose 400-sample window lies inside a chunk that
    starts on a multiple of ``HOP`` equal the same frames computed on the whole file.
    """
    if audio.ndim != 1:
        raise ValueError(f"log_mel wants mono audio, got shape {audio.shape}")
    mel = mel_filters() @ power_spectrogram(audio.astype(np.float32))
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, LOG_FLOOR)
    out: FloatArray = ((log_spec + 4.0) / 4.0).astype(np.float32)
    return out


def to_model_rate(audio: npt.NDArray[Any], rate: int) -> FloatArray:
    """Resample float mono audio from ``rate`` to 16 kHz with soxr (identity at 16 kHz)."""
    x = np.asarray(audio, dtype=np.float32)
    if rate == MODEL_SAMPLE_RATE:
        return x
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    return np.asarray(soxr.resample(x, rate, MODEL_SAMPLE_RATE, quality="HQ"), dtype=np.float32)
