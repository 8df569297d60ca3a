"""Deterministic, explainable matching of what the caller said or pressed.

Every match says which rule fired and on what (`Match.rule`, `Match.detail`), and ties break by
the order the flow declares things in, so the same words always take the same path. Numbers go
through one function, `spoken_numbers`, the seam where the recognizer's ITN plugs in.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

from dialogs.schema import Choice, Intent, Slot
from recognizer.itn import normalize_numbers


@dataclass(frozen=True)
class Match:
    """What was understood (`value`), by which rule, on which words, how strongly."""

    value: str
    rule: str
    detail: str
    score: float = 1.0


def spoken_numbers(text: str) -> str:
    """Written-out numbers to digits ("twenty five" -> "25", "four two oh seven" -> "4207"):
    the recognizer's inverse text normalization, the one place the dialogs call it."""
    return normalize_numbers(text)


DIGIT_WORDS = {
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
REPEAT_WORDS = {"double": 2, "triple": 3}
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "i",
        "i'm",
        "im",
        "to",
        "my",
        "me",
        "please",
        "would",
        "like",
        "want",
        "need",
        "is",
        "it",
        "its",
        "it's",
        "for",
        "of",
        "on",
        "in",
        "and",
        "uh",
        "um",
        "er",
        "can",
        "you",
        "could",
        "with",
        "about",
    ]
)
YES = ("yes", "yeah", "yep", "yup", "correct", "right", "sure", "affirmative", "ok", "okay",
       "that's right", "thats right", "exactly", "true")  # fmt: skip
NO = ("no", "nope", "wrong", "incorrect", "not", "negative", "nah", "false")
MONTHS = {
    m: i + 1
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ]
    )
}
MONTHS.update({name[:3]: num for name, num in list(MONTHS.items())})


def normalize(text: str) -> str:
    """Lower case, punctuation out (apostrophes in words kept), single spaces."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^\w\s'.:$/-]", " ", text)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)
    return " ".join(text.split())


def _words(text: str) -> list[str]:
    return re.sub(r"[.:$/-]", " ", text).split()


def _contains(text: str, phrase: str) -> bool:
    return f" {phrase} " in f" {text} "


def spoken_digits(text: str) -> str | None:
    """The digit string in "four two oh seven", "double five 6", "1 2 3"; None if no digits."""
    words = _words(spoken_numbers(normalize(text)))
    out: list[str] = []
    repeat = 1
    for word in words:
        if word in REPEAT_WORDS:
            repeat = REPEAT_WORDS[word]
            continue
        digit = DIGIT_WORDS.get(word, word if word.isdigit() else None)
        if digit is not None:
            out.append(digit[0] * repeat + digit[1:] if repeat > 1 else digit)
        repeat = 1
    return "".join(out) or None


def match_intent(text: str, intents: Mapping[str, Intent]) -> Match | None:
    """The best intent for an utterance: exact phrase, phrase inside, keyword, similar phrase."""
    said = normalize(text)
    if not said:
        return None
    said_words = set(_words(said)) - STOPWORDS
    best: Match | None = None
    for name, intent in intents.items():
        candidates: list[Match] = []
        for phrase in intent.phrases:
            norm = normalize(phrase)
            if norm == said:
                candidates.append(Match(name, "phrase", phrase, 1.0))
            elif _contains(said, norm):
                candidates.append(Match(name, "phrase_in_utterance", phrase, 0.9))
            else:
                content = set(_words(norm)) - STOPWORDS
                if content:
                    overlap = len(content & said_words) / len(content)
                    if overlap >= 0.6:
                        candidates.append(Match(name, "similar_phrase", phrase, 0.8 * overlap))
        candidates += [
            Match(name, "keyword", keyword, 0.85)
            for keyword in intent.keywords
            if _contains(said, normalize(keyword))
        ]
        for candidate in candidates:
            if best is None or candidate.score > best.score:
                best = candidate
    return best


def match_dtmf_intent(digits: str, intents: Mapping[str, Intent]) -> Match | None:
    for name, intent in intents.items():
        if intent.dtmf is not None and intent.dtmf == digits:
            return Match(name, "dtmf", digits)
    return None


def yes_no(text: str) -> Match | None:
    said = normalize(text)
    yes = next((w for w in YES if _contains(said, w)), None)
    no = next((w for w in NO if _contains(said, w)), None)
    if yes and not no:
        return Match("yes", "yes_word", yes)
    if no and not yes:
        return Match("no", "no_word", no)
    return None


def _choice(text: str, choices: tuple[Choice, ...]) -> Match | None:
    said = normalize(text)
    for choice in choices:
        for word in (choice.value, *choice.synonyms):
            if _contains(said, normalize(word)):
                rule = "choice" if word == choice.value else "synonym"
                return Match(choice.value, rule, word)
    return None


def _number(text: str) -> float | None:
    found = re.search(r"-?\d+(?:\.\d+)?", spoken_numbers(normalize(text)).replace(",", ""))
    return float(found.group()) if found else None


def _amount(text: str) -> Match | None:
    said = spoken_numbers(normalize(text)).replace(",", "")
    dollars = re.search(r"\$?(\d+(?:\.\d{1,2})?)\s*(?:dollars?|bucks?)?", said)
    cents = re.search(r"(\d{1,2})\s*cents?", said)
    if dollars is None and cents is None:
        return None
    value = 0.0
    if dollars is not None and not (cents is not None and dollars.start() == cents.start()):
        value = float(dollars.group(1))
    if cents is not None:
        value += int(cents.group(1)) / 100
    return Match(f"{value:.2f}", "amount", said)


def _date(text: str, today: dt.date) -> Match | None:
    said = spoken_numbers(normalize(text))
    relative = {"today": 0, "tomorrow": 1, "yesterday": -1}
    for word, delta in relative.items():
        if _contains(said, word):
            return Match((today + dt.timedelta(days=delta)).isoformat(), "relative_date", word)
    said = re.sub(r"\b(19|20) (\d\d)\b", r"\1\2", said)  # "19 80" -> "1980"
    patterns = [
        (r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", ("y", "m", "d")),
        (r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b", ("m", "d", "y")),
    ]
    for pattern, order in patterns:
        found = re.search(pattern, said)
        if found:
            parts = dict(zip(order, (int(g) for g in found.groups()), strict=True))
            return _date_match(parts["y"], parts["m"], parts["d"], "numeric_date", found.group())
    month = next((w for w in _words(said) if w in MONTHS), None)
    day = re.search(r"\b(\d{1,2})(?:st|nd|rd|th)?\b", said)
    if month is None or day is None:
        return None
    year = re.search(r"\b(\d{4})\b", said)
    return _date_match(
        int(year.group(1)) if year else today.year, MONTHS[month], int(day.group(1)),
        "spoken_date", said,
    )  # fmt: skip


def _date_match(year: int, month: int, day: int, rule: str, detail: str) -> Match | None:
    try:
        return Match(dt.date(year, month, day).isoformat(), rule, detail)
    except ValueError:
        return None


def _time(text: str) -> Match | None:
    said = spoken_numbers(normalize(text)).replace("a.m.", "am").replace("p.m.", "pm")
    if _contains(said, "noon"):
        return Match("12:00", "time_word", "noon")
    if _contains(said, "midnight"):
        return Match("00:00", "time_word", "midnight")
    found = re.search(r"\b(\d{1,2})(?:[: ](\d{2}))?\s*(am|pm)?\b", said)
    if found is None:
        return None
    hour, minute = int(found.group(1)), int(found.group(2) or 0)
    if found.group(3) == "pm" and hour < 12:
        hour += 12
    if found.group(3) == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        return None
    return Match(f"{hour:02d}:{minute:02d}", "time", found.group())


def _digits_ok(slot: Slot, digits: str) -> bool:
    if slot.length is not None:
        return len(digits) == slot.length
    return (slot.min_length or 1) <= len(digits) <= (slot.max_length or 64)


def _in_range(slot: Slot, value: float) -> bool:
    return (slot.min is None or value >= slot.min) and (slot.max is None or value <= slot.max)


def _format_number(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def parse_slot(slot: Slot, text: str, today: dt.date) -> Match | None:
    """A slot value from an utterance, or None when it does not fit the slot's type."""
    match: Match | None
    if slot.type == "digits":
        digits = spoken_digits(text)
        ok = digits is not None and _digits_ok(slot, digits)
        return Match(digits, "spoken_digits", text) if ok and digits else None
    if slot.type == "yes_no":
        return yes_no(text)
    if slot.type in ("number", "amount"):
        match = _amount(text) if slot.type == "amount" else None
        number = float(match.value) if match else _number(text)
        if number is None or not _in_range(slot, number):
            return None
        return match or Match(_format_number(number), "number", text)
    if slot.type == "date":
        return _date(text, today)
    if slot.type == "time":
        return _time(text)
    if slot.type == "choice":
        return _choice(text, slot.choices)
    said = " ".join(text.split())
    return Match(said, "free_text", said) if said else None


def parse_slot_dtmf(slot: Slot, digits: str) -> Match | None:
    """A slot value from keys pressed: digits as they are, 1/2 for yes/no, a choice's key."""
    if slot.type == "digits":
        return Match(digits, "dtmf", digits) if _digits_ok(slot, digits) else None
    if slot.type == "yes_no":
        value = {"1": "yes", "2": "no"}.get(digits)
        return Match(value, "dtmf", digits) if value else None
    if slot.type in ("number", "amount") and digits.isdigit():
        number = float(digits)
        return Match(_format_number(number), "dtmf", digits) if _in_range(slot, number) else None
    if slot.type == "choice":
        chosen = next((c for c in slot.choices if c.dtmf == digits), None)
        return Match(chosen.value, "dtmf", digits) if chosen else None
    return None
