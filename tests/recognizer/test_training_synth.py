"""The synthesis plan: growing the training set keeps what was planned and the dev set."""

from __future__ import annotations

import random
from difflib import SequenceMatcher

from bench.hotwords import CALIBRATION_NAMES, NAMES
from recognizer.training.synth import Job, plan
from recognizer.training.text import ALPHABET, HELD_OUT_WORDS, NameInventor, dictionary_words


def _stream(jobs: list[Job], name: str, train: int, dev: int) -> tuple[list[Job], list[Job]]:
    """The train and dev clips of one stream, checked for their counts and voices."""
    train_jobs = [j for j in jobs if j.stream == name]
    dev_jobs = [j for j in jobs if j.stream == f"dev{name}"]
    assert len(train_jobs) == train and len(dev_jobs) == dev
    assert all(j.split == "train" and not j.voice.dev for j in train_jobs)
    assert all(j.split == "dev" and j.voice.dev for j in dev_jobs)
    return train_jobs, dev_jobs


def test_more_training_clips_keep_the_planned_ones_and_the_dev_set() -> None:
    small = plan(40, 12)
    large = plan(90, 12)
    small_train = [j for j in small if j.split == "train"]
    large_train = [j for j in large if j.split == "train"]
    assert len(small_train) == 40 and len(large_train) == 90
    assert large_train[:40] == small_train
    assert [j for j in large if j.split == "dev"] == [j for j in small if j.split == "dev"]


def test_dev_clips_use_only_held_out_voices_and_train_clips_never_do() -> None:
    jobs = plan(200, 60)
    dev_voices = {j.voice for j in jobs if j.split == "dev"}
    train_voices = {j.voice for j in jobs if j.split == "train"}
    assert dev_voices and all(v.dev for v in dev_voices)
    assert train_voices and not any(v.dev for v in train_voices)
    assert len({v.family for v in dev_voices}) >= 5  # a held-out voice per engine family


def test_word_streams_leave_the_other_clips_alone_and_hold_out_the_benchmark_names() -> None:
    base = plan(40, 12)
    jobs = plan(40, 12, word_count=60, dev_word_count=10)
    assert [j for j in jobs if not j.stream] == base
    words, dev_words = _stream(jobs, "words", 60, 10)
    # their own files: a word clip never overwrites the IVR clip of the same index
    assert {j.stem for j in words}.isdisjoint(j.stem for j in base)
    vocabulary = {w for j in words + dev_words for w in j.text.split()}
    assert len(vocabulary) > 60  # an open vocabulary, not a word list
    assert vocabulary.isdisjoint(HELD_OUT_WORDS)


def test_held_out_words_cover_every_hot_word_benchmark_name() -> None:
    for name in NAMES + CALIBRATION_NAMES:
        assert set(name.split()) <= HELD_OUT_WORDS, name


def test_sentence_streams_never_share_a_sentence_and_leave_the_other_clips_alone() -> None:
    base = plan(40, 12, word_count=5, dev_word_count=5)
    jobs = plan(40, 12, word_count=5, dev_word_count=5, sentence_count=300, dev_sentence_count=50)
    assert [j for j in jobs if j.stream not in ("sentences", "devsentences")] == base
    train, dev = _stream(jobs, "sentences", 300, 50)
    assert all(j.domain == "sentences" for j in train + dev)
    assert {j.text for j in train}.isdisjoint(j.text for j in dev)
    vocabulary = {w for j in train + dev for w in j.text.split()}
    assert len(vocabulary) > 500  # real phrasing over an open vocabulary
    assert vocabulary.isdisjoint(HELD_OUT_WORDS)
    assert all(set(j.text) <= set(ALPHABET) for j in train + dev)


def test_name_streams_invent_words_no_dictionary_has_and_leave_the_other_clips_alone() -> None:
    base = plan(40, 12, word_count=5, dev_word_count=5, sentence_count=5, dev_sentence_count=5)
    jobs = plan(40, 12, word_count=5, dev_word_count=5, sentence_count=5, dev_sentence_count=5,
                name_count=300, dev_name_count=40)  # fmt: skip
    assert [j for j in jobs if j.stream not in ("names", "devnames")] == base
    train, dev = _stream(jobs, "names", 300, 40)
    assert all(j.domain == "names" for j in train + dev)
    # more name clips keep the ones planned already
    more = plan(40, 12, word_count=5, dev_word_count=5, sentence_count=5, dev_sentence_count=5,
                name_count=400, dev_name_count=40)  # fmt: skip
    assert [j for j in more if j.stream == "names"][:300] == train
    inventor = NameInventor()
    rng = random.Random(5)
    invented = {inventor.word(rng) for _ in range(300)}
    assert len(invented) > 250  # new words, not a list
    assert invented.isdisjoint(dictionary_words())
    assert invented.isdisjoint(HELD_OUT_WORDS)
    assert all(
        SequenceMatcher(None, word, held).ratio() < 0.7
        for word in invented
        for held in HELD_OUT_WORDS
    )
    vocabulary = {w for j in train + dev for w in j.text.split()}
    assert vocabulary.isdisjoint(HELD_OUT_WORDS)
    assert all(set(j.text) <= set(ALPHABET) for j in train + dev)
