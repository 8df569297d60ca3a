"""Recognizer fixtures: the model folder, synthesized telephone speech, an open recognizer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from recognizer.transcribe import Recognizer, RecognizerOptions
from tests.recognizer.speech import SHIPPED_MODEL, find_model_dir, synthesize, telephone

Speak = Callable[..., npt.NDArray[np.float32]]


@pytest.fixture(scope="session")
def model_dir() -> Path:
    path = find_model_dir()
    if not (path / "model.onnx").is_file():
        pytest.fail(f"no model: put model.onnx, labels.json, lm.bin, ... in {SHIPPED_MODEL}")
    return path


@pytest.fixture(scope="session")
def speak(tmp_path_factory: pytest.TempPathFactory) -> Speak:
    """Text -> float32 telephone speech at 8 kHz (espeak-ng), cached for the session."""
    folder = tmp_path_factory.mktemp("speech")
    cache: dict[tuple[str, str, int], npt.NDArray[np.float32]] = {}

    def say(text: str, voice: str = "en-us", speed: int = 150) -> npt.NDArray[np.float32]:
        key = (text, voice, speed)
        if key not in cache:
            cache[key] = telephone(synthesize(text, folder / f"{len(cache)}.wav", voice, speed))
        return cache[key]

    return say


@pytest.fixture
async def recognizer(model_dir: Path) -> AsyncIterator[Recognizer]:
    opened = await Recognizer.open(model_dir, RecognizerOptions(beam_width=16))
    yield opened
    await opened.close()
