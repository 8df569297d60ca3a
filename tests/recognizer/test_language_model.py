"""The shipped KenLM model and its vocabulary load and score IVR text sensibly."""

from __future__ import annotations

import json
from pathlib import Path

import kenlm  # type: ignore[import-not-found]

MODEL_DIR = Path(__file__).resolve().parents[2] / "recognizer" / "models" / "default"


def test_lm_and_unigrams_are_shipped_and_loadable() -> None:
    config = json.loads((MODEL_DIR / "config.json").read_text())
    lm = kenlm.Model(str(MODEL_DIR / config["lm_file"]))
    assert lm.order >= 3
    unigrams = (MODEL_DIR / config["unigrams_file"]).read_text().split()
    assert {"billing", "agent", "yes", "no", "oh", "seven"} <= set(unigrams)


def test_lm_prefers_ivr_word_order() -> None:
    lm = kenlm.Model(str(MODEL_DIR / "lm.bin"))
    assert lm.score("i want to pay my bill") > lm.score("bill my pay to want i")


def test_pyctcdecode_builds_a_decoder_from_the_files() -> None:
    from pyctcdecode import build_ctcdecoder  # type: ignore[attr-defined]

    config = json.loads((MODEL_DIR / "config.json").read_text())
    unigrams = (MODEL_DIR / "unigrams.txt").read_text().split()
    labels = ["", *config["labels"][1:]]
    decoder = build_ctcdecoder(
        labels, str(MODEL_DIR / "lm.bin"), unigrams, alpha=config["alpha"], beta=config["beta"]
    )
    assert decoder is not None


def test_lm_corpus_has_natural_training_sentences_and_no_dev_sentence(tmp_path: Path) -> None:
    from recognizer.training.lm import write_corpus
    from recognizer.training.text import split_sentences

    lines = set(write_corpus(tmp_path / "corpus.txt", 50).read_text().splitlines())
    train, dev = split_sentences("train"), split_sentences("dev")
    assert len(dev) > 1000 and len(train) > 9 * len(dev) * 0.8
    assert set(train) <= lines
    assert lines.isdisjoint(dev)
