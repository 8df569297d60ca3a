"""Recipe B: a small character CTC model trained from log-mel features (issue #5).

QuartzNet-style: a strided stem (4x time subsampling: one output frame per 40 ms), then residual
blocks of time-separable convolutions (depthwise over time, pointwise over channels), BatchNorm
and ReLU. Every convolution is padded asymmetrically, so each layer looks at most ``right``
frames ahead: the whole model's look-ahead (``SmallConfig.right_context_s``) is about half a
second, whatever the window length. The exported graph is plain Pad/Conv/BatchNorm/Relu/Add, so
ONNX Runtime runs it with dynamic batch and time axes, on any input of at least one frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from recognizer.features import HOP, MODEL_SAMPLE_RATE, N_MELS
from recognizer.training.model import LABELS

SUBSAMPLING = 4
CHECKPOINT_NAME = "small.fp16.pt"


@dataclass(frozen=True)
class SmallConfig:
    """Widths and kernels; the defaults give 3.5 M parameters."""

    stem_channels: int = 256
    channels: tuple[int, ...] = (320, 320, 384, 384, 448, 448)
    kernels: tuple[int, ...] = (11, 13, 15, 17, 19, 21)
    repeats: int = 3
    #: look-ahead in output frames of each sub-layer but the last of a block
    right: int = 1
    head_channels: int = 512
    dropout: float = 0.1

    @property
    def right_context_s(self) -> float:
        """Total look-ahead in seconds: stem (1 mel frame + 1 half-rate frame) plus blocks."""
        frame = HOP / MODEL_SAMPLE_RATE
        blocks = len(self.channels) * (self.repeats - 1) * self.right
        return frame * (1 + 2) + SUBSAMPLING * frame * blocks


def _pad(x: torch.Tensor, left: int, right: int) -> torch.Tensor:
    return F.pad(x, (left, right)) if left or right else x


class SeparableConv(nn.Module):
    """Depthwise conv over time (``right`` frames of look-ahead) then pointwise, then BatchNorm."""

    def __init__(self, c_in: int, c_out: int, kernel: int, right: int, stride: int = 1) -> None:
        super().__init__()
        if not 0 <= right < kernel:
            raise ValueError(f"right context {right} must be in [0, kernel {kernel})")
        self.left, self.right = kernel - 1 - right, right
        self.depthwise = nn.Conv1d(c_in, c_in, kernel, stride=stride, groups=c_in, bias=False)
        self.pointwise = nn.Conv1d(c_in, c_out, 1, bias=False)
        self.norm = nn.BatchNorm1d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.norm(
            self.pointwise(self.depthwise(_pad(x, self.left, self.right)))
        )
        return out


class Block(nn.Module):
    """``repeats`` separable convs with a residual (pointwise + BN when the width changes)."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, repeats: int, right: int, dropout: float
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            SeparableConv(c_in if i == 0 else c_out, c_out, kernel, right if i < repeats - 1 else 0)
            for i in range(repeats)
        )
        self.residual = (
            nn.Sequential(nn.Conv1d(c_in, c_out, 1, bias=False), nn.BatchNorm1d(c_out))
            if c_in != c_out
            else nn.Identity()
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for i, layer in enumerate(self.layers):
            y = layer(y)
            if i < len(self.layers) - 1:
                y = self.dropout(F.relu(y))
        out: torch.Tensor = self.dropout(F.relu(y + self.residual(x)))
        return out


class SmallCTC(nn.Module):
    """``features (B, 80, T)`` log-mel -> ``log_probs (B, ceil(T/4), 29)``."""

    def __init__(self, config: SmallConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or SmallConfig()
        if len(config.channels) != len(config.kernels):
            raise ValueError("SmallConfig.channels and .kernels must have the same length")
        stem = config.stem_channels
        # conv k3 stride 2 (pad 1/1: one 10 ms frame ahead), then separable k5 stride 2 (pad 3/1)
        self.stem = nn.Conv1d(N_MELS, stem, 3, stride=2, bias=False)
        self.stem_norm = nn.BatchNorm1d(stem)
        self.down = SeparableConv(stem, config.channels[0], 5, right=1, stride=2)
        blocks = []
        c_in = config.channels[0]
        for c_out, kernel in zip(config.channels, config.kernels, strict=True):
            blocks.append(Block(c_in, c_out, kernel, config.repeats, config.right, config.dropout))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Sequential(
            nn.Conv1d(c_in, config.head_channels, 1, bias=False),
            nn.BatchNorm1d(config.head_channels),
            nn.ReLU(),
            nn.Conv1d(config.head_channels, len(LABELS), 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem_norm(self.stem(_pad(features, 1, 1))))
        x = F.relu(self.down(x))
        for block in self.blocks:
            x = block(x)
        logits = self.head(x).transpose(1, 2)
        out: torch.Tensor = torch.log_softmax(logits, dim=-1)
        return out


def output_frames(frames: int) -> int:
    """Output steps for ``frames`` input frames: ceil(T/2) twice (= ceil(T/4))."""
    half = -(-frames // 2)
    return -(-half // 2)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def save_small(model: SmallCTC, path: Path, extra: dict[str, Any] | None = None) -> None:
    """The shippable checkpoint: every tensor (BatchNorm statistics included) in fp16."""
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(model.config).items()}
    torch.save({"recipe": "small", "config": config, "state": state, **(extra or {})}, path)


def config_from(payload: dict[str, Any]) -> SmallConfig:
    raw = dict(payload["config"])
    for key in ("channels", "kernels"):
        raw[key] = tuple(raw[key])
    return SmallConfig(**raw)


def load_small(path: Path) -> SmallCTC:
    """A training checkpoint (``model`` state) or the shipped fp16 file -> model in eval mode."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    model = SmallCTC(config_from(payload))
    state = payload.get("model", payload.get("state"))
    if state is None:
        raise ValueError(f"{path} holds neither a training run ('model') nor a shipped 'state'")
    model.load_state_dict(
        {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    )
    return model.eval()


def quantize_weights(fp32: Path, int8: Path, min_size: int = 4096) -> None:
    """Weight-only int8: each large Conv weight is stored as int8 with one scale per output
    channel and expanded by a DequantizeLinear node; the arithmetic stays fp32.

    ONNX Runtime's dynamic quantisation of Conv (ConvInteger) was 4x slower than fp32 for this
    model (measured: 31 vs 7.7 ms per 3 s window, one thread), so only the file shrinks.
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(fp32))
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    dequantize = []
    for node in graph.node:
        if node.op_type != "Conv" or node.input[1] not in initializers:
            continue
        name = node.input[1]
        weight = numpy_helper.to_array(initializers[name]).astype(np.float32)
        if weight.size < min_size:
            continue
        scale = np.abs(weight).reshape(weight.shape[0], -1).max(axis=1) / 127.0
        scale[scale == 0] = 1.0
        shape = (-1,) + (1,) * (weight.ndim - 1)
        quantized = np.clip(np.round(weight / scale.reshape(shape)), -127, 127).astype(np.int8)
        graph.initializer.remove(initializers[name])
        graph.initializer.extend([
            numpy_helper.from_array(quantized, f"{name}.int8"),
            numpy_helper.from_array(scale.astype(np.float32), f"{name}.scale"),
            numpy_helper.from_array(np.zeros(weight.shape[0], np.int8), f"{name}.zero"),
        ])  # fmt: skip
        dequantize.append(helper.make_node(
            "DequantizeLinear", [f"{name}.int8", f"{name}.scale", f"{name}.zero"], [name],
            axis=0, name=f"{name}.dequantize",
        ))  # fmt: skip
    for offset, node in enumerate(dequantize):
        graph.node.insert(offset, node)
    onnx.checker.check_model(model)
    onnx.save(model, str(int8))


def runtime_extra(config: SmallConfig) -> dict[str, Any]:
    """config.json keys that differ from recipe A's (the LM is shared with the default model)."""
    return {
        "recipe": "small",
        "subsampling": SUBSAMPLING,
        "frame_duration_s": SUBSAMPLING * HOP / MODEL_SAMPLE_RATE,
        "lm_file": "../default/lm.bin",
        "unigrams_file": "../default/unigrams.txt",
        "streaming": {
            "window_s": 4.0, "left_context_s": 1.0, "right_context_s": 0.5,
            "note": "convolutions only: each output frame looks at most "
                    f"{config.right_context_s:.2f} s ahead",
        },
    }  # fmt: skip


@dataclass(frozen=True)
class Shipped:
    """What ``export_small`` wrote: the fp16 checkpoint and the config keys of this model."""

    checkpoint: Path
    onnx: Path
    extra: dict[str, Any]


def export_small(model: SmallCTC, out_dir: Path, work: Path, int8: bool = True) -> Shipped:
    """small.fp16.pt, model.onnx (from exactly the fp16 weights) and labels.json into ``out_dir``.

    The fp32 ONNX stays in ``work`` (outside git); ``int8`` ships weight-only int8 instead.
    """
    import json

    from recognizer.training.export import export_onnx

    out_dir.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    checkpoint = out_dir / CHECKPOINT_NAME
    save_small(model, checkpoint)
    shipped = load_small(checkpoint)
    fp32 = work / "model.fp32.onnx"
    export_onnx(shipped, fp32)
    onnx_path = out_dir / "model.onnx"
    if int8:
        quantize_weights(fp32, onnx_path)
    else:
        onnx_path.write_bytes(fp32.read_bytes())
    (out_dir / "labels.json").write_text(json.dumps(list(LABELS)) + "\n")
    extra = {**runtime_extra(shipped.config), "weights": "int8 (weight-only)" if int8 else "fp32"}
    return Shipped(checkpoint, onnx_path, extra)
