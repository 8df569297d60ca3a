"""Inverse text normalisation for slots: digit strings and numbers."""

from __future__ import annotations

import pytest

from recognizer.itn import digit_string, normalize_numbers, number_value


@pytest.mark.parametrize(
    ("spoken", "written"),
    [
        ("four two seven one", "4271"),
        ("my pin is four two oh seven", "my pin is 4207"),
        ("twenty five dollars", "25 dollars"),
        ("one hundred and twenty three", "123"),
        ("double five one two", "5512"),
        ("oh no", "oh no"),
        ("i want one ticket", "i want one ticket"),
    ],
)
def test_spoken_numbers_become_digits(spoken: str, written: str) -> None:
    assert normalize_numbers(spoken) == written


def test_digit_strings_keep_leading_zeros() -> None:
    assert digit_string("oh four two") == "042"
    assert digit_string("no numbers here") is None


@pytest.mark.parametrize(
    ("spoken", "value"),
    [("twenty five dollars", 25), ("four two seven one", 4271), ("one ticket", 1), ("hi", None)],
)
def test_number_value_reads_the_first_number(spoken: str, value: int | None) -> None:
    assert number_value(spoken) == value
