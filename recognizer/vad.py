"""Endpointing: when the caller starts speaking, when an utterance ends, and when nobody spoke.

A voice-activity detector labels fixed frames counted from the first sample of the stream, so the
same audio gives the same decisions however the network cut it into packets; a small state
machine turns those labels into `SpeechStart`, `UtteranceEnd` and `NoInput` marks.

The detector is Silero VAD (a small neural network, run by ONNX Runtime from the `.onnx` file
shipped in `recognizer/models/vad/`; about 70 us per 32 ms window). `bench/vad.py` measured it
against webrtcvad on telephone audio with noise: at 10 dB SNR webrtcvad calls 43-100 % of the
silence speech (so utterances never end), Silero 7 % while keeping 94 % of the speech.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import webrtcvad

from recognizer.errors import ModelError
from recognizer.features import MODEL_SAMPLE_RATE

FRAME_MS = 20
FRAME_SAMPLES = MODEL_SAMPLE_RATE * FRAME_MS // 1000
SILERO_FILE = Path(__file__).resolve().parent / "models" / "vad" / "silero_vad.onnx"
#: The final is computed this long before the trailing silence runs out (speculatively: the
#: utterance's window is fixed once `tail_ms` of silence has passed), to hide its latency.
SPECULATE_LEAD_MS = 300
SILERO_WINDOW = 512
SILERO_CONTEXT = 64
#: How long the VAD batcher waits for other streams' windows before a run. Silero's cost per
#: call is mostly fixed (measured: 1 window 297 us, 8 windows 993 us), so a few milliseconds of
#: waiting more than halves the VAD's share of the event loop under load.
VAD_BATCH_WAIT_MS = 8.0
VAD_BATCH_MAX = 64
#: More windows than this at once means a stream is behind real time (a live 8 kHz stream's
#: resampler hands over about 3 windows every 100 ms); those run without batching.
BACKLOG_WINDOWS = 8
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Endpointing:
    """Endpointing limits in milliseconds; each may be overridden per request."""

    end_silence_ms: int = 700
    no_input_ms: int = 5000
    max_utterance_ms: int = 15000
    start_ms: int = 100
    #: Audio kept before the detected speech start; never reaches back into the previous
    #: utterance. A window that starts close to the speech gets more false hot-word names: on
    #: 400 calibration utterances without names, 300 ms gave 11 and 800 ms gave 4
    #: (docs/recognizer.md).
    preroll_ms: int = 800
    tail_ms: int = 200

    def override(self, **values: int | None) -> Endpointing:
        return replace(self, **{k: v for k, v in values.items() if v is not None})


class Detector(Protocol):
    """Says whether one frame of `frame_samples` 16 kHz float samples holds speech; may keep
    state between consecutive frames of one stream. `classify` labels consecutive frames and
    may wait for other streams' frames to share a run."""

    frame_samples: int

    def is_speech(self, frame: FloatArray) -> bool: ...

    async def classify(self, frames: list[FloatArray]) -> list[bool]: ...


class _OneByOne:
    """`classify` for detectors with nothing to batch."""

    def is_speech(self, frame: FloatArray) -> bool:
        raise NotImplementedError

    async def classify(self, frames: list[FloatArray]) -> list[bool]:
        return [self.is_speech(frame) for frame in frames]


class SileroModel:
    """The shared Silero VAD session (thread-safe); each stream keeps its own state."""

    def __init__(self, path: Path = SILERO_FILE) -> None:
        import onnxruntime as ort

        if not path.is_file():
            raise ModelError(f"the VAD model {path} is missing: reinstall the package")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._rate = np.array(MODEL_SAMPLE_RATE, dtype=np.int64)

    def probability(self, window: FloatArray, state: FloatArray) -> tuple[float, FloatArray]:
        probabilities, new_state = self.probabilities(window[None], state)
        return float(probabilities[0]), new_state

    def probabilities(
        self, windows: FloatArray, states: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Windows `(n, context + 512)` of n streams with their states `(2, n, 128)`; each row
        is computed on its own, so batching does not change a stream's result."""
        out, new_states = self._session.run(
            None, {"input": windows, "state": states, "sr": self._rate}
        )
        return np.asarray(out[:, 0], dtype=np.float32), np.asarray(new_states, dtype=np.float32)


class VadBatcher:
    """One Silero run for the windows that all streams produced within `max_wait_ms`.

    The run happens on its own thread (ONNX Runtime releases the GIL), so the event loop keeps
    reading sockets meanwhile; a failed run fails only the windows in it.
    """

    def __init__(
        self,
        model: SileroModel,
        max_wait_ms: float = VAD_BATCH_WAIT_MS,
        max_batch: int = VAD_BATCH_MAX,
        observe: Callable[[int], None] | None = None,
    ) -> None:
        self.model = model
        self._observe = observe
        self.max_wait_s = max_wait_ms / 1000
        self.max_batch = max_batch
        self._pending: list[tuple[FloatArray, FloatArray, asyncio.Future[tuple[float, FloatArray]]]]
        self._pending = []
        self._timer: asyncio.TimerHandle | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="vad")
        self._runs: set[asyncio.Task[None]] = set()

    async def probability(self, window: FloatArray, state: FloatArray) -> tuple[float, FloatArray]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[float, FloatArray]] = loop.create_future()
        self._pending.append((window, state, future))
        if len(self._pending) >= self.max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.max_wait_s, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            if self._observe is not None:
                self._observe(len(batch))
            task = asyncio.ensure_future(self._run(batch))
            self._runs.add(task)
            task.add_done_callback(self._runs.discard)

    async def _run(
        self, batch: list[tuple[FloatArray, FloatArray, asyncio.Future[tuple[float, FloatArray]]]]
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            windows = np.stack([w for w, _, _ in batch])
            states = np.concatenate([s for _, s, _ in batch], axis=1)
            probabilities, new_states = await loop.run_in_executor(
                self._executor, self.model.probabilities, windows, states
            )
        except Exception as exc:  # handed to every waiting stream
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for i, (_, _, future) in enumerate(batch):
            if not future.done():
                future.set_result((float(probabilities[i]), new_states[:, i : i + 1].copy()))

    async def close(self) -> None:
        self._flush()
        if self._runs:
            await asyncio.gather(*self._runs, return_exceptions=True)
        self._executor.shutdown(wait=True)


class SileroDetector:
    """Silero's speech probability with its usual hysteresis: speech starts above
    `threshold` and continues while above `threshold - 0.15`."""

    frame_samples = SILERO_WINDOW

    def __init__(
        self, model: SileroModel, threshold: float = 0.5, batcher: VadBatcher | None = None
    ) -> None:
        self._model = model
        self._batcher = batcher
        self.threshold = threshold
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(SILERO_CONTEXT, dtype=np.float32)
        self._speaking = False

    def _window(self, frame: FloatArray) -> FloatArray:
        window: FloatArray = np.concatenate([self._context, frame]).astype(np.float32)
        self._context = window[-SILERO_CONTEXT:]
        return window

    def _decide(self, probability: float) -> bool:
        limit = self.threshold - 0.15 if self._speaking else self.threshold
        self._speaking = probability > limit
        return self._speaking

    def is_speech(self, frame: FloatArray) -> bool:
        probability, self._state = self._model.probability(self._window(frame), self._state)
        return self._decide(probability)

    async def classify(self, frames: list[FloatArray]) -> list[bool]:
        # A stream fed faster than real time (a file, a backlog after a network stall) has many
        # windows at once: waiting for other streams would only slow it down, and a hop to the
        # batcher's thread per window costs more than the run (~70 us).
        if self._batcher is None or len(frames) > BACKLOG_WINDOWS:
            return [self.is_speech(frame) for frame in frames]
        labels = []
        for frame in frames:
            probability, self._state = await self._batcher.probability(
                self._window(frame), self._state
            )
            labels.append(self._decide(probability))
        return labels


class WebrtcDetector(_OneByOne):
    frame_samples = FRAME_SAMPLES

    def __init__(self, aggressiveness: int = 3) -> None:
        self._vad = webrtcvad.Vad(aggressiveness)

    def is_speech(self, frame: npt.NDArray[np.float32]) -> bool:
        pcm = np.clip(frame * 32768.0, -32768, 32767).astype("<i2").tobytes()
        return bool(self._vad.is_speech(pcm, MODEL_SAMPLE_RATE))


class EnergyDetector(_OneByOne):
    """A frame is speech when its level is above `threshold_db` dBFS (the baseline in the bench)."""

    frame_samples = FRAME_SAMPLES

    def __init__(self, threshold_db: float = -40.0) -> None:
        self.threshold_db = threshold_db

    def is_speech(self, frame: npt.NDArray[np.float32]) -> bool:
        rms = float(np.sqrt(np.mean(np.square(frame, dtype=np.float64)) + 1e-12))
        return bool(20 * np.log10(rms) > self.threshold_db)


@dataclass(frozen=True)
class SpeechStart:
    """Speech began at `sample`; the utterance's window begins at `window_start` (`preroll_ms`
    before it, but not before the previous utterance's end)."""

    sample: int
    window_start: int


@dataclass(frozen=True)
class UtteranceEnd:
    """The utterance spans samples `start`..`end`; `cut` when max length forced the end."""

    start: int
    end: int
    cut: bool = False


@dataclass(frozen=True)
class NoInput:
    """Nobody spoke for `no_input_ms` since the stream started or the last utterance ended."""

    sample: int


Mark = SpeechStart | UtteranceEnd | NoInput


class Endpointer:
    """Feed 16 kHz audio in any pieces; get marks with absolute sample positions."""

    def __init__(self, config: Endpointing, detector: Detector) -> None:
        self.config = config
        self._detector = detector
        self.frame_samples = detector.frame_samples
        self._frame_ms = detector.frame_samples * 1000 / MODEL_SAMPLE_RATE
        self._pending = np.zeros(0, dtype=np.float32)
        self._frame = 0  # index of the next frame to classify
        self._voiced_run = 0
        self._speech_start: int | None = None  # frame where the current utterance's speech began
        self._last_voiced = 0  # last voiced frame of the current utterance
        self._floor = 0  # frame where the previous utterance's window ended
        self._idle_since = 0  # frame where the current silent wait began
        self._no_input_sent = False

    @property
    def in_speech(self) -> bool:
        return self._speech_start is not None

    def feed(self, audio: FloatArray) -> list[Mark]:
        return self._advance([self._detector.is_speech(f) for f in self._take(audio)])

    async def feed_async(self, audio: FloatArray) -> list[Mark]:
        """`feed`, letting the detector batch this stream's frames with other streams'."""
        return self._advance(await self._detector.classify(self._take(audio)))

    def _take(self, audio: FloatArray) -> list[FloatArray]:
        """The whole frames that `audio` completes; the rest waits for the next piece."""
        pending = np.concatenate([self._pending, audio]) if len(self._pending) else audio
        size = self.frame_samples
        n = len(pending) // size
        self._pending = pending[n * size :].copy()
        return [pending[i * size : (i + 1) * size] for i in range(n)]

    def _advance(self, labels: list[bool]) -> list[Mark]:
        marks = [self._step(voiced) for voiced in labels]
        return [mark for mark in marks if mark is not None]

    def finish(self) -> list[Mark]:
        """End of stream: close an utterance in progress."""
        if self._speech_start is None:
            return []
        return [self._end(cut=False)]

    @property
    def position(self) -> int:
        """The end of the last classified frame, in samples: where decisions are made."""
        return self._frame * self.frame_samples

    def _frames(self, ms: int) -> int:
        return max(1, round(ms / self._frame_ms))

    def _step(self, voiced: bool) -> Mark | None:
        frame = self._frame
        self._frame += 1
        cfg = self.config
        self._voiced_run = self._voiced_run + 1 if voiced else 0
        if self._speech_start is None:
            if self._voiced_run >= self._frames(cfg.start_ms):
                self._speech_start = frame + 1 - self._voiced_run
                self._last_voiced = frame
                size = self.frame_samples
                return SpeechStart(self._speech_start * size, self._window_start() * size)
            if not self._no_input_sent and frame + 1 - self._idle_since >= self._frames(
                cfg.no_input_ms
            ):
                self._no_input_sent = True
                return NoInput((frame + 1) * self.frame_samples)
            return None
        if voiced:
            self._last_voiced = frame
        if frame - self._last_voiced >= self._frames(cfg.end_silence_ms):
            return self._end(cut=False)
        if frame + 1 - self._speech_start >= self._frames(cfg.max_utterance_ms):
            return self._end(cut=True)
        return None

    def provisional_end(self) -> UtteranceEnd | None:
        """The utterance as it will end if the caller stays silent, once that is settled and
        the end is near (`SPECULATE_LEAD_MS`), so its final can be computed ahead."""
        if self._speech_start is None:
            return None
        cfg = self.config
        end_wait = self._frames(cfg.end_silence_ms)
        wait = max(self._frames(cfg.tail_ms), end_wait - self._frames(SPECULATE_LEAD_MS))
        if wait >= end_wait or self._frame - 1 - self._last_voiced < wait:
            return None
        return self._bounds(cut=False)

    def _window_start(self) -> int:
        assert self._speech_start is not None
        return max(self._floor, self._speech_start - self._frames(self.config.preroll_ms))

    def _bounds(self, cut: bool) -> UtteranceEnd:
        assert self._speech_start is not None
        cfg = self.config
        start = self._window_start() * self.frame_samples
        tail = self._frames(cfg.tail_ms)
        end_frame = self._frame if cut else min(self._frame, self._last_voiced + 1 + tail)
        return UtteranceEnd(start=start, end=end_frame * self.frame_samples, cut=cut)

    def _end(self, cut: bool) -> UtteranceEnd:
        bounds = self._bounds(cut)
        self._floor = bounds.end // self.frame_samples
        self._speech_start = None
        self._voiced_run = 0
        self._idle_since = self._frame
        self._no_input_sent = False
        return bounds
