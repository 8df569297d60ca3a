"""CTC decoding: pyctcdecode's beam search with the KenLM model and per-phrase hot words.

This is the only module that imports pyctcdecode (0.5.0, unmaintained: keep it behind this
door). The KenLM model and unigrams load once per model; a decoder per hot-word set is cheap (it
shares the loaded LM) and cached, so nothing costly is rebuilt per utterance. Hot phrases enter
as one more scorer wrapped around the LM (`PhraseBoostedLM`), and `_PhraseDecoder` lets a word in
progress be scored against the phrase the beam is in (pyctcdecode scores partial words without
their history).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kenlm
import numpy as np
import numpy.typing as npt
from pyctcdecode.alphabet import Alphabet
from pyctcdecode.constants import LOG_BASE_CHANGE_FACTOR
from pyctcdecode.decoder import BeamSearchDecoderCTC, _merge_tokens
from pyctcdecode.language_model import AbstractLanguageModel, LanguageModel

from recognizer.engines import model_file, read_config, read_labels
from recognizer.errors import ModelError
from recognizer.phrases import EMPTY_PROGRESS, Hotword, PhraseProgress, PhraseScorer
from recognizer.respell import Cohort, Respeller, Span

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
LM_FILE = "lm.bin"
UNIGRAMS_FILE = "unigrams.txt"
DECODER_CACHE_SIZE = 128


@dataclass(frozen=True)
class Word:
    """A recognized word, its start and end in seconds from the utterance start, and confidence."""

    word: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class Hypothesis:
    text: str
    confidence: float
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class DecoderOptions:
    alpha: float = 0.5
    beta: float = 1.0
    beam_width: int = 24
    beam_prune_logp: float = -10.0
    #: pyctcdecode's default; a model's config.json sets its own, tuned on dev
    token_min_logp: float = -5.0
    #: with hot words the beam also tries less likely letters, so a name the model half-hears
    #: can still be spelled (measured with `bench/hotwords.py`: recall 7 -> 16 of 24 at boost 20)
    hotword_token_min_logp: float = -8.0
    frame_s: float = 0.02


class PhraseBoostedLM(AbstractLanguageModel):
    """The KenLM model plus the hot-phrase scorer; the state is (KenLM state, phrase progress)."""

    def __init__(self, base: LanguageModel, scorer: PhraseScorer) -> None:
        self.base = base
        self.scorer = scorer

    @property
    def order(self) -> int:
        return self.base.order

    def get_start_state(self) -> Any:
        return (self.base.get_start_state(), EMPTY_PROGRESS)

    def score_partial_token(self, partial_token: str) -> float:
        return self.partial(EMPTY_PROGRESS, partial_token)

    def partial(self, progress: PhraseProgress, part: str) -> float:
        """A word in progress that does not continue the open phrase gives back its credit at
        once (even where it starts another phrase): deferred to the word's end, the debt lets
        the beam glue the next words onto it ("fridplease") and prune the beams that paid it."""
        starts = self.scorer.starts(part)
        goes_on = self.scorer.continuation(progress, part)
        if goes_on is not None:
            return goes_on if starts is None else max(starts, goes_on)
        score = self.base.score_partial_token(part) if starts is None else starts
        return score - progress.credit

    def score(self, prev_state: Any, word: str, is_last_word: bool = False) -> tuple[float, Any]:
        kenlm_state, progress = prev_state
        score, end_state = self.base.score(kenlm_state, word, is_last_word=is_last_word)
        if word in self.scorer.words and word not in self.base._unigram_set:
            # a hot word the LM never saw: take back pyctcdecode's out-of-vocabulary penalty
            score -= self.base.alpha * self.base.unk_score_offset * LOG_BASE_CHANGE_FACTOR
        if word:
            bonus, progress = self.scorer.advance(progress, word)
            score += bonus
        if is_last_word:
            score += self.scorer.finish(progress)
            progress = EMPTY_PROGRESS
        return score, (end_state, progress)


class _PhraseDecoder(BeamSearchDecoderCTC):
    """pyctcdecode's beam search with the word in progress scored in its beam's phrase state."""

    def _get_lm_beams(
        self,
        beams: list[Any],
        hotword_scorer: Any,
        cached_lm_scores: dict[Any, Any],
        cached_partial_token_scores: dict[Any, float],
        is_eos: bool = False,
    ) -> list[Any]:
        language_model = self._language_model
        assert isinstance(language_model, PhraseBoostedLM)
        new_beams = []
        for text, next_word, word_part, last_char, frame_list, frames, logit_score in beams:
            new_text = _merge_tokens(text, next_word)
            key = (new_text, is_eos)
            if key not in cached_lm_scores:
                _, prev_raw, start_state = cached_lm_scores[(text, False)]
                score, end_state = language_model.score(start_state, next_word, is_eos)
                cached_lm_scores[key] = (prev_raw + score, prev_raw + score, end_state)
            lm_score, _, state = cached_lm_scores[key]
            if word_part:
                progress = state[1]
                pkey = (progress, word_part)
                if pkey not in cached_partial_token_scores:
                    cached_partial_token_scores[pkey] = language_model.partial(progress, word_part)
                lm_score += cached_partial_token_scores[pkey]
            score_total = logit_score + lm_score
            new_beams.append(
                (new_text, "", word_part, last_char, frame_list, frames, logit_score, score_total)
            )
        return new_beams


@dataclass(frozen=True)
class _Boosted:
    """What one hot-word set needs, built once: its beam search and its second pass."""

    decoder: BeamSearchDecoderCTC
    respeller: Respeller | None


def _read_unigrams(path: Path) -> list[str]:
    return [w for w in path.read_text().split() if w]


class Decoder:
    """Beam search for one model; `decode` is thread-safe and runs in the decode pool."""

    def __init__(self, model_dir: Path, beam_width: int = 24) -> None:
        labels = read_labels(model_dir)
        config = read_config(model_dir)
        if not labels or len(set(labels)) != len(labels):
            raise ModelError(f"{model_dir}/labels.json must list distinct labels, blank first")
        self.labels = ["", *labels[1:]]  # pyctcdecode's blank is the empty string
        self.space = self.labels.index(" ") if " " in self.labels else -1
        self.max_window_s = float(config.get("max_window_s", 30.0))
        subsampling = int(config.get("subsampling", 2))
        hop_s = float(config.get("hop_s", 0.01))
        self.options = DecoderOptions(
            alpha=float(config.get("alpha", 0.5)),
            beta=float(config.get("beta", 1.0)),
            beam_width=beam_width,
            token_min_logp=float(config.get("token_min_logp", DecoderOptions.token_min_logp)),
            frame_s=float(config.get("frame_duration_s", hop_s * subsampling)),
        )
        lm_path = model_file(model_dir, config, "lm_file", LM_FILE)
        unigrams = _read_unigrams(model_file(model_dir, config, "unigrams_file", UNIGRAMS_FILE))
        try:
            kenlm_model = kenlm.Model(str(lm_path))
        except (OSError, RuntimeError) as exc:
            raise ModelError(f"cannot load the KenLM model {lm_path}: {exc}") from None
        self._alphabet = Alphabet.build_alphabet(self.labels)
        self._lm = LanguageModel(
            kenlm_model, unigrams, alpha=self.options.alpha, beta=self.options.beta
        )
        self._plain = BeamSearchDecoderCTC(self._alphabet, self._lm)
        self._label_index = {c: i for i, c in enumerate(self.labels) if c}
        self._cohort = Cohort(unigrams, self._label_index)
        self._boosted: OrderedDict[tuple[Hotword, ...], _Boosted] = OrderedDict()
        self._lock = threading.Lock()

    def _decoder_for(self, hotwords: tuple[Hotword, ...]) -> _Boosted:
        if not hotwords:
            return _Boosted(self._plain, None)
        with self._lock:
            found = self._boosted.get(hotwords)
            if found is not None:
                self._boosted.move_to_end(hotwords)
                return found
            scorer = PhraseScorer(hotwords)
            decoder = (
                _PhraseDecoder(self._alphabet, PhraseBoostedLM(self._lm, scorer))
                if scorer
                else self._plain
            )
            found = _Boosted(decoder, Respeller(hotwords, self._label_index, self._cohort))
            self._boosted[hotwords] = found
            while len(self._boosted) > DECODER_CACHE_SIZE:
                _, old = self._boosted.popitem(last=False)
                if old.decoder is not self._plain:
                    old.decoder.cleanup()
            return found

    def decode(self, log_probs: FloatArray, hotwords: Sequence[Hotword] = ()) -> Hypothesis:
        """Beam search with the LM and the hot phrases; words carry times and confidences."""
        key = tuple(sorted(set(hotwords), key=lambda h: (h.phrase, h.boost)))
        boosted = self._decoder_for(key)
        opts = self.options
        beams = boosted.decoder.decode_beams(
            log_probs.astype(np.float32),
            beam_width=opts.beam_width,
            beam_prune_logp=opts.beam_prune_logp,
            token_min_logp=(
                min(opts.hotword_token_min_logp, opts.token_min_logp)
                if key
                else opts.token_min_logp
            ),
        )
        _, _, word_frames, _, _ = beams[0]
        spans = [Span(word, start, end) for word, (start, end) in word_frames]
        if boosted.respeller is not None:
            spans = boosted.respeller.apply(spans, log_probs)
        best = log_probs.max(axis=1)
        words = []
        for word, start, end in ((s.word, s.start, s.end) for s in spans):
            span = best[start : max(end, start + 1)]
            confidence = float(np.exp(span.mean())) if len(span) else 0.0
            words.append(
                Word(word, round(start * opts.frame_s, 3), round(end * opts.frame_s, 3), confidence)
            )
        confidence = float(np.mean([w.confidence for w in words])) if words else 0.0
        text = " ".join(w.word for w in words)
        return Hypothesis(text, round(confidence, 4), tuple(words))

    def greedy(self, log_probs: FloatArray) -> str:
        """Best path without the LM: cheap enough for partial results."""
        best = log_probs.argmax(axis=1)
        keep = np.ones(len(best), dtype=bool)
        keep[1:] = best[1:] != best[:-1]
        chars = [self.labels[i] for i in best[keep] if i != 0]
        return " ".join("".join(chars).split())

    def close(self) -> None:
        with self._lock:
            for boosted in self._boosted.values():
                if boosted.decoder is not self._plain:
                    boosted.decoder.cleanup()
            self._boosted.clear()
        self._plain.cleanup()
