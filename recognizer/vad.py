"""Endpointing: when the caller starts speaking, when an utterance ends, and when nobody spoke.

A voice-activity detector labels fixed frames counted from the first sample of the stream, so the
same audio gives the same decisions however the network cut it into packets; a small state
machine turns those labels into `SpeechStart`, `UtteranceEnd` and `NoInput` marks.

The detector is webrtcvad (GMM, about 10 us per 20 ms frame): `bench/vad.py` compares it with
the model-free energy gate on noisy telephone audio.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import numpy.typing as npt
import webrtcvad

from recognizer.features import MODEL_SAMPLE_RATE

FRAME_MS = 20
FRAME_SAMPLES = MODEL_SAMPLE_RATE * FRAME_MS // 1000


@dataclass(frozen=True)
class Endpointing:
    """Endpointing limits in milliseconds; each may be overridden per request."""

    end_silence_ms: int = 700
    no_input_ms: int = 5000
    max_utterance_ms: int = 15000
    start_ms: int = 100
    preroll_ms: int = 300
    tail_ms: int = 200
    aggressiveness: int = 3

    def override(self, **values: int | None) -> Endpointing:
        return replace(self, **{k: v for k, v in values.items() if v is not None})


class Detector(Protocol):
    """Says whether one `FRAME_SAMPLES` frame of 16 kHz float audio holds speech."""

    def is_speech(self, frame: npt.NDArray[np.float32]) -> bool: ...


class WebrtcDetector:
    def __init__(self, aggressiveness: int = 3) -> None:
        self._vad = webrtcvad.Vad(aggressiveness)

    def is_speech(self, frame: npt.NDArray[np.float32]) -> bool:
        pcm = np.clip(frame * 32768.0, -32768, 32767).astype("<i2").tobytes()
        return bool(self._vad.is_speech(pcm, MODEL_SAMPLE_RATE))


class EnergyDetector:
    """A frame is speech when its level is above `threshold_db` dBFS (the baseline in the bench)."""

    def __init__(self, threshold_db: float = -40.0) -> None:
        self.threshold_db = threshold_db

    def is_speech(self, frame: npt.NDArray[np.float32]) -> bool:
        rms = float(np.sqrt(np.mean(np.square(frame, dtype=np.float64)) + 1e-12))
        return bool(20 * np.log10(rms) > self.threshold_db)


@dataclass(frozen=True)
class SpeechStart:
    """Speech began at `sample` (the utterance keeps `preroll_ms` before it)."""

    sample: int


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

    def __init__(self, config: Endpointing, detector: Detector | None = None) -> None:
        self.config = config
        self._detector = detector or WebrtcDetector(config.aggressiveness)
        self._pending = np.zeros(0, dtype=np.float32)
        self._frame = 0  # index of the next frame to classify
        self._voiced_run = 0
        self._speech_start: int | None = None  # frame where the current utterance's speech began
        self._last_voiced = 0  # last voiced frame of the current utterance
        self._idle_since = 0  # frame where the current silent wait began
        self._no_input_sent = False

    @property
    def in_speech(self) -> bool:
        return self._speech_start is not None

    def feed(self, audio: npt.NDArray[np.float32]) -> list[Mark]:
        pending = np.concatenate([self._pending, audio]) if len(self._pending) else audio
        n = len(pending) // FRAME_SAMPLES
        marks: list[Mark] = []
        for i in range(n):
            frame = pending[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES]
            mark = self._step(self._detector.is_speech(frame))
            if mark is not None:
                marks.append(mark)
        self._pending = pending[n * FRAME_SAMPLES :].copy()
        return marks

    def finish(self) -> list[Mark]:
        """End of stream: close an utterance in progress."""
        if self._speech_start is None:
            return []
        return [self._end(cut=False)]

    def _frames(self, ms: int) -> int:
        return max(1, ms // FRAME_MS)

    def _step(self, voiced: bool) -> Mark | None:
        frame = self._frame
        self._frame += 1
        cfg = self.config
        self._voiced_run = self._voiced_run + 1 if voiced else 0
        if self._speech_start is None:
            if self._voiced_run >= self._frames(cfg.start_ms):
                self._speech_start = frame + 1 - self._voiced_run
                self._last_voiced = frame
                return SpeechStart(self._speech_start * FRAME_SAMPLES)
            if not self._no_input_sent and frame + 1 - self._idle_since >= self._frames(
                cfg.no_input_ms
            ):
                self._no_input_sent = True
                return NoInput((frame + 1) * FRAME_SAMPLES)
            return None
        if voiced:
            self._last_voiced = frame
        if frame - self._last_voiced >= self._frames(cfg.end_silence_ms):
            return self._end(cut=False)
        if frame + 1 - self._speech_start >= self._frames(cfg.max_utterance_ms):
            return self._end(cut=True)
        return None

    def _end(self, cut: bool) -> UtteranceEnd:
        assert self._speech_start is not None
        cfg = self.config
        start = max(0, self._speech_start - self._frames(cfg.preroll_ms)) * FRAME_SAMPLES
        end_frame = (
            self._frame
            if cut
            else min(self._frame, self._last_voiced + 1 + cfg.tail_ms // FRAME_MS)
        )
        self._speech_start = None
        self._voiced_run = 0
        self._idle_since = self._frame
        self._no_input_sent = False
        return UtteranceEnd(start=start, end=end_frame * FRAME_SAMPLES, cut=cut)
