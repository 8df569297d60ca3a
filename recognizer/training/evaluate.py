"""Evaluate the exported model the way serving runs it: 8 kHz audio -> ONNX int8 -> decoder.

Reports dev WER (greedy and with the KenLM beam search, IVR and general separately), the
real-speech check-set WER, and the real-time factor on one CPU core at batch 1 on 3 s windows.
``tune`` picks the LM weight (alpha) and word bonus (beta) on the dev set.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import soundfile as sf
import soxr

from recognizer.decoding import DecoderOptions
from recognizer.engines import model_file, read_config
from recognizer.features import MODEL_SAMPLE_RATE, log_mel, to_model_rate
from recognizer.training.augment import LINE_RATE
from recognizer.training.metrics import greedy, scores_by_group
from recognizer.training.model import LABELS

LogProbs = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Item:
    """One evaluation clip: reference text, its group, and the model output on it."""

    text: str
    group: str
    log_probs: LogProbs


def session(model_path: Path, threads: int = 1) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


def run_model(sess: ort.InferenceSession, audio_16k: npt.NDArray[np.float32]) -> LogProbs:
    feats = log_mel(audio_16k)[None]
    out: LogProbs = sess.run(["log_probs"], {"features": feats})[0][0]
    return out


def telephone_audio(path: str) -> npt.NDArray[np.float32]:
    """Any file -> 8 kHz mono (the line) -> 16 kHz model input, as serving would see it."""
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    line = audio.mean(axis=1)
    if rate != LINE_RATE:
        line = np.asarray(soxr.resample(line, rate, LINE_RATE), dtype=np.float32)
    return to_model_rate(line, LINE_RATE)


def infer_manifest(
    sess: ort.InferenceSession, manifest: Path, group_key: str, limit: int | None = None
) -> list[Item]:
    items = []
    with manifest.open() as handle:
        for line in itertools.islice(handle, limit):
            entry = json.loads(line)
            log_probs = run_model(sess, telephone_audio(entry["audio"]))
            items.append(Item(entry["text"], str(entry.get(group_key, "all")), log_probs))
    return items


def build_decoder(model_dir: Path, alpha: float, beta: float) -> Any:
    """pyctcdecode with the LM the model folder's config.json names (``lm_file``, relative)."""
    from pyctcdecode import build_ctcdecoder  # type: ignore[attr-defined]

    config = read_config(model_dir)
    lm = model_file(model_dir, config, "lm_file", "lm.bin")
    unigrams = model_file(model_dir, config, "unigrams_file", "unigrams.txt").read_text().split()
    labels = ["", *LABELS[1:]]
    return build_ctcdecoder(labels, str(lm), unigrams, alpha=alpha, beta=beta)


def scores(
    items: list[Item],
    decoder: Any = None,
    beam_width: int = 24,
    token_min_logp: float = DecoderOptions.token_min_logp,
) -> dict[str, float]:
    """WER and CER overall and per group (``metrics.scores_by_group``); greedy or with the
    beam-search ``decoder`` (beam width as the service's default)."""
    hyps = [
        greedy(i.log_probs) if decoder is None
        else " ".join(decoder.decode(i.log_probs, beam_width=beam_width,
                                     token_min_logp=token_min_logp).split())
        for i in items
    ]  # fmt: skip
    return scores_by_group([i.text for i in items], hyps, [i.group for i in items])


def tune(
    items: list[Item], model_dir: Path, floors: Sequence[float] = (DecoderOptions.token_min_logp,)
) -> tuple[float, float, float, float]:
    """Grid-search alpha, beta and token_min_logp (among ``floors``) on dev; returns (alpha,
    beta, token_min_logp, wer). A lower floor lets the LM bring back a letter the model gave
    under 0.7 % (-5), but the beam then tries more letters per frame, which costs capacity: so
    only the shipped floor is tried unless asked."""
    best = (0.5, 1.0, DecoderOptions.token_min_logp, float("inf"))
    for alpha, beta in itertools.product((0.2, 0.4, 0.6, 0.9), (0.0, 1.0, 2.0, 3.0)):
        decoder = build_decoder(model_dir, alpha, beta)
        for token_min_logp in floors:
            wer = scores(items, decoder, token_min_logp=token_min_logp)["all"]
            if wer < best[3]:
                best = (alpha, beta, token_min_logp, wer)
    return best


def real_time_factor(sess: ort.InferenceSession, seconds: float = 3.0, runs: int = 20) -> float:
    """Features + model time per second of audio, batch 1, on the session's threads."""
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(int(seconds * MODEL_SAMPLE_RATE))).astype(np.float32)
    run_model(sess, audio)
    start = time.perf_counter()
    for _ in range(runs):
        run_model(sess, audio)
    return (time.perf_counter() - start) / runs / seconds
