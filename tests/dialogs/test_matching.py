"""Matching is deterministic and says which rule fired on which words."""

from __future__ import annotations

import datetime as dt

import pytest

from dialogs.matching import Match, match_intent, parse_slot, parse_slot_dtmf, spoken_digits, yes_no
from dialogs.schema import Choice, Intent, Slot

INTENTS = {
    "billing": Intent(phrases=("pay my bill",), keywords=("invoice", "billing"), goto="b"),
    "sales": Intent(phrases=("buy a new phone",), keywords=("buy",), dtmf="2", goto="s"),
}
TODAY = dt.date(2026, 1, 5)


@pytest.mark.parametrize(
    ("said", "digits"),
    [
        ("four two oh seven", "4207"),
        ("one two three four five six seven eight", "12345678"),
        ("double five six", "556"),
        ("my account is 1 2 3 4", "1234"),
        ("twenty five", "25"),
        ("nothing here", None),
    ],
)
def test_spoken_digits(said: str, digits: str | None) -> None:
    assert spoken_digits(said) == digits


def test_exact_phrase_beats_keyword() -> None:
    assert match_intent("Pay my bill!", INTENTS) == Match("billing", "phrase", "pay my bill", 1.0)


def test_keyword_inside_an_utterance() -> None:
    found = match_intent("uh there's a problem with my invoice", INTENTS)
    assert found == Match("billing", "keyword", "invoice", 0.85)


def test_similar_phrase_explains_itself() -> None:
    found = match_intent("I want to buy new phone", INTENTS)
    assert found is not None and found.value == "sales"


def test_nothing_matches_gibberish() -> None:
    assert match_intent("purple elephants", INTENTS) is None


def test_keyword_does_not_match_inside_another_word() -> None:
    assert match_intent("buyer", INTENTS) is None


def test_yes_no_refuses_both() -> None:
    assert yes_no("yes") == Match("yes", "yes_word", "yes")
    assert yes_no("no, wrong") is not None and yes_no("no, wrong").value == "no"  # type: ignore[union-attr]
    assert yes_no("yes no") is None


@pytest.mark.parametrize(
    ("slot", "said", "value"),
    [
        (Slot(type="digits", length=4), "four two oh seven", "4207"),
        (Slot(type="digits", length=4), "four two", None),
        (Slot(type="digits", min_length=2, max_length=3), "one two three", "123"),
        (Slot(type="number", min=1, max=10), "seven", "7"),
        (Slot(type="number", min=1, max=10), "twelve", None),
        (Slot(type="amount"), "twenty five dollars and fifty cents", "25.50"),
        (Slot(type="amount"), "$12.5", "12.50"),
        (Slot(type="date"), "tomorrow", "2026-01-06"),
        (Slot(type="date"), "the fifth of march nineteen eighty", "1980-03-05"),
        (Slot(type="date"), "03/05/1980", "1980-03-05"),
        (Slot(type="date"), "february thirtieth", None),
        (Slot(type="time"), "three thirty pm", "15:30"),
        (Slot(type="time"), "noon", "12:00"),
        (
            Slot(type="choice", choices=(Choice(value="red", synonyms=("crimson",)),)),
            "crimson",
            "red",
        ),
        (Slot(type="text"), "  anything   at all ", "anything at all"),
    ],
)
def test_slot_types(slot: Slot, said: str, value: str | None) -> None:
    found = parse_slot(slot, said, TODAY)
    assert (found.value if found else None) == value


def test_keypad_for_slots() -> None:
    assert parse_slot_dtmf(Slot(type="digits", length=3), "123") == Match("123", "dtmf", "123")
    assert parse_slot_dtmf(Slot(type="digits", length=3), "12") is None
    assert parse_slot_dtmf(Slot(type="yes_no"), "2") == Match("no", "dtmf", "2")
    choice = Slot(type="choice", choices=(Choice(value="red", dtmf="4"),))
    assert parse_slot_dtmf(choice, "4") == Match("red", "dtmf", "4")
