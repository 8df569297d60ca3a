"""Hot-word phrases: what a tenant or a dialog state asks the decoder to favour.

A phrase carries its own boost in `BOOST_MIN..BOOST_MAX` (like the big cloud recognizers'
0-20), so two phrases with different boosts weigh differently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

BOOST_MIN = 0.0
BOOST_MAX = 20.0


@dataclass(frozen=True)
class Hotword:
    """One phrase (lowercase words the model can spell) and its boost."""

    phrase: str
    boost: float


def merge_hotwords(tenant: Iterable[Hotword], state: Iterable[Hotword]) -> tuple[Hotword, ...]:
    """Tenant hot words plus the dialog state's hints; the state's boost wins on conflict."""
    merged = {h.phrase: h for h in tenant}
    merged.update({h.phrase: h for h in state})
    return tuple(sorted(merged.values(), key=lambda h: h.phrase))


# --- the per-phrase scorer the beam search consults (see `recognizer/decoding.py`) ---

#: Log-score (natural log) added per matched word at boost 1 (pyctcdecode's own hot-word weight
#: is 10 per word; boost 10 here is the same). Tuned with `bench/hotwords.py`.
BOOST_SCALE = 1.0


@dataclass(frozen=True)
class PhraseProgress:
    """Where a beam stands in the hot phrases: (phrase index, words matched) still open, and
    the bonus already granted to those open matches (taken back if the phrase breaks off)."""

    open: frozenset[tuple[int, int]] = frozenset()
    credit: float = 0.0


EMPTY_PROGRESS = PhraseProgress()


class PhraseScorer:
    """Favours whole phrases, each with its own weight.

    A word earns its phrase's per-word bonus only when it continues an open match (or starts a
    phrase); when the next word breaks the phrase off, or the utterance ends mid-phrase, the
    bonus granted so far is taken back. So boosting "premier card" leaves "premier league" where
    it was, and "card" alone earns nothing. Within a word, a prefix of the expected next word
    earns a share of the bonus, so a rare name's beam survives until the name is complete.
    """

    def __init__(self, hotwords: Iterable[Hotword]) -> None:
        phrases: list[tuple[tuple[str, ...], float]] = []
        for hotword in hotwords:
            words = tuple(hotword.phrase.lower().split())
            if words and hotword.boost > 0:
                phrases.append((words, hotword.boost * BOOST_SCALE))
        self.phrases = tuple(phrases)
        self.words = frozenset(w for words, _ in self.phrases for w in words)
        self._first: dict[str, list[int]] = {}
        for index, (words, _) in enumerate(self.phrases):
            self._first.setdefault(words[0], []).append(index)
        self._prefixes: dict[str, float] = {}
        for words, weight in self.phrases:
            self._add_prefixes(words[0], weight)

    def __bool__(self) -> bool:
        return bool(self.phrases)

    def _add_prefixes(self, word: str, weight: float) -> None:
        for i in range(1, len(word) + 1):
            share = weight * i / len(word)
            self._prefixes[word[:i]] = max(self._prefixes.get(word[:i], 0.0), share)

    def advance(self, progress: PhraseProgress, word: str) -> tuple[float, PhraseProgress]:
        """The bonus change for appending `word`, and the new progress."""
        opened: set[tuple[int, int]] = set()
        completed = 0.0
        candidates = [(p, n) for p, n in progress.open] + [
            (p, 0) for p in self._first.get(word, ())
        ]
        for index, matched in candidates:
            words, weight = self.phrases[index]
            if words[matched] != word:
                continue
            if matched + 1 == len(words):
                completed = max(completed, weight * len(words))
            else:
                opened.add((index, matched + 1))
        credit = max((self.phrases[p][1] * n for p, n in opened), default=0.0)
        new = PhraseProgress(frozenset(opened), credit)
        return completed + credit - progress.credit, new

    def finish(self, progress: PhraseProgress) -> float:
        """At the end of the utterance an unfinished phrase gives its bonus back."""
        return -progress.credit

    def partial(self, progress: PhraseProgress, part: str) -> float | None:
        """Bonus for a word in progress, or None when `part` leads to no expected word."""
        starts, goes_on = self.starts(part), self.continuation(progress, part)
        if starts is None or goes_on is None:
            return goes_on if starts is None else starts
        return max(starts, goes_on)

    def starts(self, part: str) -> float | None:
        """Bonus for a word in progress as the start of a phrase's first word, or None."""
        return self._prefixes.get(part)

    def continuation(self, progress: PhraseProgress, part: str) -> float | None:
        """Bonus for a word in progress as the next word of an open phrase, or None."""
        shares = [
            self.phrases[index][1] * len(part) / len(self.phrases[index][0][matched])
            for index, matched in progress.open
            if self.phrases[index][0][matched].startswith(part)
        ]
        return max(shares, default=None)


def parse_hotword(text: str, default_boost: float = 10.0) -> Hotword:
    """`"premier card:12"` -> Hotword("premier card", 12.0); the boost defaults to 10."""
    phrase, sep, boost_text = text.rpartition(":")
    if not sep:
        phrase, boost_text = text, ""
    try:
        boost = float(boost_text) if boost_text else default_boost
    except ValueError:
        phrase, boost = text, default_boost
    return Hotword(normalise_phrase(phrase), check_boost(boost))


def normalise_phrase(phrase: str) -> str:
    """Lowercase, single spaces, only what the model spells (letters, apostrophe, space)."""
    words = phrase.lower().split()
    cleaned = " ".join(words)
    bad = sorted({c for c in cleaned if not (c.isascii() and (c.isalpha() or c in " '"))})
    if not cleaned or bad:
        raise ValueError(
            f"hot-word phrase {phrase!r} must be letters, apostrophes and spaces"
            + (f" (found {''.join(bad)!r})" if bad else "")
        )
    return cleaned


def check_boost(boost: float) -> float:
    if not BOOST_MIN <= boost <= BOOST_MAX:
        raise ValueError(f"hot-word boost {boost} is outside {BOOST_MIN:g}..{BOOST_MAX:g}")
    return boost
