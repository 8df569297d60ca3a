"""Whole recordings with the shipped model: synthesized telephone speech and hot phrases."""

from __future__ import annotations

from recognizer.itn import digit_string
from recognizer.phrases import Hotword
from recognizer.transcribe import Recognizer
from tests.recognizer.conftest import Speak
from tests.recognizer.speech import TELEPHONE_RATE, with_silence

RARE_NAME = "moravec"
RARE_SENTENCE = f"i want to talk to {RARE_NAME}"


def _overlap(reference: str, hypothesis: str) -> float:
    ref = reference.split()
    hyp = set(hypothesis.split())
    return sum(w in hyp for w in ref) / len(ref)


async def test_telephone_speech_is_transcribed(recognizer: Recognizer, speak: Speak) -> None:
    text = "i lost my credit card"
    transcript = await recognizer.transcribe(with_silence(speak(text)), TELEPHONE_RATE)
    assert _overlap(text, transcript.text) >= 0.6, transcript.text
    assert transcript.duration_s > 1.0
    assert transcript.words and transcript.words[0].start >= 0.3


async def test_a_spoken_account_number_reaches_the_slot_as_digits(
    recognizer: Recognizer, speak: Speak
) -> None:
    audio = with_silence(speak("four two seven one", speed=130))
    transcript = await recognizer.transcribe(audio, TELEPHONE_RATE)
    assert digit_string(transcript.text) == "4271", transcript.text


async def test_boosting_premier_card_does_not_turn_premier_league_into_it(
    recognizer: Recognizer, speak: Speak
) -> None:
    audio = with_silence(speak("i love watching the premier league"))
    plain = await recognizer.transcribe(audio, TELEPHONE_RATE)
    boosted = await recognizer.transcribe(
        audio, TELEPHONE_RATE, hotwords=[Hotword("premier card", 20)]
    )
    assert "premier card" not in boosted.text
    assert ("league" in boosted.text) == ("league" in plain.text)


async def test_a_boosted_rare_name_is_recognized_where_the_plain_decoder_misses_it(
    recognizer: Recognizer, speak: Speak
) -> None:
    audio = with_silence(speak(RARE_SENTENCE))
    plain = await recognizer.transcribe(audio, TELEPHONE_RATE)
    boosted = await recognizer.transcribe(audio, TELEPHONE_RATE, hotwords=[Hotword(RARE_NAME, 15)])
    assert RARE_NAME not in plain.text.split()
    assert RARE_NAME in boosted.text.split(), (plain.text, boosted.text)
