"""What a call hears: the caller's audio through the recognizer stream and the in-band key
detector, and keys from the gateway, queued in arrival order for the call session.

Memory per call is bounded: about 5 s of audio waits for the recognizer (older frames are
dropped and counted), and at most 256 inputs wait for the session (a flood of keys drops the
oldest). Speech results carry the generation of the stream that produced them, so a result of
a stream closed at the end of a turn never answers the next one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from ivr.gateways import g711
from ivr.gateways.admission import CallMetrics
from ivr.gateways.dtmf import DtmfDetector
from ivr.gateways.wire import Encoding
from recognizer.phrases import Hotword

if TYPE_CHECKING:  # the model's modules load with the recognizer, not with a call
    from recognizer.transcribe import RecognizerOptions
    from recognizer.vad import Endpointing

log = logging.getLogger(__name__)
AUDIO_QUEUE_CHUNKS = 250
INBOX_SIZE = 256
CATCH_UP_FRAMES = 25
"""Most queued frames joined into one recognizer feed when the call's audio is behind."""


class SpeechStream(Protocol):
    async def feed(self, data: bytes) -> Sequence[object]: ...
    async def finish(self) -> Sequence[object]: ...


class SpeechRecognizer(Protocol):
    """`recognizer.transcribe.Recognizer` as a call uses it."""

    options: RecognizerOptions

    def open_stream(
        self,
        encoding: str,
        sample_rate: int,
        hotwords: tuple[Hotword, ...],
        endpointing: Endpointing | None = None,
        interim: bool = True,
    ) -> SpeechStream: ...


@dataclass
class Input:
    kind: Literal["speech_started", "final", "digit", "ended"]
    text: str = ""
    confidence: float = 0.0
    generation: int = 0
    at: float = field(default_factory=time.monotonic)
    speech_end: float | None = None
    """For a final: when the caller stopped speaking (monotonic), from the stream's clock."""


class Hearing:
    def __init__(
        self, encoding: Encoding, sample_rate: int, inband_dtmf: bool, metrics: CallMetrics
    ) -> None:
        self.encoding = encoding
        self.sample_rate = sample_rate
        self.metrics = metrics
        self.inbox: asyncio.Queue[Input] = asyncio.Queue(maxsize=INBOX_SIZE)
        self.barge = asyncio.Event()
        self.barge_allowed = False
        """Set while a prompt that the caller may interrupt plays."""
        self.feeding = True
        """False while a prompt that may not be interrupted plays: that audio is not heard."""
        self.generation = 0
        self.dropped = 0
        self._audio: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue(maxsize=AUDIO_QUEUE_CHUNKS)
        self._stream: SpeechStream | None = None
        self._lock = asyncio.Lock()
        self._detector = DtmfDetector(sample_rate) if inband_dtmf else None

    # --- from the gateway (never blocks) ---

    def audio(self, payload: bytes) -> None:
        if self._audio.full():
            self._audio.get_nowait()
            self.dropped += 1
        self._audio.put_nowait((payload, time.monotonic()))

    def key(self, digit: str, *, source: str = "event") -> None:
        self.metrics.dtmf_digits.labels(source).inc()
        self.push(Input("digit", digit))
        if self.barge_allowed:
            self.barge.set()

    def ended(self, reason: str) -> None:
        self.push(Input("ended", reason))
        self.barge.set()

    def push(self, item: Input) -> None:
        if self.inbox.full():
            self.inbox.get_nowait()
        self.inbox.put_nowait(item)

    def peek(self) -> list[Input]:
        return list(self.inbox._queue)  # type: ignore[attr-defined]

    def pending_input(self) -> bool:
        """A key, or speech of the current stream, is waiting: the next prompt is moot."""
        return any(
            i.kind == "digit" or (i.kind == "speech_started" and i.generation == self.generation)
            for i in self.peek()
        )

    # --- the recognizer stream, one per turn that listens for speech ---

    async def open(
        self,
        recognizer: SpeechRecognizer,
        hotwords: tuple[Hotword, ...],
        *,
        end_silence_ms: int | None = None,
        max_utterance_ms: int | None = None,
    ) -> None:
        """A new stream with the turn's hot words and endpointing (partials off: a call acts
        on finals only, and partial decoding costs CPU)."""
        await self.close()
        endpointing = recognizer.options.endpointing.override(
            end_silence_ms=end_silence_ms, max_utterance_ms=max_utterance_ms
        )
        async with self._lock:
            self.generation += 1
            self._stream = recognizer.open_stream(
                self.encoding, self.sample_rate, hotwords, endpointing, interim=False
            )

    async def close(self) -> None:
        """Drop the turn's stream without `finish()`: that would recognize the audio of an
        utterance in progress, which no turn waits for any more (and costs a decode on the
        path to the next prompt). A stream holds no resource beyond its buffers."""
        async with self._lock:
            self._stream = None
            self.generation += 1

    async def run(self) -> None:
        """Caller audio to the in-band key detector and the open recognizer stream."""
        while True:
            payload, arrived = await self._audio.get()
            if not self._audio.empty():  # behind real time: catch up in one feed, not many
                parts = [payload]
                while not self._audio.empty() and len(parts) < CATCH_UP_FRAMES:
                    more, arrived = self._audio.get_nowait()
                    parts.append(more)
                payload = b"".join(parts)
            if self._detector is not None:
                for digit in self._detector.feed(self._pcm(payload)):
                    self.key(digit, source="inband")
            if not self.feeding:
                continue
            async with self._lock:
                if self._stream is None:
                    continue
                try:
                    events = await self._stream.feed(payload)
                except Exception:
                    log.exception("recognizer failed on a frame; the call goes on without it")
                    self._stream = None
                    continue
                generation = self.generation
            for event in events:
                self._on_recognized(event, generation, arrived)

    def _on_recognized(self, event: object, generation: int, arrived: float) -> None:
        kind = type(event).__name__  # recognizer.stream's SpeechStarted / Partial / Final
        if kind == "SpeechStarted":
            self.push(Input("speech_started", generation=generation))
            if self.barge_allowed:
                self.barge.set()
        elif kind == "Final":
            text = str(getattr(event, "text", ""))
            confidence = float(getattr(event, "confidence", 0.0))
            # audio arrives in real time: the frame that arrived at `arrived` ends at the
            # endpoint, and speech ended `endpoint_s - end_s` seconds of audio before it
            silence = float(getattr(event, "endpoint_s", 0.0)) - float(getattr(event, "end_s", 0.0))
            ended = arrived - max(0.0, silence)
            self.push(Input("final", text, confidence, generation, speech_end=ended))

    def _pcm(self, payload: bytes) -> np.ndarray[Any, np.dtype[np.int16]]:
        if self.encoding == "pcmu":
            return g711.ulaw_to_pcm(payload)
        if self.encoding == "pcma":
            return g711.alaw_to_pcm(payload)
        return np.frombuffer(payload[: len(payload) // 2 * 2], dtype="<i2").astype(np.int16)
