"""One recognition stream: audio frames in, `SpeechStarted` / `Partial` / `Final` events out.

The stream decodes its frames to the model rate, lets the endpointer cut utterances, and keeps
only the audio an utterance may still need (its pre-roll, then the utterance itself). Each
utterance window goes through the shared batcher as one window from its first sample, exactly
as an offline transcription of the same audio does (`Recognizer.transcribe` runs this very
class over the whole file), so a streamed final equals the offline result. Partials re-run the
growing window every `partial_interval_ms` and are decoded greedily, which is cheap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from recognizer.audio import AudioFormat, FrameDecoder
from recognizer.decoding import Hypothesis, Word
from recognizer.features import MODEL_SAMPLE_RATE
from recognizer.phrases import Hotword
from recognizer.vad import (
    Detector,
    Endpointer,
    Endpointing,
    NoInput,
    SpeechStart,
    UtteranceEnd,
)

FloatAudio = npt.NDArray[np.float32]
#: Audio kept before the current position while nobody speaks (at least start_ms + preroll_ms).
IDLE_KEEP_S = 1.0
#: A partial's window looks back at most this far before the speech. Partials re-run the model
#: on their whole growing window every `partial_interval_ms`, so the final's longer pre-roll
#: would cost model time there many times over (the capacity bench: docs/recognizer.md), for
#: no gain: partials are greedy and carry no hot words.
PARTIAL_PREROLL_MS = 300


@dataclass(frozen=True)
class SpeechStarted:
    utterance: int
    time_s: float


@dataclass(frozen=True)
class Partial:
    utterance: int
    text: str
    time_s: float = 0.0


@dataclass(frozen=True)
class Final:
    utterance: int
    text: str
    confidence: float
    words: tuple[Word, ...]
    start_s: float = 0.0
    end_s: float = 0.0
    endpoint_s: float = 0.0
    cut: bool = False


@dataclass(frozen=True)
class NoInputTimeout:
    time_s: float


Event = SpeechStarted | Partial | Final | NoInputTimeout


@dataclass(frozen=True)
class StreamOptions:
    audio_format: AudioFormat
    hotwords: tuple[Hotword, ...] = ()
    endpointing: Endpointing = field(default_factory=Endpointing)
    interim: bool = True
    partial_interval_ms: int = 400


class AudioBuffer:
    """The stream's recent audio with absolute sample positions; appends are amortised O(1)
    (a 15 s utterance must not be copied on every 20 ms frame)."""

    def __init__(self) -> None:
        self._data = np.zeros(16000, dtype=np.float32)
        self._size = 0
        self.start = 0  # absolute sample index of the first kept sample

    @property
    def end(self) -> int:
        return self.start + self._size

    def append(self, audio: FloatAudio) -> None:
        needed = self._size + len(audio)
        if needed > len(self._data):
            grown = np.zeros(max(needed, 2 * len(self._data)), dtype=np.float32)
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : needed] = audio
        self._size = needed

    def window(self, start: int, end: int) -> FloatAudio:
        lo = min(self._size, max(0, start - self.start))
        hi = min(self._size, max(lo, end - self.start))
        return self._data[lo:hi].copy()

    def keep_from(self, position: int) -> None:
        """Forget samples before `position` (moves the tail to the front when worth it)."""
        drop = min(self._size, position - self.start)
        if drop <= 0:
            return
        if drop >= self._size // 2 or drop > 8 * 16000:
            self._data[: self._size - drop] = self._data[drop : self._size]
            self._size -= drop
            self.start += drop


FinalFn = Callable[[FloatAudio, tuple[Hotword, ...]], Awaitable[Hypothesis]]
PartialFn = Callable[[FloatAudio], Awaitable[str | None]]


class RecognitionStream:
    """Per-call recognition state; `feed` frames in order, then `finish` once."""

    def __init__(
        self,
        options: StreamOptions,
        detector: Detector,
        recognize_final: FinalFn,
        recognize_partial: PartialFn,
        on_final_latency: Callable[[float], None] | None = None,
    ) -> None:
        self.options = options
        self._decoder = FrameDecoder(options.audio_format)
        self._endpointer = Endpointer(options.endpointing, detector)
        self._final = recognize_final
        self._partial = recognize_partial
        self._on_latency = on_final_latency
        self._buffer = AudioBuffer()
        self._position = 0  # absolute samples received (at the model rate)
        self._utterance = 0
        self._speech_at: int | None = None
        self._window_at = 0  # where the current utterance's window begins (its pre-roll)
        self._last_partial_at = 0
        self._last_partial_text = ""
        self._finished = False
        self._speculation: tuple[tuple[int, int], asyncio.Future[Hypothesis]] | None = None
        self._partial_task: tuple[int, float, asyncio.Future[str | None]] | None = None

    async def feed(self, data: bytes) -> list[Event]:
        """One frame of encoded audio; raises `AudioFormatError` for a frame it cannot decode."""
        return await self.feed_audio(self._decoder.feed(data))

    async def feed_audio(self, audio: FloatAudio) -> list[Event]:
        """Audio already at the model rate (what `feed` produces; offline input comes here)."""
        if self._finished:
            return []
        self._buffer.append(audio)
        self._position += len(audio)
        events: list[Event] = []
        events.extend(self._collect_partial())
        for mark in await self._endpointer.feed_async(audio):
            events.extend(await self._on_mark(mark))
        self._speculate()
        if self.options.interim and self._speech_at is not None:
            interval = self.options.partial_interval_ms * MODEL_SAMPLE_RATE // 1000
            if self._position - self._last_partial_at >= interval:
                if self._partial_task is not None:
                    # the last partial is not back after a whole interval: wait for it rather
                    # than pile up more (audio fed faster than real time lands here too)
                    await asyncio.wait([self._partial_task[2]])
                    events.extend(self._collect_partial())
                if self._speech_at is not None:
                    self._start_partial()
        self._trim()
        return events

    def _speculate(self) -> None:
        """Start computing the final while the trailing silence runs out; the window is the
        one the end mark will name, so the result is the same, only earlier."""
        guess = self._endpointer.provisional_end()
        if guess is None:
            return
        key = (guess.start, guess.end)
        if self._speculation is not None and self._speculation[0] == key:
            return
        self._drop_speculation()
        window = self._buffer.window(guess.start, guess.end)
        task = asyncio.ensure_future(self._final(window, self.options.hotwords))
        self._speculation = (key, task)

    def _drop_speculation(self) -> None:
        if self._speculation is not None:
            task = self._speculation[1]
            task.cancel()
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            self._speculation = None

    async def _final_for(self, mark: UtteranceEnd) -> Hypothesis:
        if self._speculation is not None and self._speculation[0] == (mark.start, mark.end):
            task = self._speculation[1]
            self._speculation = None
            return await task
        self._drop_speculation()
        return await self._final(self._buffer.window(mark.start, mark.end), self.options.hotwords)

    def close(self) -> None:
        """Stop work started ahead for a caller who hung up."""
        self._drop_speculation()
        self._drop_partial()
        self._finished = True

    def _drop_partial(self) -> None:
        if self._partial_task is not None:
            task = self._partial_task[2]
            task.cancel()
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            self._partial_task = None

    async def finish(self) -> list[Event]:
        """End of audio: flush the resampler and close the utterance in progress."""
        if self._finished:
            return []
        events = await self.feed_audio(self._decoder.flush())
        self._finished = True
        for mark in self._endpointer.finish():
            events.extend(await self._on_mark(mark))
        return events

    async def _on_mark(self, mark: SpeechStart | UtteranceEnd | NoInput) -> list[Event]:
        if isinstance(mark, SpeechStart):
            self._utterance += 1
            self._speech_at = mark.sample
            self._window_at = mark.window_start
            self._last_partial_at = self._position
            self._last_partial_text = ""
            return [SpeechStarted(self._utterance, mark.sample / MODEL_SAMPLE_RATE)]
        if isinstance(mark, NoInput):
            return [NoInputTimeout(mark.sample / MODEL_SAMPLE_RATE)]
        self._speech_at = None
        self._drop_partial()  # the final supersedes it
        decided = time.perf_counter()
        hypothesis = await self._final_for(mark)
        if self._on_latency is not None:
            self._on_latency(time.perf_counter() - decided)
        offset = mark.start / MODEL_SAMPLE_RATE
        words = tuple(
            Word(
                w.word, round(w.start + offset, 3), round(w.end + offset, 3), round(w.confidence, 4)
            )
            for w in hypothesis.words
        )
        return [
            Final(
                utterance=self._utterance,
                text=hypothesis.text,
                confidence=hypothesis.confidence,
                words=words,
                start_s=offset,
                end_s=mark.end / MODEL_SAMPLE_RATE,
                endpoint_s=self._endpoint_position() / MODEL_SAMPLE_RATE,
                cut=mark.cut,
            )
        ]

    def _endpoint_position(self) -> int:
        """Where the endpointer decided (its last whole frame), in absolute samples."""
        return self._endpointer.position

    def _start_partial(self) -> None:
        """Compute a partial in the background: frames keep flowing (and the endpointer keeps
        deciding) while it runs; its event goes out with a later frame's."""
        assert self._speech_at is not None
        self._last_partial_at = self._position
        lookback = PARTIAL_PREROLL_MS * MODEL_SAMPLE_RATE // 1000
        start = max(self._window_at, self._speech_at - lookback)
        window = self._buffer.window(start, self._position)
        task = asyncio.ensure_future(self._partial(window))
        self._partial_task = (self._utterance, self._position / MODEL_SAMPLE_RATE, task)

    def _collect_partial(self) -> list[Event]:
        if self._partial_task is None or not self._partial_task[2].done():
            return []
        utterance, time_s, task = self._partial_task
        self._partial_task = None
        if task.cancelled() or task.exception() is not None:
            return []  # a partial is best effort; the final reports real failures
        text = task.result()
        current = utterance == self._utterance and self._speech_at is not None
        if not current or not text or text == self._last_partial_text:
            return []
        self._last_partial_text = text
        return [Partial(utterance, text, time_s)]

    def _trim(self) -> None:
        if self._speech_at is not None:
            self._buffer.keep_from(self._window_at)
            return
        cfg = self.options.endpointing
        keep_ms = max(IDLE_KEEP_S * 1000, cfg.start_ms + cfg.preroll_ms + 200)
        self._buffer.keep_from(self._position - int(keep_ms * MODEL_SAMPLE_RATE / 1000))


async def drain(stream: RecognitionStream, audio: FloatAudio, step: int = 0) -> list[Event]:
    """Feed a whole recording (in `step`-sample pieces, or at once) and finish: offline use."""
    events: list[Event] = []
    if step <= 0:
        events.extend(await stream.feed_audio(audio))
    else:
        for i in range(0, len(audio), step):
            events.extend(await stream.feed_audio(audio[i : i + step]))
            await asyncio.sleep(0)
    events.extend(await stream.finish())
    return events
