"""Engines: ONNX Runtime and TorchScript give the same transcripts on the CPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recognizer.engines import TORCHSCRIPT_FILE, EngineOptions, OnnxEngine, open_engine
from recognizer.errors import ModelError
from recognizer.transcribe import Recognizer, RecognizerOptions
from tests.recognizer.conftest import Speak
from tests.recognizer.speech import REPO, TELEPHONE_RATE, with_silence

PHRASES = ["i lost my credit card", "my account number is four two seven one"]


def _ensure_torchscript(model_dir: Path) -> None:
    """The TorchScript file is exported from the checkpoint on demand (git-ignored)."""
    if (model_dir / TORCHSCRIPT_FILE).is_file():
        return
    pytest.importorskip("torch")
    result = subprocess.run(
        [sys.executable, "-m", "recognizer.training", "export", "--torchscript",
         "--model-dir", str(model_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if result.returncode != 0 or not (model_dir / TORCHSCRIPT_FILE).is_file():
        pytest.fail(f"cannot export {TORCHSCRIPT_FILE}: {result.stderr[-2000:]}")


async def test_onnx_and_torchscript_engines_give_the_same_transcripts(
    model_dir: Path, speak: Speak
) -> None:
    _ensure_torchscript(model_dir)
    transcripts: dict[str, list[str]] = {}
    for engine in ("onnx", "torchscript"):
        options = RecognizerOptions(engine=EngineOptions(engine=engine, device="cpu"))
        recognizer = await Recognizer.open(model_dir, options)
        try:
            transcripts[engine] = [
                (await recognizer.transcribe(with_silence(speak(p)), TELEPHONE_RATE)).text
                for p in PHRASES
            ]
        finally:
            await recognizer.close()
    assert transcripts["onnx"] == transcripts["torchscript"]
    assert all(transcripts["onnx"])


def test_onnx_engine_maps_features_to_log_probs(model_dir: Path) -> None:
    engine = OnnxEngine(model_dir, EngineOptions(device="cpu", intra_op_threads=1))
    out = engine.forward(np.zeros((2, 80, 100), dtype=np.float32))
    assert out.shape[0] == 2 and out.shape[1] == 50
    np.testing.assert_allclose(np.exp(out).sum(axis=-1), 1.0, atol=1e-3)
    assert engine.device == "cpu"


def test_a_missing_model_file_names_the_file_and_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"model\.onnx is missing.*IVR_MODEL_DIR"):
        open_engine(tmp_path, EngineOptions())


def test_a_broken_model_file_is_a_model_error(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load"):
        open_engine(tmp_path, EngineOptions(device="cpu"))
