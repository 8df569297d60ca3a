"""Audio in: G.711 and linear PCM frames, files, and resampling to the model rate.

Telephone audio arrives as 8-bit mu-law (PCMU) or A-law (PCMA), or 16-bit little-endian linear
PCM (L16), at 8, 16, 24 or 48 kHz. G.711 is decoded through 256-entry tables (ITU-T G.711
section 2; `audioop` is gone in Python 3.13). Everything leaves this module as float32 mono in
[-1, 1] at `MODEL_SAMPLE_RATE`, resampled by soxr, whose streaming resampler gives the same
samples as resampling the whole file at once.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
import soundfile
import soxr

from recognizer.errors import AudioFormatError
from recognizer.features import MODEL_SAMPLE_RATE

Encoding = Literal["l16", "pcmu", "pcma"]
ENCODINGS: tuple[str, ...] = get_args(Encoding)
SAMPLE_RATES = (8000, 16000, 24000, 48000)
FloatAudio = npt.NDArray[np.float32]


def _mulaw_table() -> npt.NDArray[np.int16]:
    """G.711 mu-law code -> 16-bit linear (the bits are sent inverted)."""
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> npt.NDArray[np.int16]:
    """G.711 A-law code -> 16-bit linear (even bits are sent inverted, XOR 0x55)."""
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


MULAW_TO_LINEAR = _mulaw_table()
ALAW_TO_LINEAR = _alaw_table()


def _encoder(table: npt.NDArray[np.int16]) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8]]:
    order = np.argsort(table, kind="stable")
    return table[order].astype(np.int32), order.astype(np.uint8)


def _encode(samples: npt.NDArray[np.int16], table: npt.NDArray[np.int16]) -> bytes:
    """Nearest G.711 level for each sample (used by tests and tools; the service only decodes)."""
    levels, codes = _encoder(table)
    x = samples.astype(np.int32)
    idx = np.clip(np.searchsorted(levels, x), 1, len(levels) - 1)
    nearer_left = (x - levels[idx - 1]) <= (levels[idx] - x)
    return bytes(codes[np.where(nearer_left, idx - 1, idx)])


def encode_mulaw(samples: npt.NDArray[np.int16]) -> bytes:
    return _encode(samples, MULAW_TO_LINEAR)


def encode_alaw(samples: npt.NDArray[np.int16]) -> bytes:
    return _encode(samples, ALAW_TO_LINEAR)


def to_int16(audio: FloatAudio) -> npt.NDArray[np.int16]:
    return np.asarray(np.clip(audio, -1.0, 1.0) * 32767.0, dtype=np.int16)


@dataclass(frozen=True)
class AudioFormat:
    """How a stream's bytes are encoded: `encoding` at `sample_rate` Hz, mono."""

    encoding: Encoding
    sample_rate: int

    @classmethod
    def parse(cls, encoding: str, sample_rate: int) -> AudioFormat:
        if encoding not in ENCODINGS:
            raise AudioFormatError(
                f"unknown audio encoding {encoding!r}: use one of {', '.join(ENCODINGS)}"
            )
        if sample_rate not in SAMPLE_RATES:
            raise AudioFormatError(
                f"unsupported sample rate {sample_rate}: use one of "
                + ", ".join(str(r) for r in SAMPLE_RATES)
            )
        return cls(encoding, sample_rate)  # type: ignore[arg-type]

    @property
    def bytes_per_sample(self) -> int:
        return 2 if self.encoding == "l16" else 1


def decode_bytes(data: bytes, encoding: Encoding) -> FloatAudio:
    """Raw frame bytes -> float32 samples in [-1, 1] at the frame's own rate."""
    if encoding == "l16":
        if len(data) % 2:
            raise AudioFormatError(
                f"odd-length L16 frame ({len(data)} bytes): 16-bit PCM needs an even byte count"
            )
        linear = np.frombuffer(data, dtype="<i2")
    else:
        table = MULAW_TO_LINEAR if encoding == "pcmu" else ALAW_TO_LINEAR
        linear = table[np.frombuffer(data, dtype=np.uint8)]
    return np.asarray(linear, dtype=np.float32) / 32768.0


class FrameDecoder:
    """One stream's decoder: bytes in its format -> float32 at the model rate, in order.

    The soxr stream keeps the resampler's filter state between frames, so the concatenated output
    equals resampling the whole recording at once.
    """

    def __init__(self, audio_format: AudioFormat) -> None:
        self.format = audio_format
        self._resampler: soxr.ResampleStream | None = None
        if audio_format.sample_rate != MODEL_SAMPLE_RATE:
            self._resampler = soxr.ResampleStream(
                audio_format.sample_rate, MODEL_SAMPLE_RATE, 1, dtype="float32", quality="HQ"
            )

    def feed(self, data: bytes) -> FloatAudio:
        return self.resample(decode_bytes(data, self.format.encoding))

    def resample(self, samples: FloatAudio, last: bool = False) -> FloatAudio:
        if self._resampler is None:
            return samples
        out = self._resampler.resample_chunk(samples, last=last)
        return np.asarray(out, dtype=np.float32)

    def flush(self) -> FloatAudio:
        """The resampler's last samples; call once at the end of the stream."""
        return self.resample(np.zeros(0, dtype=np.float32), last=True)


def resample_to_model_rate(samples: FloatAudio, rate: int) -> FloatAudio:
    """A whole recording to the model rate (same samples as a `FrameDecoder` fed in pieces)."""
    if rate == MODEL_SAMPLE_RATE:
        return np.asarray(samples, dtype=np.float32)
    if rate <= 0:
        raise AudioFormatError(f"sample rate must be positive, got {rate}")
    stream = soxr.ResampleStream(rate, MODEL_SAMPLE_RATE, 1, dtype="float32", quality="HQ")
    return np.asarray(stream.resample_chunk(samples.astype(np.float32), last=True), np.float32)


def read_audio(source: Path | bytes, name: str = "") -> tuple[FloatAudio, int]:
    """Any file soundfile reads (WAV, FLAC, OGG, ...) -> float32 mono and its sample rate."""
    label = name or (str(source) if isinstance(source, Path) else "request body")
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else source
        data, rate = soundfile.read(handle, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as exc:
        raise AudioFormatError(
            f"cannot read audio from {label}: {exc}; send WAV or FLAC, or raw audio with its "
            "encoding and rate"
        ) from None
    if data.shape[0] == 0:
        raise AudioFormatError(f"{label} holds no audio samples")
    mono: FloatAudio = data.mean(axis=1).astype(np.float32)
    return mono, int(rate)


def load_audio(source: Path | bytes, name: str = "") -> FloatAudio:
    """A file (or its bytes) as float32 mono at the model rate."""
    samples, rate = read_audio(source, name)
    return resample_to_model_rate(samples, rate)


def decode_raw(data: bytes, audio_format: AudioFormat) -> FloatAudio:
    """A whole raw recording (`audio/pcmu` etc.) at the model rate."""
    return resample_to_model_rate(
        decode_bytes(data, audio_format.encoding), audio_format.sample_rate
    )
