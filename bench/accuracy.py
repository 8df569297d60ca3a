"""Accuracy benchmark: word error rate and real-time factor of the whole recognition path.

Each manifest line is a JSON object with `audio` (a file path, relative to the manifest or
absolute) and `text`; an optional `domain`/`source` field groups the rows of the table. Every
file goes through `Recognizer.transcribe` (endpointing, batched model, beam search with the LM),
one at a time, so the real-time factor is that of one stream.

    python -m bench.accuracy [--manifest data/features/dev_manifest.jsonl] [--limit 200]

Targets (model issue #5): WER <= 8 % with the LM on the dev set; real-time factor <= 0.02
(50x real time) for the acoustic model alone, reported here for the whole path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ivr.api.service import recognizer_options
from ivr.settings import load_settings
from recognizer.audio import read_audio
from recognizer.transcribe import Recognizer

DEFAULT_MANIFEST = Path("data/features/dev_manifest.jsonl")
WER_TARGET = 0.08
RTF_TARGET = 0.02


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


@dataclass
class Tally:
    errors: int = 0
    words: int = 0
    utterances: int = 0
    audio_s: float = 0.0
    compute_s: float = 0.0

    def add(self, ref: str, hyp: str, audio_s: float, compute_s: float) -> None:
        self.errors += edit_distance(ref.split(), hyp.split())
        self.words += len(ref.split())
        self.utterances += 1
        self.audio_s += audio_s
        self.compute_s += compute_s

    @property
    def wer(self) -> float:
        return self.errors / max(1, self.words)

    @property
    def rtf(self) -> float:
        return self.compute_s / max(1e-9, self.audio_s)


def read_manifest(path: Path, limit: int | None) -> list[dict[str, str]]:
    rows = []
    with path.open() as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                audio = Path(row["audio"])
                row["audio"] = str(audio if audio.is_absolute() else path.parent / audio)
                rows.append(row)
    return rows[:limit] if limit else rows


async def run(manifest: Path, limit: int | None, show: int) -> dict[str, Tally]:
    settings = load_settings()
    recognizer = await Recognizer.open(settings.model_dir, recognizer_options(settings))
    tallies: dict[str, Tally] = defaultdict(Tally)
    try:
        for index, row in enumerate(read_manifest(manifest, limit)):
            samples, rate = read_audio(Path(row["audio"]))
            started = time.perf_counter()
            transcript = await recognizer.transcribe(samples, rate)
            elapsed = time.perf_counter() - started
            group = row.get("domain") or row.get("source") or "all"
            for key in {group, "all"}:
                tallies[key].add(row["text"], transcript.text, len(samples) / rate, elapsed)
            if index < show:
                print(f"  ref: {row['text']}\n  hyp: {transcript.text}")
    finally:
        await recognizer.close()
    return tallies


def print_table(tallies: dict[str, Tally]) -> None:
    print(f"{'group':<14}{'utts':>6}{'words':>7}{'WER':>8}{'target':>8}{'ratio':>7}"
          f"{'RTF':>8}{'target':>8}{'ratio':>7}")  # fmt: skip
    for name in sorted(tallies, key=lambda n: (n != "all", n)):
        t = tallies[name]
        print(
            f"{name:<14}{t.utterances:>6}{t.words:>7}{t.wer:>8.1%}{WER_TARGET:>8.0%}"
            f"{t.wer / WER_TARGET:>7.2f}{t.rtf:>8.3f}{RTF_TARGET:>8.2f}{t.rtf / RTF_TARGET:>7.2f}"
        )
    print("ratio = measured / target (<= 1 meets the target)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--limit", type=int, default=200, help="first N rows (0: all)")
    parser.add_argument("--show", type=int, default=0, help="print the first N ref/hyp pairs")
    args = parser.parse_args()
    if not args.manifest.is_file():
        parser.error(
            f"{args.manifest} not found: build the dev set with "
            "`python -m recognizer.training synth` or pass --manifest"
        )
    print_table(asyncio.run(run(args.manifest, args.limit or None, args.show)))


if __name__ == "__main__":
    main()
