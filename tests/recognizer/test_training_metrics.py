"""Error rates as training and evaluation report them: overall and per group."""

from __future__ import annotations

import pytest

from recognizer.training.metrics import error_rate, scores_by_group


def test_word_and_character_error_rates_count_edits_against_the_reference_length() -> None:
    assert error_rate(["the cat sat"], ["the bat sat down"]) == pytest.approx(2 / 3)
    assert error_rate(["abcd"], ["abed"], unit="char") == pytest.approx(1 / 4)


def test_groups_are_scored_apart_and_together() -> None:
    refs = ["press two", "kestrel", "yes"]
    hyps = ["press two", "castrol", "yes"]
    scores = scores_by_group(refs, hyps, ["ivr", "words", "ivr"])
    assert scores["ivr"] == 0.0 and scores["ivr_cer"] == 0.0
    assert scores["words"] == 1.0  # one word, one substitution
    assert scores["words_cer"] == pytest.approx(3 / 7)  # k->c, e->a, e->o
    assert scores["all"] == pytest.approx(1 / 4)
