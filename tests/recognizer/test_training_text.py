"""Text generation and normalisation for the training transcripts."""

from __future__ import annotations

from recognizer.training.dataset import encode_text
from recognizer.training.text import ALPHABET, generate, normalise, number_words, ordinal_words


def test_numbers_are_spelled_the_way_callers_say_them() -> None:
    assert number_words(0) == "zero"
    assert number_words(42) == "forty two"
    assert number_words(1905) == "one thousand nine hundred five"
    assert ordinal_words(23) == "twenty third"
    assert ordinal_words(12) == "twelfth"


def test_normalise_keeps_only_the_model_alphabet() -> None:
    assert (
        normalise("I'd like to pay $25.50, please!") == "i'd like to pay twenty five fifty please"
    )
    assert normalise("  'Quoted'  Words-Here ") == "quoted words here"


def test_generated_utterances_are_deterministic_and_in_alphabet() -> None:
    first = list(generate(seed=3, count=200))
    assert first == list(generate(seed=3, count=200))
    assert {u.domain for u in first} == {"ivr", "general"}
    for utt in first:
        assert utt.text and set(utt.text) <= set(ALPHABET)
        assert len(encode_text(utt.text)) == len(utt.text)
