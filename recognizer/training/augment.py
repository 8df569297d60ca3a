"""The telephone channel: clean 16 kHz TTS -> what a caller sounds like -> 16 kHz model input.

The model serves 8 kHz calls upsampled to 16 kHz, so every training clip goes down to 8 kHz,
through room, noise, line band, codec (mu-law, A-law or GSM 06.10) and packet loss, and back up
with the same resampler (``features.to_model_rate``) that serving uses.
"""

from __future__ import annotations

import glob
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr

from recognizer.features import MODEL_SAMPLE_RATE, to_model_rate

LINE_RATE = 8000
PACKET = 160  # 20 ms at 8 kHz
MOH_GLOB = "/usr/share/asterisk/moh/*.wav"

Audio = npt.NDArray[np.float32]


def _f32(x: Any) -> Audio:
    out: Audio = np.asarray(x, dtype=np.float32)
    return out


@dataclass(frozen=True)
class ChannelConfig:
    """Probabilities and ranges of each impairment."""

    reverb_p: float = 0.3
    noise_p: float = 0.7
    snr_db: tuple[float, float] = (3.0, 30.0)
    codec_p: float = 0.8
    drop_p: float = 0.3
    drop_rate: tuple[float, float] = (0.005, 0.04)
    clip_p: float = 0.1
    noise_kinds: tuple[str, ...] = ("babble", "street", "office", "hum", "music", "white")


@dataclass
class NoiseBank:
    """Sources for noise that needs real material: other TTS clips (babble) and hold music."""

    babble_clips: list[Audio] = field(default_factory=list)
    music: list[Audio] = field(default_factory=list)

    @classmethod
    def load(cls, babble_paths: list[str], rng: np.random.Generator) -> NoiseBank:
        bank = cls()
        for path in babble_paths:
            bank.babble_clips.append(_load_line_rate(path))
        for path in sorted(glob.glob(MOH_GLOB)):
            bank.music.append(_load_line_rate(path)[: LINE_RATE * 120])
        return bank


def _load_line_rate(path: str) -> Audio:
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    return np.asarray(soxr.resample(mono, rate, LINE_RATE), dtype=np.float32)


def _fit(noise: Audio, length: int, rng: np.random.Generator) -> Audio:
    if len(noise) < length:
        noise = np.tile(noise, length // max(len(noise), 1) + 1)
    start = int(rng.integers(0, len(noise) - length + 1))
    return noise[start : start + length]


def _colored(length: int, exponent: float, rng: np.random.Generator) -> Audio:
    """Noise with a 1/f^exponent power spectrum (0 white, 1 pink, 2 brown)."""
    spec = np.fft.rfft(rng.standard_normal(length))
    freqs = np.maximum(np.fft.rfftfreq(length), 1.0 / length)
    out = np.fft.irfft(spec / freqs ** (exponent / 2), n=length)
    return (out / (np.std(out) + 1e-9)).astype(np.float32)


def _noise(kind: str, length: int, bank: NoiseBank, rng: np.random.Generator) -> Audio:
    t = np.arange(length) / LINE_RATE
    if kind == "babble" and bank.babble_clips:
        picks = rng.choice(len(bank.babble_clips), size=int(rng.integers(3, 7)))
        return _f32(np.sum([_fit(bank.babble_clips[i], length, rng) for i in picks], axis=0))
    if kind == "music" and bank.music:
        return _fit(bank.music[int(rng.integers(len(bank.music)))], length, rng)
    if kind == "street":
        rumble = _colored(length, 2.0, rng)
        swell = 1.0 + 0.8 * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t)
        return _f32(rumble * swell + 0.3 * _colored(length, 1.0, rng))
    if kind == "office":
        base = _colored(length, 1.0, rng)
        clicks = (rng.random(length) < 0.002) * rng.standard_normal(length) * 8.0
        tone = 0.3 * np.sin(2 * np.pi * rng.uniform(300, 1500) * t) * (rng.random() < 0.3)
        return _f32(base + clicks + tone)
    if kind == "hum":
        mains = rng.choice([50.0, 60.0])
        return _f32(
            np.sum(
                [np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 8)],
                axis=0,
            )
        )
    return rng.standard_normal(length).astype(np.float32)


def _reverb(audio: Audio, rng: np.random.Generator) -> Audio:
    """Convolve with a synthetic room: exponentially decaying noise, RT60 0.1-0.6 s."""
    rt60 = rng.uniform(0.1, 0.6)
    n = int(rt60 * LINE_RATE)
    ir = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    ir[0] = rng.uniform(1.0, 4.0)  # the direct path
    wet = np.convolve(audio, ir)[: len(audio)]
    return _f32(wet * (np.std(audio) / (np.std(wet) + 1e-9)))


def _line_band(audio: Audio, rng: np.random.Generator) -> Audio:
    """A random telephone passband around 300-3400 Hz with a little ripple and tilt."""
    spec = np.fft.rfft(audio)
    freqs = np.fft.rfftfreq(len(audio), 1.0 / LINE_RATE)
    low, high = rng.uniform(150, 450), rng.uniform(2900, 3700)
    gain = 1.0 / (1.0 + (low / np.maximum(freqs, 1.0)) ** (2 * rng.integers(1, 4)))
    gain /= 1.0 + (freqs / high) ** (2 * rng.integers(2, 6))
    tilt_db = rng.uniform(-6, 6) * (freqs / 4000.0)
    ripple_db = rng.uniform(0, 3) * np.sin(2 * np.pi * freqs / rng.uniform(400, 1500))
    gain *= 10 ** ((tilt_db + ripple_db) / 20)
    return np.fft.irfft(spec * gain, n=len(audio)).astype(np.float32)


def _g711(audio: Audio, law: str) -> Audio:
    """Companded 8-bit round trip (mu-law or A-law curve, 256 levels)."""
    x = np.clip(audio, -1.0, 1.0)
    if law == "mu":
        mu = 255.0
        y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
        q = np.round(y * 127.5) / 127.5
        return _f32(np.sign(q) * np.expm1(np.abs(q) * np.log1p(mu)) / mu)
    a = 87.6
    ax = np.abs(x)
    small = ax < 1 / a
    y = np.where(small, a * ax, 1 + np.log(np.maximum(a * ax, 1e-12))) / (1 + np.log(a))
    q = np.round(y * 127.5) / 127.5
    inv = np.where(q < 1 / (1 + np.log(a)), q * (1 + np.log(a)) / a,
                   np.exp(q * (1 + np.log(a)) - 1) / a)  # fmt: skip
    return _f32(np.sign(x) * inv)


def _gsm(audio: Audio) -> Audio:
    """GSM 06.10 full-rate round trip (libsndfile's codec, as mobile legs of a call sound)."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1.0, 1.0), LINE_RATE, format="WAV", subtype="GSM610")
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float32")
    return _f32(decoded[: len(audio)])


def _drop_packets(audio: Audio, rate: float, rng: np.random.Generator) -> Audio:
    out = audio.copy()
    for start in range(0, len(out), PACKET):
        if rng.random() < rate:
            if rng.random() < 0.5 or start == 0:
                out[start : start + PACKET] = 0.0
            else:  # naive concealment: repeat the previous packet
                seg = out[start - PACKET : start][: len(out[start : start + PACKET])]
                out[start : start + len(seg)] = seg
    return out


def telephone(
    clean_16k: Audio, bank: NoiseBank, rng: np.random.Generator, config: ChannelConfig
) -> Audio:
    """Clean 16 kHz speech -> 16 kHz audio that went through a random phone call."""
    return to_model_rate(telephone_8k(clean_16k, bank, rng, config), LINE_RATE)


def telephone_8k(
    clean_16k: Audio, bank: NoiseBank, rng: np.random.Generator, config: ChannelConfig
) -> Audio:
    """Clean 16 kHz speech -> the 8 kHz audio a gateway would deliver."""
    x = np.asarray(soxr.resample(clean_16k, MODEL_SAMPLE_RATE, LINE_RATE), dtype=np.float32)
    speech_rms = float(np.sqrt(np.mean(x**2)) + 1e-9)
    if rng.random() < config.reverb_p:
        x = _reverb(x, rng)
    if rng.random() < config.noise_p:
        kind = str(rng.choice(config.noise_kinds))
        noise = _noise(kind, len(x), bank, rng)
        snr = rng.uniform(*config.snr_db)
        noise_rms = float(np.sqrt(np.mean(noise**2)) + 1e-9)
        x = x + noise * (speech_rms / noise_rms) * 10 ** (-snr / 20)
    x = _line_band(x, rng)
    peak = float(np.max(np.abs(x)) + 1e-9)
    x = x * (rng.uniform(0.05, 0.9) / peak)
    if rng.random() < config.clip_p:
        x = np.clip(x * rng.uniform(1.5, 4.0), -1.0, 1.0)
    if rng.random() < config.codec_p:
        codec = rng.random()
        x = _g711(x, "mu" if codec < 0.5 else "a") if codec < 0.8 else _gsm(x)
    if rng.random() < config.drop_p:
        x = _drop_packets(x, rng.uniform(*config.drop_rate), rng)
    return x.astype(np.float32)


def plain_line(clean_16k: Audio) -> Audio:
    """The channel without impairments: 8 kHz round trip only (for clean dev numbers)."""
    x = np.asarray(soxr.resample(clean_16k, MODEL_SAMPLE_RATE, LINE_RATE), dtype=np.float32)
    return to_model_rate(x, LINE_RATE)
