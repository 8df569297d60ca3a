"""The hot-phrase second pass: CTC forced alignment decides whether a stretch is the phrase."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recognizer.phrases import Hotword
from recognizer.respell import Respeller, Span, ctc_log_likelihood
from tests.recognizer.test_decoding import LABELS, ambiguous, spell

INDEX = {c: i for i, c in enumerate(LABELS) if i}


def _brute_force(log_probs: np.ndarray, labels: list[int]) -> float:
    total = -np.inf
    for path in itertools.product(range(log_probs.shape[1]), repeat=len(log_probs)):
        collapsed = [k for k, _ in itertools.groupby(path) if k != 0]
        if collapsed == labels:
            total = np.logaddexp(total, sum(log_probs[t, k] for t, k in enumerate(path)))
    return float(total)


@pytest.mark.parametrize("labels", [[1], [1, 1], [1, 2], [2, 1, 2]])
def test_ctc_likelihood_equals_the_sum_over_all_paths(labels: list[int]) -> None:
    rng = np.random.default_rng(len(labels))
    probs = rng.dirichlet(np.ones(3), size=4)
    log_probs = np.log(probs).astype(np.float64)
    assert ctc_log_likelihood(log_probs, labels) == pytest.approx(
        _brute_force(log_probs, labels), abs=1e-6
    )


def _spans(log_probs: np.ndarray, words: list[str]) -> list[Span]:
    """Word spans as the beam search would report them for `spell(*words)`."""
    spans, frame = [], 3
    for word in words:
        spans.append(Span(word, frame, frame + 3 * len(word)))
        frame += 3 * len(word) + 2
    return spans


def test_a_half_heard_name_is_respelled_when_the_audio_allows_it() -> None:
    log_probs = spell("i", "want", ambiguous("calloway", "galloway", 0.3))
    respeller = Respeller([Hotword("calloway", 10)], INDEX)
    out = respeller.apply(_spans(log_probs, ["i", "want", "galloway"]), log_probs)
    assert [s.word for s in out] == ["i", "want", "calloway"]


def test_clear_audio_of_other_words_keeps_them() -> None:
    log_probs = spell("the", "premier", "league")
    respeller = Respeller([Hotword("premier card", 20)], INDEX)
    spans = _spans(log_probs, ["the", "premier", "league"])
    assert [s.word for s in respeller.apply(spans, log_probs)] == ["the", "premier", "league"]


def test_words_unlike_the_phrase_are_never_compared() -> None:
    log_probs = spell("yes", "please")
    respeller = Respeller([Hotword("kestrel freight", 20)], INDEX)
    spans = _spans(log_probs, ["yes", "please"])
    assert respeller.apply(spans, log_probs) == spans
