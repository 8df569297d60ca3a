"""Decoding: beam search with the LM, per-phrase hot words, word timings and confidences.

The decoder tests build a tiny model folder (labels, config and a hand-written ARPA language
model, which KenLM reads like a binary) and feed log-probabilities spelled out frame by frame,
so each behaviour is shown on acoustics whose ambiguity the test controls.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import kenlm
import numpy as np
import pytest
from pyctcdecode.language_model import LanguageModel

from recognizer.decoding import Decoder, PhraseBoostedLM
from recognizer.phrases import EMPTY_PROGRESS, Hotword, PhraseScorer

LABELS = ["<blank>", " ", "'", *"abcdefghijklmnopqrstuvwxyz"]
VOCAB = ["i", "a", "want", "the", "premier", "league", "card", "yard", "corners", "please"]


def tiny_model(folder: Path, **config: float) -> Path:
    (folder / "labels.json").write_text(json.dumps(LABELS))
    (folder / "config.json").write_text(json.dumps({"alpha": 0.5, "beta": 1.0, **config}))
    unigrams = "".join(f"-1.5\t{w}\t0\n" for w in VOCAB)
    bigrams = ["-0.5\t<s> i", "-0.5\t<s> the", "-0.5\t<s> a", "-0.3\ti want"]
    arpa = (
        f"\\data\\\nngram 1={len(VOCAB) + 3}\nngram 2={len(bigrams)}\n\n\\1-grams:\n"
        f"-3.0\t<unk>\t0\n-99\t<s>\t0\n-1.0\t</s>\t0\n{unigrams}\n"
        "\\2-grams:\n" + "\n".join(bigrams) + "\n\n\\end\\\n"
    )
    (folder / "lm.bin").write_text(arpa)
    (folder / "unigrams.txt").write_text("\n".join(VOCAB) + "\n")
    return folder


@pytest.fixture(scope="module")
def decoder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Decoder]:
    built = Decoder(tiny_model(tmp_path_factory.mktemp("tiny-model")), beam_width=32)
    yield built
    built.close()


Slot = dict[str, float]


def spell(*words: str | list[Slot]) -> np.ndarray:
    """Log-probs spelling `words`: each letter two frames, then a blank frame; a word given as
    a list of {letter: probability} slots is ambiguous as the slots say."""
    frames: list[Slot] = [{"<blank>": 1.0}] * 3
    for index, word in enumerate(words):
        if index:
            frames += [{" ": 1.0}, {"<blank>": 1.0}]
        slots = [{c: 1.0} for c in word] if isinstance(word, str) else word
        for slot in slots:
            frames += [slot, slot, {"<blank>": 1.0}]
    frames += [{"<blank>": 1.0}] * 3
    out = np.full((len(frames), len(LABELS)), 1e-4, dtype=np.float64)
    for row, slot in zip(out, frames, strict=True):
        for char, p in slot.items():
            row[LABELS.index(char)] = p
        row /= row.sum()
    return np.log(out).astype(np.float32)


def ambiguous(first: str, second: str, p_first: float) -> list[Slot]:
    """Slots where each letter is `first`'s with `p_first`, else `second`'s."""
    return [
        {a: 1.0} if a == b else {a: p_first, b: 1 - p_first}
        for a, b in zip(first, second, strict=True)
    ]


def test_clear_speech_decodes_to_its_words_with_timings(decoder: Decoder) -> None:
    result = decoder.decode(spell("i", "want", "the", "premier", "league"))
    assert result.text == "i want the premier league"
    assert [w.word for w in result.words] == result.text.split()
    assert all(w.start < w.end for w in result.words)
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    assert 0.9 < result.confidence <= 1.0


def test_boosting_premier_card_leaves_premier_league_alone(decoder: Decoder) -> None:
    boosted = decoder.decode(
        spell("the", "premier", ambiguous("league", "lcardx", 0.7)),
        [Hotword("premier card", 20)],
    )
    assert boosted.text == "the premier league"


def test_a_boosted_phrase_wins_where_its_acoustics_are_close(decoder: Decoder) -> None:
    log_probs = spell("the", "premier", ambiguous("yard", "card", 0.6))
    assert decoder.decode(log_probs).text == "the premier yard"
    assert decoder.decode(log_probs, [Hotword("premier card", 10)]).text == "the premier card"


def test_a_word_that_leaves_a_phrase_gives_its_credit_back_at_once(tmp_path: Path) -> None:
    """Not at the word's end: a deferred debt let the beam glue the next words onto a stray
    word ("kestrel fridplease") and prune the beams that had paid it."""
    folder = tiny_model(tmp_path)
    base = LanguageModel(kenlm.Model(str(folder / "lm.bin")), VOCAB)
    scorer = PhraseScorer([Hotword("premier card", 10), Hotword("kestrel freight", 10)])
    lm = PhraseBoostedLM(base, scorer)
    _, (_, progress) = lm.score(lm.get_start_state(), "premier")
    assert progress.credit > 0
    assert lm.partial(progress, "ca") == scorer.partial(progress, "ca") > 0  # towards "card"
    assert lm.partial(progress, "le") == pytest.approx(
        base.score_partial_token("le") - progress.credit
    )
    # starting another phrase still leaves this one: its credit goes at once too
    assert lm.partial(progress, "ke") == pytest.approx(
        scorer.partial(progress, "ke") - progress.credit
    )
    assert lm.partial(EMPTY_PROGRESS, "ke") == scorer.partial(EMPTY_PROGRESS, "ke") > 0


def test_a_later_phrase_word_is_not_boosted_without_the_earlier_ones(decoder: Decoder) -> None:
    log_probs = spell("a", ambiguous("yard", "card", 0.6))
    assert decoder.decode(log_probs, [Hotword("premier card", 20)]).text == "a yard"


def test_a_boosted_rare_name_is_recognized_where_the_plain_decoder_misses_it(
    decoder: Decoder,
) -> None:
    log_probs = spell("i", "want", ambiguous("zorblax", "corners", 0.6))
    assert "zorblax" not in decoder.decode(log_probs).text
    assert decoder.decode(log_probs, [Hotword("zorblax", 10)]).text == "i want zorblax"


def test_each_phrase_has_its_own_weight(decoder: Decoder) -> None:
    log_probs = spell("i", "want", ambiguous("zorblax", "corners", 0.4))
    weak = decoder.decode(log_probs, [Hotword("zorblax", 2)])
    strong = decoder.decode(log_probs, [Hotword("zorblax", 10)])
    assert "zorblax" not in weak.text and "zorblax" in strong.text


def test_greedy_decoding_collapses_repeats_and_blanks(decoder: Decoder) -> None:
    assert decoder.greedy(spell("premier", "card")) == "premier card"


def test_a_hot_word_set_is_built_once_and_reused(decoder: Decoder) -> None:
    words = (Hotword("premier card", 10),)
    log_probs = spell("premier", "card")
    first = decoder.decode(log_probs, words)
    again = decoder.decode(log_probs, list(reversed(words)))
    assert first == again
    assert len(decoder._boosted) >= 1
    size = len(decoder._boosted)
    decoder.decode(log_probs, words)
    assert len(decoder._boosted) == size


def test_a_lower_letter_floor_in_the_config_lets_the_lm_restore_a_half_heard_word(
    decoder: Decoder, tmp_path: Path
) -> None:
    # "a" at 0.5 % per frame: below pyctcdecode's default floor (-5 nats), above -7
    log_probs = spell("the", "premier", ambiguous("league", "leegue", 0.005))
    assert decoder.decode(log_probs).text == "the premier leegue"
    deeper = Decoder(tiny_model(tmp_path, token_min_logp=-7.0), beam_width=32)
    try:
        assert deeper.options.token_min_logp == -7.0
        assert deeper.decode(log_probs).text == "the premier league"
    finally:
        deeper.close()
