"""Acoustic model engines behind one interface: log-mel features in, CTC log-probabilities out.

`OnnxEngine` runs `model.onnx` with ONNX Runtime: the CUDA provider when a GPU is there (its
memory arena capped so a container stays inside its GPU share), else the CPU provider with an
explicit thread count (its default, one thread per core, fights the beam search on a small box).
`TorchScriptEngine` runs `model.torchscript.pt`; torch is imported only when it is chosen.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from recognizer.errors import EngineError, ModelError

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
ONNX_FILE = "model.onnx"
TORCHSCRIPT_FILE = "model.torchscript.pt"
LABELS_FILE = "labels.json"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class EngineOptions:
    """How to run the model: which engine, where, and with how many threads."""

    engine: Literal["onnx", "torchscript"] = "onnx"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    intra_op_threads: int = 2
    gpu_mem_limit_bytes: int = 1024**3


class Engine(Protocol):
    """`forward(features (B, 80, T)) -> log_probs (B, T_out, labels)`, thread-safe."""

    name: str
    device: str

    def forward(self, features: FloatArray) -> FloatArray: ...


def require_file(model_dir: Path, name: str) -> Path:
    path = model_dir / name
    if not path.is_file():
        raise ModelError(
            f"model file {path} is missing: point IVR_MODEL_DIR at a folder holding "
            f"{ONNX_FILE}, {LABELS_FILE}, {CONFIG_FILE}, lm.bin and unigrams.txt"
        )
    return path


def model_file(model_dir: Path, config: dict[str, Any], key: str, default: str) -> Path:
    """The file that ``config.json`` names under ``key`` (a path relative to the model folder,
    so a model may share another's LM, e.g. ``"lm_file": "../default/lm.bin"``), else
    ``default`` inside the folder."""
    name = config.get(key, default)
    if not isinstance(name, str) or not name:
        raise ModelError(f"{model_dir}/{CONFIG_FILE}: {key!r} must be a file name or path")
    if key not in config:
        return require_file(model_dir, name)
    path = model_dir / name
    if not path.is_file():
        raise ModelError(
            f"model file {path} is missing: {model_dir}/{CONFIG_FILE} names it as {key!r} "
            f"(relative to the model folder); restore the file or fix the path"
        )
    return path


def read_labels(model_dir: Path) -> list[str]:
    path = require_file(model_dir, LABELS_FILE)
    try:
        labels = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from None
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ModelError(f"{path} must hold a JSON list of strings (blank first)")
    return labels


def read_config(model_dir: Path) -> dict[str, Any]:
    path = model_dir / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from None
    if not isinstance(config, dict):
        raise ModelError(f"{path} must hold a JSON object")
    return config


class OnnxEngine:
    name = "onnx"

    def __init__(self, model_dir: Path, options: EngineOptions) -> None:
        import onnxruntime as ort

        path = require_file(model_dir, ONNX_FILE)
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = options.intra_op_threads
        session_options.inter_op_num_threads = 1
        session_options.log_severity_level = 3
        providers: list[Any] = ["CPUExecutionProvider"]
        available = ort.get_available_providers()
        want_cuda = options.device in ("auto", "cuda")
        if want_cuda and "CUDAExecutionProvider" in available:
            cuda = {
                "gpu_mem_limit": options.gpu_mem_limit_bytes,
                "arena_extend_strategy": "kSameAsRequested",
            }
            providers = [("CUDAExecutionProvider", cuda), "CPUExecutionProvider"]
        elif options.device == "cuda":
            raise ModelError(
                "IVR_DEVICE=cuda but ONNX Runtime has no CUDA provider: install the `gpu` extra "
                "(onnxruntime-gpu) or set IVR_DEVICE=auto"
            )
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=session_options, providers=providers
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load {path}: {exc}") from None
        used = self._session.get_providers()
        self.device = "cuda" if "CUDAExecutionProvider" in used else "cpu"
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name

    def forward(self, features: FloatArray) -> FloatArray:
        try:
            (out,) = self._session.run([self._output], {self._input: features})
        except Exception as exc:
            raise EngineError(f"ONNX Runtime forward failed on {features.shape}: {exc}") from exc
        return np.asarray(out, dtype=np.float32)


class TorchScriptEngine:
    name = "torchscript"

    def __init__(self, model_dir: Path, options: EngineOptions) -> None:
        try:
            import torch
        except ImportError:
            raise ModelError(
                "IVR_ENGINE=torchscript needs torch: install the `torch` extra"
            ) from None
        path = require_file(model_dir, TORCHSCRIPT_FILE)
        torch.set_num_threads(options.intra_op_threads)
        use_cuda = options.device in ("auto", "cuda") and torch.cuda.is_available()
        self.device = "cuda" if use_cuda else "cpu"
        try:
            with warnings.catch_warnings():
                # torch 2.13 deprecates TorchScript in favour of torch.export; it still loads
                warnings.simplefilter("ignore", DeprecationWarning)
                self._module = torch.jit.load(  # type: ignore[no-untyped-call]
                    str(path), map_location=self.device
                ).eval()
        except Exception as exc:
            raise ModelError(f"cannot load {path}: {exc}") from None
        self._torch = torch

    def forward(self, features: FloatArray) -> FloatArray:
        torch = self._torch
        try:
            with torch.inference_mode():
                x = torch.from_numpy(np.ascontiguousarray(features)).to(self.device)
                out = self._module(x).float().cpu().numpy()
        except Exception as exc:
            raise EngineError(f"TorchScript forward failed on {features.shape}: {exc}") from exc
        return np.asarray(out, dtype=np.float32)


def open_engine(model_dir: Path, options: EngineOptions) -> Engine:
    """The engine `options.engine` names, loaded from `model_dir`."""
    if options.engine == "torchscript":
        return TorchScriptEngine(model_dir, options)
    return OnnxEngine(model_dir, options)
