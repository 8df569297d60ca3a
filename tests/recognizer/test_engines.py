"""Engines: ONNX Runtime and TorchScript give the same transcripts on the CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recognizer.engines import TORCHSCRIPT_FILE, EngineOptions, OnnxEngine, open_engine
from recognizer.errors import ModelError
from recognizer.transcribe import Recognizer, RecognizerOptions
from tests.recognizer.conftest import Speak
from tests.recognizer.speech import SHIPPED_MODEL, TELEPHONE_RATE, with_silence

PHRASES = ["i lost my credit card", "my account number is four two seven one"]


def _fp32_model_dir(model_dir: Path, tmp_path: Path) -> Path:
    """A model folder whose `model.onnx` is the float32 export and which holds the TorchScript
    file, both from the same weights: the int8 `model.onnx` is a different model (its parity is
    checked by transcripts in the model's own tests). Missing files are exported here from the
    fp16 checkpoint with the model engineer's exporter (needs torch)."""
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("labels.json", "config.json", "lm.bin", "unigrams.txt"):
        (folder / name).symlink_to(model_dir / name)
    fp32 = model_dir / "model.fp32.onnx"
    script = model_dir / TORCHSCRIPT_FILE
    if fp32.is_file():
        (folder / "model.onnx").symlink_to(fp32)
    if script.is_file():
        (folder / TORCHSCRIPT_FILE).symlink_to(script)
    if fp32.is_file() and script.is_file():
        return folder
    pytest.importorskip("torch")
    from recognizer.training.export import (
        CHECKPOINT_NAME,
        export_onnx,
        export_torchscript,
        model_from_run,
    )

    checkpoint = next(
        (
            d / CHECKPOINT_NAME
            for d in (model_dir, SHIPPED_MODEL)
            if (d / CHECKPOINT_NAME).is_file()
        ),
        None,
    )
    if checkpoint is None:
        pytest.fail(f"no {CHECKPOINT_NAME} in {model_dir} to export the float32 engines from")
    model = model_from_run(checkpoint)
    if not fp32.is_file():
        export_onnx(model, folder / "model.onnx")
    if not script.is_file():
        export_torchscript(model, folder / TORCHSCRIPT_FILE)
    return folder


async def test_onnx_and_torchscript_engines_give_the_same_transcripts(
    model_dir: Path, speak: Speak, tmp_path: Path
) -> None:
    model_dir = _fp32_model_dir(model_dir, tmp_path)
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
