"""Training examples: telephone-augmented clips run once through the frozen lower encoder.

The frozen part of Whisper costs most of the compute, so its outputs are computed once per clip
(one clip at a time: Whisper attention has no padding mask) and kept on disk as float16 shards.
Dev clips are also written as 8 kHz WAVs with a JSON-lines manifest for ``bench/accuracy.py``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from recognizer.features import log_mel, to_model_rate
from recognizer.training.augment import LINE_RATE, ChannelConfig, NoiseBank, telephone_8k
from recognizer.training.model import LABELS, ModelConfig, WhisperCTC

SHARD = 500
_INDEX = {ch: i for i, ch in enumerate(LABELS) if i > 0}


def encode_text(text: str) -> list[int]:
    """Label ids of a normalised transcript (characters outside the alphabet are dropped)."""
    return [_INDEX[ch] for ch in text if ch in _INDEX]


@dataclass(frozen=True)
class Example:
    """One cached clip: lower-encoder output (T, 512) fp16, transcript and its domain, and the
    log-mel features (80, 2T) fp16 it came from (for models trained from the features)."""

    hidden: torch.Tensor
    text: str
    domain: str
    mel: torch.Tensor | None = None


def read_manifest(path: Path) -> list[dict[str, Any]]:
    with path.open() as handle:
        return [json.loads(line) for line in handle if line.strip()]


def build_cache(
    manifest: Path, cache_dir: Path, model: WhisperCTC, split: str, copies: int = 1,
    seed: int = 7,
) -> None:  # fmt: skip
    """Augment, featurise and run ``model.lower`` over one split; resumable per shard."""
    records = [r for r in read_manifest(manifest) if r["split"] == split]
    cache_dir.mkdir(parents=True, exist_ok=True)
    babble = [r["audio"] for r in read_manifest(manifest) if r["split"] == "train"][:300]
    bank = NoiseBank.load(babble, np.random.default_rng(seed))
    dev_audio = cache_dir / "dev8k"
    dev_lines: list[str] = []
    jobs = [(copy, r) for copy in range(copies) for r in records]
    for shard_index in range(0, len(jobs), SHARD):
        shard_path = cache_dir / f"{split}-{shard_index // SHARD:04d}.pt"
        shard_jobs = jobs[shard_index : shard_index + SHARD]
        if split == "dev" or not shard_path.exists():
            payload = _encode_shard(shard_jobs, model, bank, seed + shard_index, split, dev_audio)
            torch.save(payload, shard_path)
            dev_lines += payload.pop("lines", [])
    if split == "dev":
        (cache_dir / "dev_manifest.jsonl").write_text("".join(dev_lines))


def _encode_shard(
    jobs: list[tuple[int, dict[str, Any]]], model: WhisperCTC, bank: NoiseBank, seed: int,
    split: str, dev_audio: Path,
) -> dict[str, Any]:  # fmt: skip
    rng = np.random.default_rng(seed)
    config = ChannelConfig()
    hidden: list[torch.Tensor] = []
    mels: list[torch.Tensor] = []
    texts: list[str] = []
    domains: list[str] = []
    lines: list[str] = []
    for _copy, record in jobs:
        clean, _ = sf.read(record["audio"], dtype="float32")
        line = telephone_8k(clean, bank, rng, config)
        if split == "dev":
            dev_audio.mkdir(parents=True, exist_ok=True)
            out = dev_audio / Path(record["audio"]).name
            sf.write(out, line, LINE_RATE, subtype="PCM_16")
            entry = {"audio": str(out), "text": record["text"], "domain": record["domain"],
                     "voice": record["voice"]}  # fmt: skip
            lines.append(json.dumps(entry) + "\n")
            line, _ = sf.read(out, dtype="float32")
        feats = torch.from_numpy(log_mel(to_model_rate(line, LINE_RATE)))[None]
        mels.append(feats[0].half())
        with torch.no_grad():
            hidden.append(model.lower(feats)[0].half())
        texts.append(record["text"])
        domains.append(record["domain"])
    return {"hidden": hidden, "mel": mels, "text": texts, "domain": domains, "lines": lines}


def features_dir(cache: Path, frozen_layers: int) -> Path:
    """Where the lower-encoder outputs for a frozen-block count live under ``--cache``: the
    default split (4) in ``features/`` with the log-mels and dev audio, others beside it."""
    default = ModelConfig().frozen_layers
    return cache / ("features" if frozen_layers == default else f"features-frozen{frozen_layers}")


def reencode_cache(source: Path, target: Path, model: WhisperCTC, split: str) -> None:
    """Run ``model.lower`` over the log-mels cached in ``source`` (``build_cache`` keeps them)
    and write its outputs to ``target``, shard by shard (resumable): a model that trains more
    blocks needs the earlier layer's outputs of the same augmented clips, and the audio
    pipeline need not run again. The shards keep no log-mels: ``source`` has them."""
    target.mkdir(parents=True, exist_ok=True)
    for shard in sorted(source.glob(f"{split}-*.pt")):
        out = target / shard.name
        if out.exists():
            continue
        payload = torch.load(shard, weights_only=True)
        if not payload.get("mel"):
            raise ValueError(
                f"{shard} holds no log-mels (cached before they were kept): run `cache` with"
                " the default --frozen-layers first, into an empty features folder"
            )
        with torch.no_grad():
            hidden = [model.lower(mel.float()[None])[0].half() for mel in payload["mel"]]
        tmp = out.with_suffix(".tmp")
        torch.save({"hidden": hidden, "text": payload["text"], "domain": payload["domain"]}, tmp)
        tmp.replace(out)


def load_examples(cache_dir: Path, split: str) -> list[Example]:
    """Every cached example of a split, in memory (fp16 keeps this to a few hundred MB)."""
    examples: list[Example] = []
    for shard in sorted(cache_dir.glob(f"{split}-*.pt")):
        payload = torch.load(shard, weights_only=True)
        mels = payload.get("mel") or [None] * len(payload["hidden"])
        for h, t, d, m in zip(
            payload["hidden"], payload["text"], payload["domain"], mels, strict=True
        ):
            examples.append(Example(hidden=h, text=t, domain=d, mel=m))
    return examples


def batches(
    examples: list[Example], max_frames: int, rng: random.Random
) -> Iterator[list[Example]]:
    """Length-bucketed batches of at most ``max_frames`` padded frames, shuffled."""
    order = sorted(range(len(examples)), key=lambda i: examples[i].hidden.shape[0])
    groups: list[list[Example]] = []
    current: list[Example] = []
    for i in order:
        ex = examples[i]
        longest = max([ex.hidden.shape[0]] + [c.hidden.shape[0] for c in current])
        if current and longest * (len(current) + 1) > max_frames:
            groups.append(current)
            current = []
        current.append(ex)
    if current:
        groups.append(current)
    rng.shuffle(groups)
    yield from groups
