"""Turn what an operator types into what the model can emit.

The acoustic model spells lowercase a-z, the apostrophe and the space (its `labels.json`), so a
hot word must be written with those alone: "Quorvia Premier!" becomes "quorvia premier", "Route 7"
becomes "route seven", and "café" is refused naming "é" rather than silently never matching.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from hotwords.errors import InvalidPhrase

DEFAULT_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz' ")

_ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
)  # fmt: skip
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
# Hyphens, slashes and the like separate words ("t-mobile" is said "t mobile").
_SEPARATORS = frozenset("-‐‑‒–—/\\_|.,:;")
_APOSTROPHES = frozenset("'’ʼ‘`")
_SPOKEN_SYMBOLS = {"&": " and ", "+": " plus ", "@": " at ", "%": " percent "}
_NUMBER = re.compile(r"\d+")
_LONGEST_CARDINAL = 6  # longer digit strings are read digit by digit, like account numbers


def load_alphabet(model_dir: Path) -> frozenset[str]:
    """The single characters of the model's `labels.json`, or a-z, apostrophe and space."""
    path = model_dir / "labels.json"
    try:
        labels = json.loads(path.read_text())
    except (OSError, ValueError):
        return DEFAULT_ALPHABET
    chars = {label for label in labels if isinstance(label, str) and len(label) == 1}
    return frozenset(chars | {" "}) if chars else DEFAULT_ALPHABET


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    if n >= 100:
        words += [_ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10])
        n %= 10
        if n:
            words.append(_ONES[n])
    elif n or not words:
        words.append(_ONES[n])
    return words


def number_words(digits: str) -> str:
    """ "7" -> "seven", "42" -> "forty two", "1200" -> "one thousand two hundred";
    past six digits (or with a leading zero) digit by digit: "0800" -> "zero eight zero zero"."""
    if len(digits) > _LONGEST_CARDINAL or (len(digits) > 1 and digits.startswith("0")):
        return " ".join(_ONES[int(d)] for d in digits)
    value = int(digits)
    thousands, rest = divmod(value, 1000)
    words: list[str] = []
    if thousands:
        words += [*_below_thousand(thousands), "thousand"]
    if rest or not words:
        words += _below_thousand(rest)
    return " ".join(words)


def _spoken(text: str) -> str:
    text = unicodedata.normalize("NFC", text).lower()
    out: list[str] = []
    for char in text:
        if char in _SEPARATORS or char.isspace():
            out.append(" ")
        elif char in _APOSTROPHES:
            out.append("'")
        elif char in _SPOKEN_SYMBOLS:
            out.append(_SPOKEN_SYMBOLS[char])
        elif unicodedata.category(char).startswith("P"):
            continue  # quotes, brackets, ! ? and friends carry no sound
        else:
            out.append(char)
    return _NUMBER.sub(lambda m: f" {number_words(m.group())} ", "".join(out))


def normalize_phrase(
    text: str, *, max_chars: int, alphabet: Iterable[str] = DEFAULT_ALPHABET
) -> str:
    """The phrase as the model would spell it; `InvalidPhrase` names what cannot be spelled."""
    allowed = frozenset(alphabet)
    words = [w.strip("'") for w in _spoken(text).split()]
    phrase = " ".join(w for w in words if w)
    for char in phrase:
        if char not in allowed:
            raise InvalidPhrase(
                f"phrase {text!r} contains {char!r} (U+{ord(char):04X}), which the model cannot "
                "spell: use letters a-z, digits, apostrophes and spaces",
                field="phrase",
                character=char,
            )
    if not phrase:
        raise InvalidPhrase(
            f"phrase {text!r} has no words once punctuation is removed", field="phrase"
        )
    if len(phrase) > max_chars:
        raise InvalidPhrase(
            f"phrase {phrase!r} is {len(phrase)} characters long, above the limit of "
            f"{max_chars} (IVR_HOTWORDS_MAX_PHRASE_CHARS)",
            field="phrase",
        )
    return phrase
