"""Streams: 20 ms telephone frames in, events out, finals equal to offline decoding."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from recognizer.audio import AudioFormat
from recognizer.decoding import Hypothesis
from recognizer.errors import AudioFormatError
from recognizer.features import MODEL_SAMPLE_RATE
from recognizer.stream import (
    Event,
    Final,
    Partial,
    RecognitionStream,
    SpeechStarted,
    StreamOptions,
)
from recognizer.transcribe import Recognizer
from recognizer.vad import Endpointing, EnergyDetector
from tests.recognizer.conftest import Speak
from tests.recognizer.speech import TELEPHONE_RATE, l16_bytes, mulaw_frames, with_silence


async def _stream_mulaw(
    recognizer: Recognizer, audio: np.ndarray, **options: object
) -> list[Event]:
    stream = recognizer.open_stream("pcmu", TELEPHONE_RATE, **options)  # type: ignore[arg-type]
    events: list[Event] = []
    for frame in mulaw_frames(audio):
        events.extend(await stream.feed(frame))
    events.extend(await stream.finish())
    return events


async def test_streamed_finals_equal_offline_decoding_of_the_same_audio(
    recognizer: Recognizer, speak: Speak
) -> None:
    audio = np.concatenate(
        [
            with_silence(speak("i lost my credit card")),
            with_silence(speak("please transfer me to billing"), 0.2, 1.2),
        ]
    )
    events = await _stream_mulaw(recognizer, audio)
    streamed = [e for e in events if isinstance(e, Final)]
    # offline: the same mu-law audio decoded as one recording
    from recognizer.audio import decode_bytes

    whole = decode_bytes(b"".join(mulaw_frames(audio)), "pcmu")
    offline = await recognizer.transcribe(whole, TELEPHONE_RATE)
    assert len(streamed) == 2
    assert [f.text for f in streamed] == [u.text for u in offline.utterances]
    assert [f.words for f in streamed] == [u.words for u in offline.utterances]
    assert all(f.text for f in streamed)


async def test_each_utterance_reports_speech_start_partials_then_a_final(
    recognizer: Recognizer, speak: Speak
) -> None:
    audio = with_silence(speak("i would like to check the balance of my savings account"))
    events = await _stream_mulaw(recognizer, audio)
    kinds = [type(e) for e in events]
    assert kinds[0] is SpeechStarted
    assert kinds[-1] is Final
    assert Partial in kinds
    assert SpeechStarted not in kinds[1:]
    final = events[-1]
    assert isinstance(final, Final) and final.utterance == 1
    starts = [w.start for w in final.words]
    assert starts == sorted(starts)
    assert all(0.0 <= w.confidence <= 1.0 for w in final.words)


async def test_no_partials_when_interim_results_are_off(
    recognizer: Recognizer, speak: Speak
) -> None:
    audio = with_silence(speak("yes please"))
    events = await _stream_mulaw(recognizer, audio, interim=False)
    assert not any(isinstance(e, Partial) for e in events)
    assert isinstance(events[-1], Final)


async def test_l16_at_16_khz_and_mulaw_at_8_khz_are_both_understood(
    recognizer: Recognizer, speak: Speak
) -> None:
    import soxr

    audio = with_silence(speak("talk to an agent"))
    mulaw = [e for e in await _stream_mulaw(recognizer, audio) if isinstance(e, Final)]
    wide = soxr.resample(audio, TELEPHONE_RATE, 16000).astype(np.float32)
    stream = recognizer.open_stream("l16", 16000)
    pcm = l16_bytes(wide)
    events: list[Event] = []
    for i in range(0, len(pcm), 640):
        events.extend(await stream.feed(pcm[i : i + 640]))
    events.extend(await stream.finish())
    l16 = [e for e in events if isinstance(e, Final)]
    assert len(l16) == len(mulaw) == 1
    assert abs(l16[0].start_s - mulaw[0].start_s) <= 0.1
    assert "agent" in l16[0].text.split() and "agent" in mulaw[0].text.split()


async def test_an_odd_l16_frame_is_an_error_for_that_stream(recognizer: Recognizer) -> None:
    stream = recognizer.open_stream("l16", 8000)
    with pytest.raises(AudioFormatError, match="odd-length"):
        await stream.feed(b"\x00\x00\x00")


def test_unknown_encodings_are_refused_when_the_stream_opens(recognizer: Recognizer) -> None:
    with pytest.raises(AudioFormatError, match="unknown audio encoding"):
        recognizer.open_stream("g729", 8000)


def test_the_audio_buffer_keeps_absolute_positions_across_trims() -> None:
    from recognizer.stream import AudioBuffer

    buffer = AudioBuffer()
    signal = np.arange(100_000, dtype=np.float32)
    for i in range(0, len(signal), 320):
        buffer.append(signal[i : i + 320])
        buffer.keep_from(i - 20_000)
    assert buffer.end == len(signal)
    assert buffer.start > 0
    np.testing.assert_array_equal(buffer.window(90_000, 90_010), signal[90_000:90_010])
    assert len(buffer.window(0, 10)) == 0  # forgotten audio is gone, not garbage


async def test_the_final_keeps_the_whole_preroll_and_partials_a_shorter_one() -> None:
    """Partials re-run the model on their growing window, so they look back 300 ms
    (PARTIAL_PREROLL_MS) where the final's window holds the whole 800 ms pre-roll."""
    rate = MODEL_SAMPLE_RATE
    rng = np.random.default_rng(3)
    t = np.arange(int(1.5 * rate)) / rate
    buzz = 0.3 * np.sin(2 * np.pi * 150 * t)
    audio = np.concatenate(
        [0.0005 * rng.standard_normal(2 * rate), buzz, 0.0005 * rng.standard_normal(rate)]
    ).astype(np.float32)
    finals: list[int] = []
    partials: list[int] = []

    async def final(window: npt.NDArray[np.float32], hotwords: object) -> Hypothesis:
        finals.append(len(window))
        return Hypothesis("buzz", 1.0)

    async def partial(window: npt.NDArray[np.float32]) -> str:
        partials.append(len(window))
        return "b" * len(partials)

    endpointing = Endpointing(end_silence_ms=500, preroll_ms=800, tail_ms=200)
    options = StreamOptions(AudioFormat.parse("l16", rate), endpointing=endpointing)
    stream = RecognitionStream(options, EnergyDetector(-35.0), final, partial)
    events: list[Event] = []
    for i in range(0, len(audio), 320):
        events.extend(await stream.feed_audio(audio[i : i + 320]))
    events.extend(await stream.finish())
    speech = next(e.time_s for e in events if isinstance(e, SpeechStarted))
    last = next(e for e in events if isinstance(e, Final))
    assert len(set(finals)) == 1  # the speculative final and the end agree on one window
    assert speech - last.start_s == pytest.approx(0.8, abs=0.02)
    assert finals[0] / rate == pytest.approx(0.8 + 1.5 + 0.2, abs=0.1)
    shown = [e for e in events if isinstance(e, Partial)]
    assert len(shown) >= 2
    for event in shown:
        window_start = event.time_s - partials[len(event.text) - 1] / rate
        assert speech - window_start == pytest.approx(0.3, abs=0.02)  # PARTIAL_PREROLL_MS
