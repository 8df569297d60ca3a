"""Second pass for hot phrases: respell a stretch of the hypothesis that sounds like one.

The beam search only spells letters the model found plausible frame by frame, so a name the
model half-hears ("castrol" for "kestrel") can fall out of the beam however large its boost.
Here every short run of decoded words whose letters resemble a hot phrase is checked against
the audio: the CTC log-likelihood of the phrase over the run's frames, plus the phrase's boost
for each word the run lacks, must beat the likelihood of what was decoded there. Acoustics
that clearly say something else ("premier league") keep their words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np
import numpy.typing as npt

from recognizer.phrases import BOOST_SCALE, Hotword

FloatArray = npt.NDArray[np.float32]
#: Letters of a run and of a phrase must be this similar (difflib ratio) to be compared.
MIN_SIMILARITY = 0.6
#: The second pass weighs a phrase's boost this much more than the beam search does: it only
#: ever compares the phrase with what the audio already resembles (tuned with bench/hotwords.py).
RESPELL_BOOST = 2.0
#: Cost of each decoded word the phrase would swallow beyond its own word count ("to safely" ->
#: "tessaly" must be worth losing a word the language model liked).
SWALLOW_PENALTY = 8.0
#: Frames added on each side of a run, so an alignment may start or end a little apart.
MARGIN_FRAMES = 2


@dataclass(frozen=True)
class Span:
    """A decoded word and its output frames [start, end)."""

    word: str
    start: int
    end: int


def ctc_log_likelihood(log_probs: FloatArray, labels: Sequence[int]) -> float:
    """log P(labels | frames) under CTC (blank = 0), by the forward algorithm."""
    frames = len(log_probs)
    extended = [0]
    for label in labels:
        extended += [label, 0]
    states = len(extended)
    if frames == 0 or len(labels) > frames:
        return -np.inf
    ext = np.array(extended)
    # a state may skip the blank before it when its label differs from the one two back
    skip = np.zeros(states, dtype=bool)
    skip[2:] = (ext[2:] != 0) & (ext[2:] != ext[:-2])
    alpha = np.full(states, -np.inf)
    alpha[0] = log_probs[0, 0]
    if states > 1:
        alpha[1] = log_probs[0, ext[1]]
    for t in range(1, frames):
        shifted1 = np.concatenate([[-np.inf], alpha[:-1]])
        shifted2 = np.concatenate([[-np.inf, -np.inf], alpha[:-2]])
        shifted2 = np.where(skip, shifted2, -np.inf)
        alpha = np.logaddexp(np.logaddexp(alpha, shifted1), shifted2) + log_probs[t, ext]
    return float(np.logaddexp(alpha[-1], alpha[-2]) if states > 1 else alpha[-1])


class Respeller:
    """Built once per hot-word set (with its decoder); `apply` is pure and thread-safe."""

    def __init__(self, hotwords: Sequence[Hotword], label_index: dict[str, int]) -> None:
        self._index = label_index
        self.phrases = [
            (h.phrase.split(), h.boost * BOOST_SCALE * RESPELL_BOOST)
            for h in hotwords
            if h.boost > 0 and all(c in label_index for c in h.phrase)
        ]

    def _encode(self, words: Sequence[str]) -> list[int]:
        return [self._index[c] for c in " ".join(words)]

    def apply(self, spans: list[Span], log_probs: FloatArray) -> list[Span]:
        """The spans with each stretch that the audio lets be a hot phrase respelled."""
        for words, weight in self.phrases:
            spans = self._respell(spans, log_probs, words, weight)
        return spans

    def _respell(
        self, spans: list[Span], log_probs: FloatArray, words: list[str], weight: float
    ) -> list[Span]:
        letters = "".join(words)
        i = 0
        while i < len(spans):
            best: tuple[float, int] | None = None
            for size in range(1, len(words) + 2):
                run = spans[i : i + size]
                if len(run) < size or [s.word for s in run] == words:
                    break
                gain = self._gain(run, log_probs, words, letters, weight)
                if gain is not None and gain > 0 and (best is None or gain > best[0]):
                    best = (gain, size)
            if best is None:
                i += 1
                continue
            run = spans[i : i + best[1]]
            spans = spans[:i] + self._split(words, run[0].start, run[-1].end) + spans[i + best[1] :]
            i += len(words)
        return spans

    def _gain(
        self,
        run: list[Span],
        log_probs: FloatArray,
        words: list[str],
        letters: str,
        weight: float,
    ) -> float | None:
        decoded = [s.word for s in run]
        if SequenceMatcher(None, "".join(decoded), letters).ratio() < MIN_SIMILARITY:
            return None
        lo = max(0, run[0].start - MARGIN_FRAMES)
        hi = min(len(log_probs), run[-1].end + MARGIN_FRAMES)
        frames = log_probs[lo:hi]
        phrase_ll = ctc_log_likelihood(frames, self._encode(words))
        decoded_ll = ctc_log_likelihood(frames, self._encode(decoded))
        missing = sum(1 for w in words if w not in decoded)
        swallowed = max(0, len(decoded) - len(words))
        return phrase_ll + weight * missing - SWALLOW_PENALTY * swallowed - decoded_ll

    @staticmethod
    def _split(words: list[str], start: int, end: int) -> list[Span]:
        """The phrase's words over the run's frames, shared by letter count."""
        total = sum(len(w) for w in words)
        spans = []
        at = float(start)
        for word in words:
            width = (end - start) * len(word) / total
            spans.append(Span(word, round(at), max(round(at + width), round(at) + 1)))
            at += width
        return spans
