"""Recognizer fixtures: the model folder, synthesized telephone speech, an open recognizer."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soxr

from recognizer.audio import encode_mulaw, load_audio, to_int16
from recognizer.features import MODEL_SAMPLE_RATE
from recognizer.transcribe import Recognizer, RecognizerOptions

REPO = Path(__file__).resolve().parents[2]
SHIPPED_MODEL = REPO / "recognizer" / "models" / "default"
HANDOFF_MODEL = Path("/work/shared-model/default")
TELEPHONE_RATE = 8000


def find_model_dir() -> Path:
    """The shipped model, else the model engineer's hand-off folder (removed after the merge)."""
    override = os.environ.get("IVR_TEST_MODEL_DIR")
    if override:
        return Path(override)
    if (SHIPPED_MODEL / "model.onnx").is_file():
        return SHIPPED_MODEL
    return HANDOFF_MODEL


@pytest.fixture(scope="session")
def model_dir() -> Path:
    path = find_model_dir()
    if not (path / "model.onnx").is_file():
        pytest.fail(f"no model: put model.onnx, labels.json, lm.bin, ... in {SHIPPED_MODEL}")
    return path


Speak = Callable[..., npt.NDArray[np.float32]]


@pytest.fixture(scope="session")
def speak(tmp_path_factory: pytest.TempPathFactory) -> Speak:
    """Text -> float32 speech at 8 kHz (espeak-ng, band-limited by the downsampling)."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        pytest.fail("espeak-ng is not installed: apt-get install espeak-ng")
    folder = tmp_path_factory.mktemp("speech")
    cache: dict[tuple[str, str, int], npt.NDArray[np.float32]] = {}

    def say(text: str, voice: str = "en-us", speed: int = 150) -> npt.NDArray[np.float32]:
        key = (text, voice, speed)
        if key not in cache:
            path = folder / f"{len(cache)}.wav"
            subprocess.run(
                [binary, "-v", voice, "-s", str(speed), "-w", str(path), text],
                check=True,
                capture_output=True,
            )
            audio16 = load_audio(path)
            audio = soxr.resample(audio16, MODEL_SAMPLE_RATE, TELEPHONE_RATE).astype(np.float32)
            cache[key] = (0.7 * audio / max(1e-3, float(np.abs(audio).max()))).astype(np.float32)
        return cache[key]

    return say


def with_silence(
    audio: npt.NDArray[np.float32], before_s: float = 0.5, after_s: float = 1.0
) -> npt.NDArray[np.float32]:
    """Pad speech with quiet noise, as a telephone line has between utterances."""
    rng = np.random.default_rng(len(audio))
    pre = (0.001 * rng.standard_normal(int(before_s * TELEPHONE_RATE))).astype(np.float32)
    post = (0.001 * rng.standard_normal(int(after_s * TELEPHONE_RATE))).astype(np.float32)
    return np.concatenate([pre, audio, post])


def mulaw_frames(audio: npt.NDArray[np.float32], frame_ms: int = 20) -> list[bytes]:
    data = encode_mulaw(to_int16(audio))
    step = TELEPHONE_RATE * frame_ms // 1000
    return [data[i : i + step] for i in range(0, len(data), step)]


@pytest.fixture
async def recognizer(model_dir: Path) -> AsyncIterator[Recognizer]:
    opened = await Recognizer.open(model_dir, RecognizerOptions(beam_width=16))
    yield opened
    await opened.close()
