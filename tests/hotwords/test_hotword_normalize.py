"""Phrases are written the way the model spells them, or refused naming the character."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hotwords.errors import InvalidPhrase
from hotwords.normalize import (
    DEFAULT_ALPHABET,
    load_alphabet,
    normalize_phrase,
    number_words,
)


def norm(text: str, max_chars: int = 64) -> str:
    return normalize_phrase(text, max_chars=max_chars)


def test_case_and_punctuation_are_removed() -> None:
    assert norm("Quorvia Premier!") == "quorvia premier"
    assert norm('  "Hello",   (World)?  ') == "hello world"


def test_hyphens_and_slashes_separate_words() -> None:
    assert norm("T-Mobile/Plus") == "t mobile plus"


def test_apostrophes_inside_words_stay_and_curly_ones_are_straightened() -> None:
    assert norm("O’Brien's") == "o'brien's"
    assert norm("'quoted'") == "quoted"


def test_digits_become_words() -> None:
    assert norm("Route 7") == "route seven"
    assert norm("Plan 42") == "plan forty two"
    assert norm("1200 club") == "one thousand two hundred club"


def test_long_or_zero_led_digit_strings_are_read_digit_by_digit() -> None:
    assert number_words("0800") == "zero eight zero zero"
    assert number_words("1234567") == "one two three four five six seven"
    assert number_words("100") == "one hundred"
    assert number_words("0") == "zero"


def test_spoken_symbols_become_words() -> None:
    assert norm("AT&T") == "at and t"


def test_a_character_the_model_cannot_spell_is_named() -> None:
    with pytest.raises(InvalidPhrase) as caught:
        norm("café royal")
    assert "'é'" in str(caught.value)
    assert caught.value.details == {"field": "phrase", "character": "é"}


def test_symbols_without_a_spoken_form_are_refused() -> None:
    with pytest.raises(InvalidPhrase, match="'\\$'"):
        norm("$100 plan")


def test_a_phrase_of_only_punctuation_is_refused() -> None:
    with pytest.raises(InvalidPhrase, match="no words"):
        norm("?!...")


def test_the_length_limit_applies_after_normalization() -> None:
    assert norm("seven", max_chars=5) == "seven"
    with pytest.raises(InvalidPhrase, match="IVR_HOTWORDS_MAX_PHRASE_CHARS"):
        norm("7 7", max_chars=5)  # "seven seven"


def test_alphabet_is_read_from_the_models_labels(tmp_path: Path) -> None:
    (tmp_path / "labels.json").write_text(json.dumps(["<blank>", " ", "'", *"abc"]))
    alphabet = load_alphabet(tmp_path)
    assert alphabet == frozenset(" 'abc")
    assert normalize_phrase("cab", max_chars=10, alphabet=alphabet) == "cab"
    with pytest.raises(InvalidPhrase, match="'d'"):
        normalize_phrase("dab", max_chars=10, alphabet=alphabet)


def test_without_labels_the_default_alphabet_is_used(tmp_path: Path) -> None:
    assert load_alphabet(tmp_path) == DEFAULT_ALPHABET
