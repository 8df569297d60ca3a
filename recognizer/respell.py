"""Second pass for hot phrases: find each one in the audio itself (CTC keyword spotting) and
respell the stretch of the hypothesis where the audio says it.

The beam search only spells letters the model found plausible frame by frame, so a name the
model half-hears ("castrol" for "kestrel") falls out of the beam however large its boost. Here
every hot phrase is aligned against every stretch of the utterance at once: a Viterbi search
with free start and end over the log-probabilities *relative to the best label of each frame*,
so a phrase's cost is how much less likely it is than the model's own best reading of the frames
it covers (0 when the model spelled exactly the phrase). A phrase whose cost per letter is
within an allowance that grows with its boost, and clearly likelier than ordinary words of its
length in the same frames, replaces the words it covers; acoustics that say something else
("premier league" against "premier card") keep their words. Where the phrase explains the
frames nearly as well as the words the beam decoded there, both tests are relaxed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recognizer.phrases import Hotword

FloatArray = npt.NDArray[np.float32]
#: Allowed cost (nats below the best path) per letter of a phrase: it grows with the boost and
#: saturates, ALLOWANCE_MAX * (1 - exp(-ALLOWANCE_RATE * boost)): about 1.2 at boost 2, 3.3 at
#: 10, 3.9 at 20. The cohort check below keeps impostors out where the allowance alone would not.
#: Calibrated through the streaming path (`transcribe`, 800 ms pre-roll) on the calibration
#: names of `bench.hotwords` spoken by 12 training voices, 432 utterances with a name and 3600
#: without (docs/recognizer.md), for the model shipped on 2026-12-07 15:30: the most recall
#: with at most 1 % false insertions at boost 10, with GAP_PENALTY and COHORT_MARGIN.
ALLOWANCE_MAX = 4.0
ALLOWANCE_RATE = 0.18
#: Taken off the allowance per letter when the phrase would cover no decoded word at all (an
#: insertion into what the beam heard as a pause): most such matches are impostors.
GAP_PENALTY = 0.5
#: Cost of each decoded word the phrase would swallow beyond its own word count: a phrase must
#: be worth losing a word that the language model liked.
SWALLOW_PENALTY = 4.0
#: A decoded word belongs to a match when at least this share of its frames lies inside it.
COVER_SHARE = 0.5
#: Where the audio is unclear, any string of letters aligns cheaply and a phrase's cost says
#: little. So a phrase must also beat, by this much per letter, the best of COHORT_SIZE
#: ordinary words of its length (the LM's unigrams) aligned in the same frames.
COHORT_MARGIN = 1.5
COHORT_SIZE = 30
#: The words the beam decoded in those frames are the phrase's closest rival. A phrase that
#: explains the frames within DECODED_SLACK nats per letter of them (an unseen voice's name
#: that the beam spelled as a near word: "quintero" for "quentara") needs only RELAXED_MARGIN
#: over the cohort; with FULL_MARGIN over the cohort, it may also spend the allowance of the
#: words it shares with the decoded ones ("marisol agar" for "marisol ortega"). Decoded words
#: that fit the audio by more than DECODED_SLACK nats per letter better ("premier league"
#: against "premier card", "trouble" against "trivella") keep the strict tests. Chosen on
#: calibration names spoken by 6 training voices and by 5 voices that neither training nor
#: `bench.hotwords` uses (recall 95.4 -> 97.2 % and 80.6 -> 91.1 % at boost 10, false
#: insertions 0.8 % and 0.9 %): docs/recognizer.md.
DECODED_SLACK = 2.0
RELAXED_MARGIN = 1.0
FULL_MARGIN = 2.0
_NEG = -1.0e30


@dataclass(frozen=True)
class Span:
    """A decoded word and its output frames [start, end)."""

    word: str
    start: int
    end: int


@dataclass(frozen=True)
class Match:
    """The best place of a phrase: frames [start, end) and its cost in nats (>= 0)."""

    phrase: int
    start: int
    end: int
    cost: float


class PhraseSpotter:
    """All phrases searched together: one Viterbi pass over (phrases, states) arrays."""

    def __init__(self, phrases: Sequence[Sequence[int]]) -> None:
        width = max((2 * len(p) + 1 for p in phrases), default=1)
        count = len(phrases)
        self.ext = np.zeros((count, width), dtype=np.int64)
        self.valid = np.zeros((count, width), dtype=bool)
        self.skip = np.zeros((count, width), dtype=bool)
        self.last = np.zeros(count, dtype=np.int64)
        for i, labels in enumerate(phrases):
            ext = [0]
            for label in labels:
                ext += [label, 0]
            size = len(ext)
            self.ext[i, :size] = ext
            self.valid[i, :size] = True
            arr = np.array(ext)
            self.skip[i, 2:size] = (arr[2:] != 0) & (arr[2:] != arr[:-2])
            self.last[i] = size - 2  # the state of the phrase's last letter

    def search(self, log_probs: FloatArray) -> list[Match]:
        """The cheapest place of every phrase (none when the utterance is too short)."""
        count, width = self.ext.shape
        frames = len(log_probs)
        if count == 0 or frames == 0:
            return []
        relative = log_probs - log_probs.max(axis=1, keepdims=True)
        emit = np.where(self.valid[None], relative[:, self.ext], _NEG)
        alpha = np.full((count, width), _NEG)
        begin = np.zeros((count, width), dtype=np.int64)
        fresh = np.full((count, width), _NEG)
        fresh[:, 1] = 0.0  # a match starts on its first letter
        best = np.full(count, _NEG)
        best_start = np.zeros(count, dtype=np.int64)
        best_end = np.zeros(count, dtype=np.int64)
        rows = np.arange(count)
        for t in range(frames):
            shift1 = np.full_like(alpha, _NEG)
            shift1[:, 1:] = alpha[:, :-1]
            shift2 = np.full_like(alpha, _NEG)
            shift2[:, 2:] = np.where(self.skip[:, 2:], alpha[:, :-2], _NEG)
            begin1 = np.zeros_like(begin)
            begin1[:, 1:] = begin[:, :-1]
            begin2 = np.zeros_like(begin)
            begin2[:, 2:] = begin[:, :-2]
            choices = np.stack([alpha, shift1, shift2, fresh])
            pick = choices.argmax(axis=0)
            alpha = np.take_along_axis(choices, pick[None], axis=0)[0] + emit[t]
            begin = np.choose(pick, [begin, begin1, begin2, np.full_like(begin, t)])
            ending = alpha[rows, self.last]
            better = ending >= best  # on a tie, the later end covers the whole letter
            best = np.where(better, ending, best)
            best_start = np.where(better, begin[rows, self.last], best_start)
            best_end = np.where(better, t + 1, best_end)
        return [
            Match(i, int(best_start[i]), int(best_end[i]), float(-best[i]))
            for i in range(count)
            if best[i] > _NEG / 2
        ]


class Cohort:
    """Impostors for phrases of each length: ordinary words (two of them past a dozen letters),
    the same ones on every run. Built once per model; `best_cost` is pure and thread-safe."""

    def __init__(
        self, words: Sequence[str], label_index: dict[str, int], longest: int = 40
    ) -> None:
        by_length: dict[int, list[str]] = {}
        for word in sorted(set(words)):
            if word.isalpha() and all(c in label_index for c in word):
                by_length.setdefault(len(word), []).append(word)
        #: per letter count: the spotter of its impostors and their letters (spaces dropped)
        self._sets: dict[int, tuple[PhraseSpotter, list[str]]] = {}
        for letters in range(1, longest + 1):
            rng = random.Random(letters)  # noqa: S311 (a fixed sample, not security)
            pool = [w for n in (letters - 1, letters, letters + 1) for w in by_length.get(n, [])]
            if letters <= 12:
                chosen = rng.sample(pool, min(COHORT_SIZE, len(pool)))
            else:
                short = [w for n in range(3, letters - 2) for w in by_length.get(n, [])]
                chosen = []
                for _ in range(COHORT_SIZE * 20 if short else 0):
                    first = rng.choice(short)
                    rest = by_length.get(letters - len(first), [])
                    if rest:
                        chosen.append(f"{first} {rng.choice(rest)}")
                    if len(chosen) == COHORT_SIZE:
                        break
            if chosen:
                spotter = PhraseSpotter([[label_index[c] for c in text] for text in chosen])
                self._sets[letters] = (spotter, [text.replace(" ", "") for text in chosen])
        self.longest = longest

    def best_cost(self, words: Sequence[str], log_probs: FloatArray) -> float:
        """The cheapest impostor of about the phrase's length in these frames (inf: none);
        a cohort word spelled like the phrase itself is no impostor."""
        found = self._sets.get(min(sum(len(w) for w in words), self.longest))
        if found is None:
            return math.inf
        spotter, texts = found
        own = "".join(words)
        costs = [m.cost for m in spotter.search(log_probs) if texts[m.phrase] != own]
        return min(costs, default=math.inf)


class Respeller:
    """Built once per hot-word set (with its decoder); `apply` is pure and thread-safe."""

    def __init__(
        self,
        hotwords: Sequence[Hotword],
        label_index: dict[str, int],
        cohort: Cohort | None = None,
    ) -> None:
        self.phrases = [
            (h.phrase.split(), h.boost)
            for h in hotwords
            if h.boost > 0 and all(c in label_index for c in h.phrase)
        ]
        self._spotter = PhraseSpotter(
            [[label_index[c] for c in " ".join(words)] for words, _ in self.phrases]
        )
        self._cohort = cohort
        self._labels = label_index

    def allowance(self, index: int, decoded: Sequence[str] | None = None) -> float:
        """What the phrase may cost where it covers the `decoded` words (None: not placed
        yet): only the letters of its words not decoded already earn it, so the words the
        model got right do not pay for a word the audio lacks."""
        words, boost = self.phrases[index]
        per_letter = ALLOWANCE_MAX * (1.0 - math.exp(-ALLOWANCE_RATE * boost))
        if decoded is not None and not decoded:
            per_letter = max(0.0, per_letter - GAP_PENALTY)
        return per_letter * sum(len(w) for w in words if w not in (decoded or ()))

    def apply(self, spans: list[Span], log_probs: FloatArray) -> list[Span]:
        """The spans with each stretch where the audio allows a hot phrase respelled as it."""
        matches = self._spotter.search(log_probs)
        taken: list[tuple[int, int]] = []
        for match in sorted(matches, key=lambda m: m.cost - self.allowance(m.phrase)):
            words = self.phrases[match.phrase][0]
            covered = [i for i, s in enumerate(spans) if _covers(match, s)]
            lo = min([match.start] + [spans[i].start for i in covered])
            hi = max([match.end] + [spans[i].end for i in covered])
            if any(lo < end and start < hi for start, end in taken):
                continue
            if [spans[i].word for i in covered] == words:
                taken.append((lo, hi))
                continue
            decoded = [spans[i].word for i in covered]
            swallowed = max(0, len(covered) - len(words))
            cost = match.cost + SWALLOW_PENALTY * swallowed
            window = log_probs[max(0, lo - 2) : hi + 2]
            if not self._accepts(match, decoded, cost, window):
                continue
            taken.append((lo, hi))
            if covered:
                first, after = covered[0], covered[-1] + 1
            else:
                first = after = sum(1 for s in spans if s.end <= match.start)
            spans = spans[:first] + _split(words, lo, hi) + spans[after:]
        return spans

    def _accepts(self, match: Match, decoded: list[str], cost: float, window: FloatArray) -> bool:
        """The allowance, the cohort and the decoded words' test, cheapest first; the
        relaxations (DECODED_SLACK) need decoded words and a cohort of the phrase's length."""
        words = self.phrases[match.phrase][0]
        letters = sum(len(w) for w in words)
        fits = cost <= self.allowance(match.phrase, decoded)
        if not fits and cost > self.allowance(match.phrase):
            return False
        if self._cohort is None:
            return fits
        rival = self._cohort.best_cost(words, window)
        margin = (rival - match.cost) / letters
        if fits and margin >= COHORT_MARGIN:
            return True
        if not decoded or not math.isfinite(rival):
            return False
        if margin < (RELAXED_MARGIN if fits else FULL_MARGIN):
            return False
        return self._decoded_cost(decoded, window) - match.cost >= -DECODED_SLACK * letters

    def _decoded_cost(self, decoded: list[str], window: FloatArray) -> float:
        """What the beam's own words cost in these frames; -inf where they cannot be aligned
        there, so that the relaxed tests never apply."""
        text = " ".join(decoded)
        if not all(c in self._labels for c in text):
            return -math.inf
        found = PhraseSpotter([[self._labels[c] for c in text]]).search(window)
        return found[0].cost if found else -math.inf


def _covers(match: Match, span: Span) -> bool:
    inside = min(match.end, span.end) - max(match.start, span.start)
    return inside > 0 and inside >= COVER_SHARE * max(1, span.end - span.start)


def _split(words: list[str], start: int, end: int) -> list[Span]:
    """The phrase's words over the frames [start, end), shared by letter count."""
    total = sum(len(w) for w in words)
    spans = []
    at = float(start)
    for word in words:
        width = (end - start) * len(word) / total
        spans.append(Span(word, round(at), max(round(at + width), round(at) + 1)))
        at += width
    return spans
