"""Inverse text normalisation for dialog slots: spoken numbers to digits.

text2num's `alpha2digit` turns cardinal numbers into digits ("twenty five dollars" ->
"25 dollars"); on top of it a digit-string rule joins runs of single digits the way callers read
account and phone numbers ("four two oh seven" -> "4207"), where "oh" means zero only inside such
a run and "double"/"triple" repeat the next digit.
"""

from __future__ import annotations

import re

from text_to_num import alpha2digit

DIGITS = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
ZERO_LETTERS = {"oh", "o"}
REPEATS = {"double": 2, "triple": 3}
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _digit_run(words: list[str], start: int) -> tuple[str, int]:
    """The digits of the run starting at `start` and the index after it ("" if none)."""
    digits: list[str] = []
    i = start
    saw_digit_word = False
    while i < len(words):
        word = words[i]
        if word in REPEATS and i + 1 < len(words) and words[i + 1] in DIGITS:
            digits.append(DIGITS[words[i + 1]] * REPEATS[word])
            saw_digit_word = True
            i += 2
        elif word in DIGITS:
            digits.append(DIGITS[word])
            saw_digit_word = True
            i += 1
        elif word in ZERO_LETTERS:
            digits.append("0")
            i += 1
        else:
            break
    joined = "".join(digits)
    if not saw_digit_word or len(joined) < 2:
        return "", start
    return joined, i


def join_digit_strings(text: str) -> str:
    """Runs of two or more spoken single digits become one digit string."""
    words = text.split()
    out: list[str] = []
    i = 0
    while i < len(words):
        digits, end = _digit_run(words, i)
        if digits:
            out.append(digits)
            i = end
        else:
            out.append(words[i])
            i += 1
    return " ".join(out)


def normalize_numbers(text: str) -> str:
    """ "four two seven one" -> "4271"; "twenty five dollars" -> "25 dollars"."""
    joined = join_digit_strings(text.lower())
    return str(alpha2digit(joined, "en"))


def digit_string(text: str) -> str | None:
    """All the digits a caller said, in order ("four two oh seven" -> "4207"), or None."""
    found = re.findall(r"\d+", normalize_numbers(text))
    return "".join(found) or None


def number_value(text: str) -> int | float | None:
    """The first number in an utterance ("twenty five dollars" -> 25), or None."""
    match = _NUMBER.search(normalize_numbers(text))
    if match is None:
        # text2num leaves a lone "one".."nine" as a word ("one ticket"); a slot wants its value
        lone = [DIGITS[w] for w in text.lower().split() if w in DIGITS]
        return int(lone[0]) if lone else None
    value = float(match.group())
    return int(value) if value.is_integer() else value
