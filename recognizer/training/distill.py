"""Train recipe B (``small.py``) from the cached log-mel features, distilling recipe A into it.

Loss: CTC on the transcript plus ``distill_weight`` x KL(teacher || student) per output frame,
where the teacher is A's trained upper part run once over the cached lower-encoder output. A
emits one frame per 20 ms and B one per 40 ms. Averaging each pair of teacher frames into one
student target was measured to be a poor target: A's characters often fall in consecutive 20 ms
frames, and two different characters in one 40 ms frame leave neither on top (greedy decoding of
the averaged targets: 39 % WER on 200 training clips where A itself has 13.7 %). So the teacher
path is *re-timed* (``teacher_targets``): each character A emits keeps A's full distribution at
its spike, placed in the student frame that holds it or the next free one (a repeated letter
keeps a blank frame between); the other student frames take the more blank-like teacher frame
of their pair, with the blank on top. Decoded greedily these targets give 13.8 % WER (0.1 %
different words from A's own output).

Teacher outputs are cached under ``<work>/teacher`` (fp16, per feature shard) the first time a
shard is seen; shards the cache builder is still writing are skipped and picked up at the next
epoch, so training can start before the feature cache is complete. Resumable: the full state is
saved every few minutes to ``<run>/last.pt``; the best checkpoint by dev greedy WER is
``<run>/best.pt``. The learning-rate schedule follows the fraction of the time budget used.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from recognizer.features import LOG_FLOOR
from recognizer.training.dataset import encode_text
from recognizer.training.metrics import greedy, scores_by_group
from recognizer.training.model import WhisperCTC, load_checkpoint
from recognizer.training.small import SmallConfig, SmallCTC, config_from, output_frames

#: log-mel of digital silence (``features.log_mel`` of zeros): what serving pads windows with
SILENCE = (LOG_FLOOR + 4.0) / 4.0
Log = Callable[[str], None]


@dataclass(frozen=True)
class DistillConfig:
    """Optimisation settings; the defaults fit one CPU thread and about an hour."""

    model: SmallConfig = field(default_factory=SmallConfig)
    distill_weight: float = 1.0
    lr: float = 3e-3
    weight_decay: float = 1e-3
    warmup_steps: int = 300
    max_frames: int = 8000
    minutes: float = 60.0
    checkpoint_minutes: float = 4.0
    eval_minutes: float = 6.0
    dev_clips: int = 300
    freq_masks: int = 2
    freq_mask_width: int = 12
    time_masks: int = 2
    time_mask_fraction: float = 0.05
    seed: int = 0


@dataclass(frozen=True)
class Clip:
    """One training clip: log-mel (80, T) fp16, transcript, domain, teacher log-probs or None."""

    mel: torch.Tensor
    text: str
    domain: str
    teacher: torch.Tensor | None


def teacher_targets(upper_log_probs: torch.Tensor) -> torch.Tensor:
    """A's (T, 29) log-probs at 20 ms -> (ceil(T/2), 29) re-timed targets at 40 ms (log-probs)."""
    probs = upper_log_probs.exp()
    frames = probs.shape[0]
    steps = -(-frames // 2)
    pairs = (torch.cat([probs, probs[-1:]]) if frames % 2 else probs).view(steps, 2, -1)
    target = pairs[torch.arange(steps), pairs[:, :, 0].argmax(dim=1)].clone()
    spike = torch.zeros(steps, dtype=torch.bool)
    last_slot, last_char, previous = -1, -1, 0
    for j, char in enumerate(probs.argmax(dim=1).tolist()):
        if char not in (0, previous):  # the first frame of each emitted character
            slot = max(j // 2, last_slot + (2 if char == last_char else 1))
            if slot < steps:
                target[slot] = probs[j]
                spike[slot] = True
                last_slot, last_char = slot, char
        previous = char
    top = target.argmax(dim=1)
    rows = ((~spike) & (top != 0)).nonzero().flatten()
    target[rows, 0] += target[rows, top[rows]]  # no character outside its spike frame
    target[rows, top[rows]] = 0.0
    return target.clamp_min(1e-8).log()


def _try_load(path: Path) -> dict[str, Any] | None:
    """A feature shard, or None while the cache builder is still writing it."""
    try:
        payload: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError):
        return None
    return payload


def cache_teacher(
    shard: Path, payload: dict[str, Any], teacher: WhisperCTC, out_dir: Path
) -> list[torch.Tensor]:
    """Run A's upper part over one shard's hidden states once; fp16 student-rate log-probs."""
    out_path = out_dir / shard.name
    if out_path.exists():
        cached: dict[str, Any] = torch.load(out_path, weights_only=True)
        if cached["text"] == payload["text"]:
            return list(cached["teacher"])
    targets = []
    with torch.no_grad():
        for hidden in payload["hidden"]:
            log_probs = teacher.upper(hidden.float()[None])[0]
            targets.append(teacher_targets(log_probs).half())
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(".tmp")
    torch.save({"teacher": targets, "text": payload["text"]}, tmp)
    tmp.replace(out_path)
    return targets


class ClipStore:
    """The clips of every complete feature shard, growing as the cache builder adds shards."""

    def __init__(self, features: Path, work: Path, teacher_ckpt: Path | None, log: Log) -> None:
        self.features = features
        self.teacher_dir = work / "teacher"
        self.teacher_ckpt = teacher_ckpt
        self.log = log
        self.loaded: set[str] = set()
        self.clips: list[Clip] = []
        self._teacher: WhisperCTC | None = None

    def _teacher_model(self) -> WhisperCTC:
        if self._teacher is None:
            assert self.teacher_ckpt is not None
            self._teacher = load_checkpoint(self.teacher_ckpt)
        return self._teacher

    def refresh(self, split: str = "train") -> int:
        """Load shards not seen yet (teacher outputs cached on first sight); returns how many."""
        added = 0
        for shard in sorted(self.features.glob(f"{split}-*.pt")):
            if shard.name in self.loaded:
                continue
            payload = _try_load(shard)
            if payload is None or not payload.get("mel"):
                continue
            teacher: list[torch.Tensor | None] = [None] * len(payload["mel"])
            if self.teacher_ckpt is not None:
                started = time.monotonic()
                teacher = list(
                    cache_teacher(shard, payload, self._teacher_model(), self.teacher_dir)
                )
                self.log(f"teacher outputs for {shard.name} in {time.monotonic() - started:.0f}s")
            for mel, text, domain, target in zip(
                payload["mel"], payload["text"], payload["domain"], teacher, strict=True
            ):
                if target is not None and target.shape[0] != output_frames(mel.shape[1]):
                    raise ValueError(f"{shard}: teacher frames do not match the mel frames")
                self.clips.append(Clip(mel, text, domain, target))
            self.loaded.add(shard.name)
            added += 1
        return added


def batches(clips: list[Clip], max_frames: int, rng: random.Random) -> Iterator[list[Clip]]:
    """Length-bucketed batches of at most ``max_frames`` padded mel frames, shuffled."""
    order = sorted(range(len(clips)), key=lambda i: clips[i].mel.shape[1] + rng.random())
    groups: list[list[Clip]] = []
    current: list[Clip] = []
    longest = 0
    for i in order:
        frames = clips[i].mel.shape[1]
        if current and max(longest, frames) * (len(current) + 1) > max_frames:
            groups.append(current)
            current, longest = [], 0
        current.append(clips[i])
        longest = max(longest, frames)
    if current:
        groups.append(current)
    rng.shuffle(groups)
    yield from groups


def spec_augment(mel: torch.Tensor, frames: int, config: DistillConfig, rng: random.Random) -> None:
    """In place on one (80, T) clip: frequency and time masks set to the clip's mean."""
    fill = mel[:, :frames].mean(dim=1, keepdim=True)
    for _ in range(config.freq_masks):
        width = rng.randint(0, config.freq_mask_width)
        start = rng.randint(0, mel.shape[0] - width)
        mel[start : start + width, :frames] = fill[start : start + width]
    limit = max(1, int(config.time_mask_fraction * frames))
    for _ in range(config.time_masks):
        width = rng.randint(0, limit)
        start = rng.randint(0, max(frames - width, 0))
        mel[:, start : start + width] = fill


def collate(
    batch: list[Clip], config: DistillConfig, rng: random.Random | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Padded (augmented when ``rng``) features, output lengths and padded teacher log-probs."""
    frames = [c.mel.shape[1] for c in batch]
    mel = torch.full((len(batch), batch[0].mel.shape[0], max(frames)), SILENCE)
    for i, clip in enumerate(batch):
        mel[i, :, : frames[i]] = clip.mel.float()
        if rng is not None:
            spec_augment(mel[i], frames[i], config, rng)
    lengths = torch.tensor([output_frames(f) for f in frames])
    teacher = None
    if all(c.teacher is not None for c in batch):
        teacher = torch.zeros(len(batch), int(lengths.max()), 29)
        for i, clip in enumerate(batch):
            assert clip.teacher is not None
            teacher[i, : clip.teacher.shape[0]] = clip.teacher.float()
    return mel, lengths, teacher


def distill_loss(
    log_probs: torch.Tensor, teacher: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    """Mean over real frames of KL(teacher || student)."""
    mask = torch.arange(log_probs.shape[1])[None, :] < lengths[:, None]
    kl = (teacher.exp() * (teacher - log_probs)).sum(dim=-1)
    return (kl * mask).sum() / mask.sum()


def lr_factor(step: int, progress: float, config: DistillConfig) -> float:
    """Linear warm-up over steps, then cosine over the time budget down to 2 %."""
    warm = min(1.0, (step + 1) / config.warmup_steps)
    return warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def evaluate_small(model: SmallCTC, clips: list[Clip]) -> dict[str, float]:
    """Greedy WER/CER on clips one at a time (unpadded, as served), overall and per domain."""
    model.eval()
    refs: list[str] = []
    hyps: list[str] = []
    with torch.no_grad():
        for clip in clips:
            refs.append(clip.text)
            hyps.append(greedy(model(clip.mel.float()[None])[0].numpy()))
    model.train()
    return scores_by_group(refs, hyps, [clip.domain for clip in clips])


def _save(
    path: Path, model: SmallCTC, optimizer: torch.optim.Optimizer, state: dict[str, Any]
) -> None:
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(model.config).items()}
    tmp = path.with_suffix(".tmp")
    torch.save({"recipe": "small", "config": config, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), **state}, tmp)  # fmt: skip
    tmp.replace(path)


class _Trainer:
    """The loop's state, so that the loop itself stays short."""

    def __init__(
        self, run_dir: Path, config: DistillConfig, log: Log, init: Path | None = None
    ) -> None:
        self.run_dir = run_dir
        self.config = config
        self.log = log
        self.model = SmallCTC(config.model)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.state: dict[str, Any] = {"step": 0, "epoch": 0, "best": float("inf"),
                                      "train_s": 0.0, "history": []}  # fmt: skip
        last = run_dir / "last.pt"
        if last.exists():
            payload = torch.load(last, weights_only=True)
            if config_from(payload) != config.model:
                raise ValueError(f"{last} was trained with another SmallConfig: use a new --run")
            self.model.load_state_dict(payload["model"])
            self.optimizer.load_state_dict(payload["optimizer"])
            self.state = {k: payload[k] for k in self.state}
            log(f"resumed {last} at step {self.state['step']}, {self.state['train_s']:.0f}s")
        elif init is not None:
            payload = torch.load(init, weights_only=True)
            state = payload.get("model", payload.get("state"))
            self.model.load_state_dict({k: v.to(torch.float32) if v.is_floating_point() else v
                                        for k, v in state.items()})  # fmt: skip
            log(f"initialised the weights from {init} (step {payload.get('step', '?')})")

    def save(self, name: str) -> None:
        extra = {"distill_weight": self.config.distill_weight}
        _save(self.run_dir / name, self.model, self.optimizer, {**self.state, **extra})

    def evaluate(self, dev: list[Clip]) -> None:
        scores = evaluate_small(self.model, dev)
        step = self.state["step"]
        self.state["history"].append({"step": step, "train_s": self.state["train_s"], **scores})
        self.log(f"dev step {step}: " + " ".join(f"{k} {v:.3f}" for k, v in scores.items()))
        if scores["all"] < self.state["best"]:
            self.state["best"] = scores["all"]
            self.save("best.pt")

    def step(self, batch: list[Clip], rng: random.Random) -> tuple[float, float]:
        config = self.config
        mel, lengths, teacher = collate(batch, config, rng)
        log_probs = self.model(mel)
        targets = [torch.tensor(encode_text(c.text)) for c in batch]
        ctc = F.ctc_loss(
            log_probs.transpose(0, 1), torch.cat(targets), lengths,
            torch.tensor([len(t) for t in targets]), blank=0, zero_infinity=True,
        )  # fmt: skip
        kd = torch.zeros(())
        if teacher is not None and config.distill_weight > 0:
            kd = distill_loss(log_probs, teacher, lengths)
        progress = self.state["train_s"] / (config.minutes * 60)
        for group in self.optimizer.param_groups:
            group["lr"] = config.lr * lr_factor(self.state["step"], progress, config)
        self.optimizer.zero_grad()
        (ctc + config.distill_weight * kd).backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.optimizer.step()
        self.state["step"] += 1
        return float(ctc.detach()), float(kd.detach())


def train_small(
    features: Path,
    work: Path,
    config: DistillConfig,
    teacher_ckpt: Path | None,
    log: Log = print,
    run_name: str = "runs",
    init: Path | None = None,
) -> Path:
    """Train until the time budget is used (resuming from ``work/run_name/last.pt``).

    ``init`` (a run checkpoint or the shipped ``small.fp16.pt``) seeds the weights of a run that
    has no checkpoint yet: a warm restart with other optimisation settings (dropout, batch size).
    """
    torch.manual_seed(config.seed)
    run_dir = work / run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = _Trainer(run_dir, config, log, init)
    store = ClipStore(features, work, teacher_ckpt if config.distill_weight > 0 else None, log)
    dev_store = ClipStore(features, work, None, log)
    dev_store.refresh("dev")
    dev = dev_store.clips[: config.dev_clips]
    if not dev:
        raise FileNotFoundError(f"no dev shard in {features}: run the cache stage first")
    budget = config.minutes * 60
    last_save = last_eval = time.monotonic()
    ctc_avg = kd_avg = 0.0
    while trainer.state["train_s"] < budget:
        store.refresh()
        log(f"epoch {trainer.state['epoch']}: {len(store.clips)} train clips")
        rng = random.Random(config.seed + trainer.state["epoch"])  # noqa: S311 (data order)
        for batch in batches(store.clips, config.max_frames, rng):
            started = time.monotonic()
            ctc, kd = trainer.step(batch, rng)
            trainer.state["train_s"] += time.monotonic() - started
            ctc_avg, kd_avg = 0.95 * ctc_avg + 0.05 * ctc, 0.95 * kd_avg + 0.05 * kd
            step = trainer.state["step"]
            if step % 50 == 0:
                log(f"step {step} ctc {ctc_avg:.3f} kd {kd_avg:.3f} "
                    f"train {trainer.state['train_s']:.0f}s")  # fmt: skip
            now = time.monotonic()
            if now - last_eval > config.eval_minutes * 60:
                trainer.evaluate(dev)
                last_eval = time.monotonic()
            if now - last_save > config.checkpoint_minutes * 60:
                trainer.save("last.pt")
                last_save = time.monotonic()
            if trainer.state["train_s"] >= budget:
                break
        else:
            trainer.state["epoch"] += 1
    trainer.evaluate(dev)
    trainer.save("last.pt")
    return run_dir / "best.pt"
