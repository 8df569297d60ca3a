"""G.711 mu-law and A-law as 256-entry numpy tables (ITU-T G.711; no `audioop`, gone in 3.13).

Decoding is one table lookup; encoding builds a 65536-entry table once (the codec is a pure
function of the 16-bit sample), so a 20 ms frame costs one `take`.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

Pcm = npt.NDArray[np.int16]

_BIAS = 0x84
_CLIP = 32635


def _ulaw_decode_table() -> Pcm:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _alaw_decode_table() -> Pcm:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1)
    )
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


ULAW_TO_PCM = _ulaw_decode_table()
ALAW_TO_PCM = _alaw_decode_table()


def _ulaw_encode(samples: npt.NDArray[np.int32]) -> npt.NDArray[np.uint8]:
    sign = np.where(samples < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(samples), _CLIP) + _BIAS
    exponent = np.floor(np.log2(np.maximum(magnitude, 1))).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return np.asarray(~(sign | (exponent << 4) | mantissa) & 0xFF, dtype=np.uint8)


def _alaw_encode(samples: npt.NDArray[np.int32]) -> npt.NDArray[np.uint8]:
    sign = np.where(samples >= 0, 0x80, 0)
    magnitude = np.minimum(np.abs(samples), 32767) >> 3
    exponent = np.clip(np.floor(np.log2(np.maximum(magnitude, 1))).astype(np.int32) - 4, 0, 7)
    mantissa = np.where(exponent == 0, magnitude >> 1, magnitude >> exponent) & 0x0F
    return np.asarray((sign | (exponent << 4) | mantissa) ^ 0x55, dtype=np.uint8)


@functools.cache
def _encode_table(law: str) -> npt.NDArray[np.uint8]:
    samples = np.arange(-32768, 32768, dtype=np.int32)
    return _ulaw_encode(samples) if law == "ulaw" else _alaw_encode(samples)


def ulaw_to_pcm(data: bytes) -> Pcm:
    return ULAW_TO_PCM[np.frombuffer(data, dtype=np.uint8)]


def alaw_to_pcm(data: bytes) -> Pcm:
    return ALAW_TO_PCM[np.frombuffer(data, dtype=np.uint8)]


def pcm_to_ulaw(samples: Pcm) -> bytes:
    return bytes(_encode_table("ulaw")[samples.astype(np.int32) + 32768].tobytes())


def pcm_to_alaw(samples: Pcm) -> bytes:
    return bytes(_encode_table("alaw")[samples.astype(np.int32) + 32768].tobytes())
