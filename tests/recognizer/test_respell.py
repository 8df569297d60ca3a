"""The hot-phrase second pass: CTC forced alignment decides whether a stretch is the phrase."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recognizer.phrases import Hotword
from recognizer.respell import (
    COHORT_MARGIN,
    DECODED_SLACK,
    FULL_MARGIN,
    RELAXED_MARGIN,
    Cohort,
    PhraseSpotter,
    Respeller,
    Span,
)
from tests.recognizer.test_decoding import LABELS, ambiguous, spell

INDEX = {c: i for i, c in enumerate(LABELS) if i}


def _brute_force_cost(log_probs: np.ndarray, labels: list[int]) -> float:
    """The cheapest stretch spelling `labels`, by trying every window and every path."""
    relative = log_probs - log_probs.max(axis=1, keepdims=True)
    best = np.inf
    frames = len(log_probs)
    for start in range(frames):
        for end in range(start + 1, frames + 1):
            for path in itertools.product(range(log_probs.shape[1]), repeat=end - start):
                if path[0] != labels[0]:
                    continue  # a match starts on its first letter
                collapsed = [k for k, _ in itertools.groupby(path) if k != 0]
                if collapsed == labels:
                    cost = -sum(relative[start + t, k] for t, k in enumerate(path))
                    best = min(best, float(cost))
    return best


@pytest.mark.parametrize("labels", [[1], [1, 1], [1, 2], [2, 1, 2]])
def test_the_spotter_finds_the_cheapest_stretch_of_all(labels: list[int]) -> None:
    rng = np.random.default_rng(len(labels))
    log_probs = np.log(rng.dirichlet(np.ones(3), size=5))
    (match,) = PhraseSpotter([labels]).search(log_probs)
    assert match.cost == pytest.approx(_brute_force_cost(log_probs, labels), abs=1e-6)


def _spans(log_probs: np.ndarray, words: list[str]) -> list[Span]:
    """Word spans as the beam search would report them for `spell(*words)`."""
    spans, frame = [], 3
    for word in words:
        spans.append(Span(word, frame, frame + 3 * len(word)))
        frame += 3 * len(word) + 2
    return spans


def test_a_half_heard_name_is_respelled_when_the_audio_allows_it() -> None:
    log_probs = spell("i", "want", ambiguous("calloway", "galloway", 0.3))
    respeller = Respeller([Hotword("calloway", 10)], INDEX)
    out = respeller.apply(_spans(log_probs, ["i", "want", "galloway"]), log_probs)
    assert [s.word for s in out] == ["i", "want", "calloway"]


def test_clear_audio_of_other_words_keeps_them() -> None:
    log_probs = spell("the", "premier", "league")
    respeller = Respeller([Hotword("premier card", 20)], INDEX)
    spans = _spans(log_probs, ["the", "premier", "league"])
    assert [s.word for s in respeller.apply(spans, log_probs)] == ["the", "premier", "league"]


def test_words_unlike_the_phrase_are_never_compared() -> None:
    log_probs = spell("yes", "please")
    respeller = Respeller([Hotword("kestrel freight", 20)], INDEX)
    spans = _spans(log_probs, ["yes", "please"])
    assert respeller.apply(spans, log_probs) == spans


def test_the_spotter_finds_where_a_spelled_phrase_lies_at_no_cost() -> None:
    log_probs = spell("i", "want", "calloway")
    spotter = PhraseSpotter([[INDEX[c] for c in "calloway"], [INDEX[c] for c in "want"]])
    matches = {m.phrase: m for m in spotter.search(log_probs)}
    # spell(): 3 blank frames, "i" (3), space + blank (2), "want" (12), space + blank, ...
    assert matches[1].start == 8 and matches[1].end == 8 + 11
    assert matches[1].cost == pytest.approx(0.0, abs=1e-3)
    assert matches[0].start == 22 and matches[0].end == len(log_probs) - 4
    assert matches[0].cost == pytest.approx(0.0, abs=1e-3)


def test_the_cost_grows_with_the_letters_the_audio_disagrees_with() -> None:
    one = spell("i", "want", ambiguous("calloway", "galloway", 0.3))
    two = spell("i", "want", ambiguous("calloway", "gallowey", 0.3))
    spotter = PhraseSpotter([[INDEX[c] for c in "calloway"]])
    (first,) = spotter.search(one)
    (second,) = spotter.search(two)
    assert 0.5 < first.cost < second.cost


def test_a_name_the_beam_dropped_is_put_back_where_the_audio_says_it() -> None:
    log_probs = spell("i", "want", ambiguous("calloway", "galloway", 0.4))
    respeller = Respeller([Hotword("calloway", 10)], INDEX)
    spans = _spans(log_probs, ["i", "want"])
    out = respeller.apply(spans, log_probs)
    assert [s.word for s in out] == ["i", "want", "calloway"]
    assert out[2].start >= spans[1].end


def test_a_larger_boost_allows_a_more_doubtful_phrase() -> None:
    log_probs = spell("i", "want", ambiguous("calloway", "gallowey", 0.1))
    spans = _spans(log_probs, ["i", "want", "gallowey"])
    weak = Respeller([Hotword("calloway", 1)], INDEX).apply(spans, log_probs)
    strong = Respeller([Hotword("calloway", 20)], INDEX).apply(spans, log_probs)
    assert [s.word for s in weak] == ["i", "want", "gallowey"]
    assert [s.word for s in strong] == ["i", "want", "calloway"]


def test_of_two_phrases_for_one_stretch_the_likelier_wins() -> None:
    log_probs = spell("i", "want", ambiguous("calloway", "galloway", 0.3))
    respeller = Respeller([Hotword("calloway", 10), Hotword("galloway", 10)], INDEX)
    out = respeller.apply(_spans(log_probs, ["i", "want", "calloway"]), log_probs)
    assert [s.word for s in out] == ["i", "want", "galloway"]


def test_a_phrase_put_into_a_pause_must_be_likelier_than_one_over_a_word() -> None:
    respeller = Respeller([Hotword("calloway", 3)], INDEX)
    assert respeller.allowance(0, []) < respeller.allowance(0, ["gallowey"])
    # audio on which "calloway" costs halfway between the two allowances (bisection on p)
    midway = (respeller.allowance(0, []) + respeller.allowance(0, ["gallowey"])) / 2
    spotter = PhraseSpotter([[INDEX[c] for c in "calloway"]])
    low, high = 1e-6, 0.5
    for _ in range(40):
        p = (low + high) / 2
        log_probs = spell("i", "want", ambiguous("calloway", "gallowey", p))
        low, high = (low, p) if spotter.search(log_probs)[0].cost < midway else (p, high)
    assert spotter.search(log_probs)[0].cost == pytest.approx(midway, abs=0.1)
    over_word = respeller.apply(_spans(log_probs, ["i", "want", "gallowey"]), log_probs)
    into_pause = respeller.apply(_spans(log_probs, ["i", "want"]), log_probs)
    assert [s.word for s in over_word] == ["i", "want", "calloway"]
    assert [s.word for s in into_pause] == ["i", "want"]


def test_a_phrase_must_beat_ordinary_words_aligned_in_the_same_frames() -> None:
    """Where the audio is unclear an ordinary word fits as well as the name, so the name is
    not put there; where the audio clearly says the name, it is."""
    cohort = Cohort(["gallowey", "yes"], INDEX)
    unclear = spell("i", "want", ambiguous("calloway", "gallowey", 0.3))
    clear = spell("i", "want", "calloway")
    spans = _spans(unclear, ["i", "want", "gallowey"])
    checked = Respeller([Hotword("calloway", 10)], INDEX, cohort)
    unchecked = Respeller([Hotword("calloway", 10)], INDEX)
    assert [s.word for s in unchecked.apply(spans, unclear)] == ["i", "want", "calloway"]
    assert [s.word for s in checked.apply(spans, unclear)] == ["i", "want", "gallowey"]
    assert [s.word for s in checked.apply(spans, clear)] == ["i", "want", "calloway"]


def test_the_cohort_holds_words_of_about_the_phrase_length() -> None:
    cohort = Cohort(["cab", "bad", "abcd", "abcde", "ab"], INDEX)
    log_probs = spell("bad")
    assert cohort.best_cost(["dab"], log_probs) == pytest.approx(0.0, abs=1e-3)  # "bad"
    assert cohort.best_cost(["abcdef"], log_probs) > 1.0  # only "abcde": letters the audio lacks
    assert cohort.best_cost(["a" * 30], log_probs) == float("inf")  # no words that long


def test_a_cohort_word_spelled_like_the_phrase_is_no_rival() -> None:
    """A hot word the LM knows ("billing") must not lose to itself in its own cohort."""
    cohort = Cohort(["billing", "corners"], INDEX)
    log_probs = spell("i", "want", "billing")
    assert cohort.best_cost(["billing"], log_probs) > 7 * COHORT_MARGIN  # "corners" is the rival
    assert cohort.best_cost(["corners"], log_probs) == pytest.approx(0.0, abs=1e-3)
    respeller = Respeller([Hotword("billing", 10)], INDEX, cohort)
    spans = _spans(log_probs, ["i", "want", "bill", "in"])
    assert [s.word for s in respeller.apply(spans, log_probs)] == ["i", "want", "billing"]


def _margin_and_lead(
    log_probs: np.ndarray, phrase: str, decoded: str, cohort: Cohort
) -> tuple[float, float]:
    """Per letter: how much cheaper the phrase is than the cohort, and than the decoded words."""
    (found,) = PhraseSpotter([[INDEX[c] for c in phrase]]).search(log_probs)
    (beam,) = PhraseSpotter([[INDEX[c] for c in decoded]]).search(log_probs)
    letters = len(phrase.replace(" ", ""))
    rival = cohort.best_cost(phrase.split(), log_probs)
    return (rival - found.cost) / letters, (beam.cost - found.cost) / letters


def test_a_name_almost_as_likely_as_the_beams_word_needs_a_smaller_cohort_margin() -> None:
    """An unseen voice's name comes out as a near word: the phrase beats the cohort by less
    than COHORT_MARGIN, but explains the frames about as well as the beam's own word."""
    near = [{"c": 0.45, "g": 0.55}] + [{c: 1.0} for c in "calloway"[1:]]
    log_probs = spell("i", "want", near)
    cohort = Cohort(["gallowas"], INDEX)
    margin, lead = _margin_and_lead(log_probs, "calloway", "galloway", cohort)
    assert RELAXED_MARGIN <= margin < COHORT_MARGIN and lead >= -DECODED_SLACK
    respeller = Respeller([Hotword("calloway", 10)], INDEX, cohort)
    spans = _spans(log_probs, ["i", "want", "galloway"])
    assert [s.word for s in respeller.apply(spans, log_probs)] == ["i", "want", "calloway"]


def test_a_decoded_word_that_fits_far_better_keeps_the_strict_cohort_margin() -> None:
    """Within the allowance and in the relaxed margin's band, but the audio says the beam's
    word far better than the phrase: it stays."""
    log_probs = spell("i", "want", [{c: 1.0} for c in "callowe"] + [{"y": 1 - 2e-4, "s": 2e-4}])
    cohort = Cohort(["calxowes"], INDEX)
    margin, lead = _margin_and_lead(log_probs, "calloway", "callowey", cohort)
    assert RELAXED_MARGIN <= margin < COHORT_MARGIN and lead < -DECODED_SLACK
    respeller = Respeller([Hotword("calloway", 10)], INDEX, cohort)
    (match,) = PhraseSpotter([[INDEX[c] for c in "calloway"]]).search(log_probs)
    assert match.cost <= respeller.allowance(0, ["callowey"])
    spans = _spans(log_probs, ["i", "want", "callowey"])
    assert [s.word for s in respeller.apply(spans, log_probs)] == ["i", "want", "callowey"]


def test_a_phrase_far_above_its_cohort_may_spend_the_allowance_of_its_decoded_words() -> None:
    """ "premier yone" for a half-heard "premier card": the undecoded word alone cannot pay
    for the phrase, but the phrase is far likelier than ordinary words and close to the
    beam's words; where the beam's words fit far better, they stay."""
    cohort = Cohort(["abcdefghijk"], INDEX)
    respeller = Respeller([Hotword("premier card", 10)], INDEX, cohort)
    spotter = PhraseSpotter([[INDEX[c] for c in "premier card"]])
    for p_card, expected in ((0.08, "card"), (0.02, "yone")):
        log_probs = spell("the", "premier", ambiguous("card", "yone", p_card))
        (match,) = spotter.search(log_probs)
        assert respeller.allowance(0, ["premier", "yone"]) < match.cost <= respeller.allowance(0)
        margin, lead = _margin_and_lead(log_probs, "premier card", "premier yone", cohort)
        assert margin >= FULL_MARGIN and (lead >= -DECODED_SLACK) == (expected == "card")
        spans = _spans(log_probs, ["the", "premier", "yone"])
        assert [s.word for s in respeller.apply(spans, log_probs)] == ["the", "premier", expected]
