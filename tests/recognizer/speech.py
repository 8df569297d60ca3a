"""Test speech and the model folder, shared by the recognizer and API tests (not fixtures)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr

from recognizer.audio import encode_mulaw, load_audio, to_int16
from recognizer.features import MODEL_SAMPLE_RATE

REPO = Path(__file__).resolve().parents[2]
SHIPPED_MODEL = REPO / "recognizer" / "models" / "default"
TELEPHONE_RATE = 8000
Audio = npt.NDArray[np.float32]


def find_model_dir() -> Path:
    """The shipped model, or another one named by `IVR_TEST_MODEL_DIR` (to test a candidate)."""
    override = os.environ.get("IVR_TEST_MODEL_DIR")
    return Path(override) if override else SHIPPED_MODEL


def synthesize(text: str, path: Path, voice: str = "en-us", speed: int = 150) -> Path:
    """espeak-ng speech as a WAV file at its own rate (22.05 kHz)."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise RuntimeError("espeak-ng is not installed: apt-get install espeak-ng")
    subprocess.run(
        [binary, "-v", voice, "-s", str(speed), "-w", str(path), text],
        check=True,
        capture_output=True,
    )
    return path


def telephone(path: Path) -> Audio:
    """A speech file as 8 kHz telephone audio, normalised to a typical level."""
    audio = soxr.resample(load_audio(path), MODEL_SAMPLE_RATE, TELEPHONE_RATE)
    peak = max(1e-3, float(np.abs(audio).max()))
    return np.asarray(0.7 * audio / peak, dtype=np.float32)


def with_silence(audio: Audio, before_s: float = 0.5, after_s: float = 1.0) -> Audio:
    """Pad speech with faint noise, as a telephone line has between utterances."""
    rng = np.random.default_rng(len(audio))
    pre = 0.001 * rng.standard_normal(int(before_s * TELEPHONE_RATE))
    post = 0.001 * rng.standard_normal(int(after_s * TELEPHONE_RATE))
    return np.concatenate([pre, audio, post]).astype(np.float32)


def mulaw_frames(audio: Audio, frame_ms: int = 20) -> list[bytes]:
    data = encode_mulaw(to_int16(audio))
    step = TELEPHONE_RATE * frame_ms // 1000
    return [data[i : i + step] for i in range(0, len(data), step)]


def l16_bytes(audio: Audio) -> bytes:
    return to_int16(audio).astype("<i2").tobytes()
