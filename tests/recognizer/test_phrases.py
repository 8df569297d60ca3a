"""The per-phrase hot-word scorer: phrases as phrases, each with its own weight."""

from __future__ import annotations

import pytest

from recognizer.phrases import (
    BOOST_SCALE,
    EMPTY_PROGRESS,
    Hotword,
    PhraseScorer,
    merge_hotwords,
    parse_hotword,
)


def _total(scorer: PhraseScorer, text: str) -> float:
    progress = EMPTY_PROGRESS
    total = 0.0
    for word in text.split():
        bonus, progress = scorer.advance(progress, word)
        total += bonus
    return total + scorer.finish(progress)


def test_a_whole_phrase_earns_its_boost_per_word() -> None:
    scorer = PhraseScorer([Hotword("premier card", 10)])
    assert _total(scorer, "my premier card please") == pytest.approx(2 * 10 * BOOST_SCALE)


def test_a_phrase_broken_off_earns_nothing() -> None:
    scorer = PhraseScorer([Hotword("premier card", 10)])
    assert _total(scorer, "the premier league") == pytest.approx(0.0)
    assert _total(scorer, "a card") == pytest.approx(0.0)
    assert _total(scorer, "premier") == pytest.approx(0.0)  # the utterance ended mid-phrase


def test_later_words_score_only_after_the_earlier_ones() -> None:
    scorer = PhraseScorer([Hotword("premier card", 10)])
    progress = EMPTY_PROGRESS
    bonus_card_alone, _ = scorer.advance(progress, "card")
    assert bonus_card_alone == 0.0
    assert scorer.partial(EMPTY_PROGRESS, "car") is None
    _, after_premier = scorer.advance(progress, "premier")
    assert (scorer.partial(after_premier, "car") or 0.0) > 0.0


def test_two_phrases_with_different_boosts_weigh_differently() -> None:
    scorer = PhraseScorer([Hotword("gold plan", 4), Hotword("zorblax", 16)])
    assert _total(scorer, "gold plan") == pytest.approx(2 * 4 * BOOST_SCALE)
    assert _total(scorer, "zorblax") == pytest.approx(16 * BOOST_SCALE)


def test_a_phrase_repeated_counts_each_time() -> None:
    scorer = PhraseScorer([Hotword("acme", 5)])
    assert _total(scorer, "acme and acme") == pytest.approx(2 * 5 * BOOST_SCALE)


def test_overlapping_phrases_each_earn_their_boost() -> None:
    scorer = PhraseScorer([Hotword("premier", 5), Hotword("premier card", 10)])
    assert _total(scorer, "premier card") == pytest.approx((5 + 2 * 10) * BOOST_SCALE)
    assert _total(scorer, "premier league") == pytest.approx(5 * BOOST_SCALE)


def test_prefixes_of_a_phrase_start_earn_a_growing_share() -> None:
    scorer = PhraseScorer([Hotword("zorblax", 10)])
    shares = [scorer.partial(EMPTY_PROGRESS, "zorblax"[:n]) or 0.0 for n in range(1, 8)]
    assert shares == sorted(shares) and shares[-1] == pytest.approx(10 * BOOST_SCALE)
    assert scorer.partial(EMPTY_PROGRESS, "zx") is None


@pytest.mark.parametrize(
    ("text", "phrase", "boost"),
    [("premier card:12", "premier card", 12.0), ("Acme  Corp", "acme corp", 10.0)],
)
def test_hotword_options_parse_phrase_and_boost(text: str, phrase: str, boost: float) -> None:
    assert parse_hotword(text) == Hotword(phrase, boost)


@pytest.mark.parametrize("text", ["card:25", "card:-1", "c4rd", ":3"])
def test_bad_hotword_options_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="hot-word"):
        parse_hotword(text)


def test_state_hints_override_tenant_boosts() -> None:
    merged = merge_hotwords([Hotword("billing", 5)], [Hotword("billing", 15)])
    assert merged == (Hotword("billing", 15),)
