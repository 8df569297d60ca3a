"""Endpointing: speech start, end after trailing silence, no input, maximum length."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from recognizer.vad import (
    FRAME_SAMPLES,
    SILERO_CONTEXT,
    SILERO_WINDOW,
    Endpointer,
    Endpointing,
    EnergyDetector,
    Mark,
    NoInput,
    SileroDetector,
    SileroModel,
    SpeechStart,
    UtteranceEnd,
    VadBatcher,
    WebrtcDetector,
)
from tests.recognizer.conftest import Speak

RATE = 16000


def _signal(*parts: tuple[str, float]) -> npt.NDArray[np.float32]:
    """("speech", seconds) is a loud voiced buzz, ("silence", s) faint noise."""
    rng = np.random.default_rng(1)
    out = []
    for kind, seconds in parts:
        n = int(seconds * RATE)
        if kind == "speech":
            t = np.arange(n) / RATE
            voiced = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((150, 300, 450), 1))
            out.append(0.3 * voiced * (1 + 0.5 * np.sin(2 * np.pi * 4 * t)))
        else:
            out.append(0.0005 * rng.standard_normal(n))
    return np.concatenate(out).astype(np.float32)


def _run(endpointer: Endpointer, audio: npt.NDArray[np.float32], step: int) -> list[Mark]:
    marks: list[Mark] = []
    for i in range(0, len(audio), step):
        marks.extend(endpointer.feed(audio[i : i + step]))
    return marks + endpointer.finish()


def _energy(config: Endpointing) -> Endpointer:
    return Endpointer(config, EnergyDetector(-35.0))


def test_an_utterance_starts_with_speech_and_ends_after_the_trailing_silence() -> None:
    audio = _signal(("silence", 0.5), ("speech", 1.0), ("silence", 1.0))
    marks = _run(_energy(Endpointing(end_silence_ms=500)), audio, 320)
    assert [type(m) for m in marks] == [SpeechStart, UtteranceEnd]
    start, end = marks
    assert isinstance(start, SpeechStart) and isinstance(end, UtteranceEnd)
    assert abs(start.sample - 0.5 * RATE) <= 2 * FRAME_SAMPLES
    assert end.start <= start.sample and not end.cut
    assert 1.5 * RATE <= end.end <= 1.8 * RATE


def test_a_pause_shorter_than_the_end_silence_keeps_one_utterance() -> None:
    audio = _signal(("speech", 0.5), ("silence", 0.3), ("speech", 0.5), ("silence", 1.0))
    marks = _run(_energy(Endpointing(end_silence_ms=500)), audio, 160)
    assert [type(m) for m in marks] == [SpeechStart, UtteranceEnd]


def test_silence_alone_gives_one_no_input_mark() -> None:
    audio = _signal(("silence", 3.0))
    marks = _run(_energy(Endpointing(no_input_ms=1000)), audio, 320)
    assert marks == [NoInput(RATE)]


def test_speech_longer_than_the_maximum_is_cut() -> None:
    audio = _signal(("speech", 2.5), ("silence", 0.2))
    marks = _run(_energy(Endpointing(max_utterance_ms=1000)), audio, 320)
    ends = [m for m in marks if isinstance(m, UtteranceEnd)]
    assert ends[0].cut
    assert ends[0].end - ends[0].start <= 1.4 * RATE


def test_the_window_keeps_the_preroll_before_the_speech() -> None:
    audio = _signal(("silence", 1.5), ("speech", 1.0), ("silence", 1.0))
    marks = _run(_energy(Endpointing(end_silence_ms=500, preroll_ms=800)), audio, 320)
    start, end = marks
    assert isinstance(start, SpeechStart) and isinstance(end, UtteranceEnd)
    assert start.sample - end.start == pytest.approx(0.8 * RATE, abs=FRAME_SAMPLES)
    assert start.window_start == end.start


def test_the_preroll_never_reaches_back_into_the_previous_utterance() -> None:
    audio = _signal(("speech", 0.8), ("silence", 0.5), ("speech", 0.6), ("silence", 1.0))
    marks = _run(_energy(Endpointing(end_silence_ms=400, preroll_ms=800, tail_ms=200)), audio, 160)
    ends = [m for m in marks if isinstance(m, UtteranceEnd)]
    starts = [m for m in marks if isinstance(m, SpeechStart)]
    assert len(ends) == 2
    assert ends[1].start == ends[0].end == starts[1].window_start
    assert starts[1].sample - ends[1].start < 0.8 * RATE


def test_speech_cut_at_the_maximum_continues_where_the_cut_was() -> None:
    audio = _signal(("silence", 1.0), ("speech", 2.5), ("silence", 1.0))
    marks = _run(_energy(Endpointing(max_utterance_ms=1000, preroll_ms=800)), audio, 320)
    ends = [m for m in marks if isinstance(m, UtteranceEnd)]
    assert ends[0].cut and len(ends) >= 2
    for before, after in itertools.pairwise(ends):
        assert after.start == before.end


@pytest.mark.parametrize("step", [1, 77, 160, 4000])
def test_marks_do_not_depend_on_how_the_audio_was_cut(step: int) -> None:
    audio = _signal(("silence", 0.4), ("speech", 0.8), ("silence", 0.9), ("speech", 0.6))
    reference = _run(_energy(Endpointing(end_silence_ms=400)), audio, len(audio))
    assert _run(_energy(Endpointing(end_silence_ms=400)), audio, step) == reference
    assert len(reference) == 4


def test_webrtc_detector_finds_the_voiced_buzz() -> None:
    audio = _signal(("silence", 0.5), ("speech", 1.0), ("silence", 1.0))
    marks = _run(Endpointer(Endpointing(end_silence_ms=500), WebrtcDetector()), audio, 320)
    assert [type(m) for m in marks] == [SpeechStart, UtteranceEnd]


def test_overrides_replace_only_the_given_limits() -> None:
    base = Endpointing(end_silence_ms=700, no_input_ms=5000)
    changed = base.override(end_silence_ms=300, no_input_ms=None)
    assert changed.end_silence_ms == 300 and changed.no_input_ms == 5000


def test_silero_finds_each_spoken_utterance_in_telephone_audio(speak: Speak) -> None:
    import soxr

    from tests.recognizer.speech import TELEPHONE_RATE, with_silence

    narrow = np.concatenate(
        [with_silence(speak("i lost my card")), with_silence(speak("billing please"), 0.2, 1.0)]
    )
    audio = soxr.resample(narrow, TELEPHONE_RATE, RATE).astype(np.float32)
    endpointer = Endpointer(Endpointing(end_silence_ms=500), SileroDetector(SileroModel()))
    marks = _run(endpointer, audio, 320)
    assert [type(m) for m in marks] == [SpeechStart, UtteranceEnd] * 2


def test_silero_stays_quiet_on_line_noise() -> None:
    rng = np.random.default_rng(3)
    noise = (0.01 * rng.standard_normal(3 * RATE)).astype(np.float32)
    endpointer = Endpointer(Endpointing(no_input_ms=2000), SileroDetector(SileroModel()))
    marks = _run(endpointer, noise, 320)
    assert [type(m) for m in marks] == [NoInput]


class _CountingSilero(SileroModel):
    """The real Silero model, counting its runs and the windows in each."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[int] = []

    def probabilities(self, windows: np.ndarray, states: np.ndarray) -> tuple[Any, Any]:
        self.runs.append(len(windows))
        return super().probabilities(windows, states)


async def test_streams_share_silero_runs_and_get_the_marks_they_get_alone(speak: Speak) -> None:
    import soxr

    from tests.recognizer.speech import TELEPHONE_RATE, with_silence

    texts = ["i lost my card", "billing please", "yes", "four two seven one"]
    audios = [
        soxr.resample(with_silence(speak(t)), TELEPHONE_RATE, RATE).astype(np.float32)
        for t in texts
    ]
    config = Endpointing(end_silence_ms=500)
    alone = [_run(Endpointer(config, SileroDetector(SileroModel())), a, 320) for a in audios]

    model = _CountingSilero()
    batcher = VadBatcher(model, max_wait_ms=5.0)
    endpointers = [Endpointer(config, SileroDetector(model, batcher=batcher)) for _ in audios]

    async def run(endpointer: Endpointer, audio: np.ndarray) -> list[Mark]:
        marks: list[Mark] = []
        for i in range(0, len(audio), 320):
            marks.extend(await endpointer.feed_async(audio[i : i + 320]))
        return marks

    together = await asyncio.gather(*(run(e, a) for e, a in zip(endpointers, audios, strict=True)))
    await batcher.close()
    assert together == alone
    assert max(model.runs) > 1  # windows of several streams went through one run
    assert len(model.runs) < sum(model.runs)


async def test_a_failed_vad_run_fails_only_its_windows() -> None:
    batcher = VadBatcher(SileroModel(), max_wait_ms=1.0)
    state = np.zeros((2, 1, 128), dtype=np.float32)
    good = np.zeros(SILERO_CONTEXT + SILERO_WINDOW, dtype=np.float32)
    with pytest.raises(ValueError, match="same shape"):
        await asyncio.gather(
            batcher.probability(good, state), batcher.probability(good[:10], state)
        )
    probability, new_state = await batcher.probability(good, state)
    assert 0.0 <= probability < 0.5 and new_state.shape == (2, 1, 128)
    await batcher.close()


async def test_a_stream_with_a_backlog_does_not_wait_for_other_streams(speak: Speak) -> None:
    """A file (or a stream after a stall) brings many windows at once: they run without the
    batching wait, and give the marks the stream gets without the batcher."""
    import soxr

    from tests.recognizer.speech import TELEPHONE_RATE, with_silence

    audio = soxr.resample(with_silence(speak("billing please")), TELEPHONE_RATE, RATE)
    audio = audio.astype(np.float32)
    config = Endpointing(end_silence_ms=500)
    alone = _run(Endpointer(config, SileroDetector(SileroModel())), audio, RATE)
    model = _CountingSilero()
    batcher = VadBatcher(model, max_wait_ms=60_000.0)  # a wait no test could sit out
    endpointer = Endpointer(config, SileroDetector(model, batcher=batcher))
    marks: list[Mark] = []
    for i in range(0, len(audio), RATE):  # one-second pieces, as `transcribe` feeds them
        marks.extend(await asyncio.wait_for(endpointer.feed_async(audio[i : i + RATE]), 10))
    marks += endpointer.finish()
    await batcher.close()
    assert marks == alone
    assert len(model.runs) >= len(audio) // SILERO_WINDOW - 1
