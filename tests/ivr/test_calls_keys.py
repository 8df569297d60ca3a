"""Key collection rules of a `Listen`: max digits, the finish key, min digits, no spec."""

from __future__ import annotations

from dialogs.actions import Digits, DtmfSpec
from ivr.calls import KeyEntry


def press(entry: KeyEntry, keys: str) -> Digits | None:
    answer = None
    for key in keys:
        answer = entry.add(key)
        if answer is not None:
            return answer
    return answer


def test_entry_ends_at_max_digits() -> None:
    assert press(KeyEntry(DtmfSpec(max_digits=4, min_digits=4)), "123456") == Digits("1234")


def test_the_finish_key_ends_a_shorter_entry_and_is_not_a_digit() -> None:
    assert press(KeyEntry(DtmfSpec(max_digits=8, min_digits=2)), "42#") == Digits("42")


def test_the_finish_key_before_min_digits_is_ignored() -> None:
    entry = KeyEntry(DtmfSpec(max_digits=8, min_digits=3))
    assert press(entry, "4#") is None
    assert press(entry, "56#") == Digits("456")


def test_without_a_spec_each_key_is_an_answer() -> None:
    assert KeyEntry(None).add("7") == Digits("7")


def test_star_and_letters_are_digits_when_not_the_finish_key() -> None:
    assert press(KeyEntry(DtmfSpec(max_digits=3, finish_key="#")), "*A1") == Digits("*A1")
