"""One call: caller audio -> recognizer stream -> dialog -> prompts and transfer/hang-up.

The session knows nothing of Twilio, jambonz or Asterisk (STYLE rule 6): a gateway hands it
audio, keys and the end of the call, and gives it a `Line` to play prompts on. The recognizer
and the dialog service are reached through the small protocols below.

Timing rules: barge-in stops a prompt as soon as the caller starts speaking or presses a key
(when the `Say` allows it); the no-input timer starts when the last prompt finished playing;
keys are collected per the `Listen`'s `DtmfSpec`; the whole call is cut at `IVR_MAX_CALL_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import redis.asyncio as aioredis

from dialogs.actions import (
    Digits,
    Disposition,
    DtmfSpec,
    Event,
    Hangup,
    Listen,
    NoInput,
    Outcome,
    Say,
    Speech,
    Transfer,
    Turn,
)
from ivr.gateways import g711
from ivr.gateways.admission import CallMetrics
from ivr.gateways.dtmf import DtmfDetector
from ivr.gateways.wire import Encoding
from ivr.prompts import AudioFormat, Prompts
from recognizer.phrases import Hotword, merge_hotwords

log = logging.getLogger(__name__)
AUDIO_QUEUE_CHUNKS = 250
"""Caller audio waiting for the recognizer, per call (about 5 s of 20 ms frames): the bound on
a call's buffered audio; older frames are dropped (and logged) past it."""
RECORD_PREFIX = "ivr:call:"


class SpeechStream(Protocol):
    async def feed(self, data: bytes) -> Sequence[object]: ...
    async def finish(self) -> Sequence[object]: ...


class SpeechRecognizer(Protocol):
    def open_stream(
        self, encoding: str, sample_rate: int, hotwords: tuple[Hotword, ...]
    ) -> SpeechStream: ...


class DialogService(Protocol):
    async def start(
        self, *, call_id: str, tenant: str, flow: str, caller: str, called: str
    ) -> Turn: ...
    async def handle(self, call_id: str, event: Event, *, turn: int) -> Turn: ...
    async def finish(
        self, call_id: str, disposition: Disposition, *, transfer_target: str | None = None
    ) -> Outcome: ...


class Line(Protocol):
    """The gateway side of a call: plays prompt bytes in `fmt`, stops them, ends the call."""

    fmt: AudioFormat

    async def play(self, audio: bytes) -> None: ...
    async def stop(self) -> None: ...
    async def close(self, reason: str) -> None: ...


@dataclass(frozen=True)
class CallInfo:
    call_id: str
    tenant: str
    flow: str
    gateway: str
    caller: str = ""
    called: str = ""
    encoding: Encoding = "l16"
    sample_rate: int = 8000
    inband_dtmf: bool = False


@dataclass
class CallServices:
    """What every call shares: reached through the app, passed in so tests can build one."""

    dialogs: DialogService
    prompts: Prompts
    metrics: CallMetrics
    redis: aioredis.Redis
    recognizer: SpeechRecognizer | None = None
    tenant_hotwords: Callable[[str], Awaitable[tuple[Hotword, ...]]] | None = None
    max_call_s: float = 1800.0
    record_ttl_s: int = 30 * 86400
    record_transcripts: bool = False


class CallerGone(Exception):
    """The caller hung up or the socket dropped."""


@dataclass
class _Input:
    kind: str  # "speech_started" | "final" | "digit" | "ended"
    text: str = ""
    confidence: float = 0.0
    generation: int = 0
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Keys:
    """DTMF collection for one `Listen`: up to `max_digits`, or fewer ended by the finish key."""

    spec: DtmfSpec | None
    digits: str = ""

    def add(self, key: str) -> Digits | None:
        spec = self.spec
        if spec is None:
            return Digits(key)  # the state takes no keys: the dialog decides what one means
        if key == spec.finish_key:
            return Digits(self.digits) if len(self.digits) >= spec.min_digits else None
        self.digits += key
        return Digits(self.digits) if len(self.digits) >= spec.max_digits else None


class CallSession:
    def __init__(self, info: CallInfo, line: Line, services: CallServices) -> None:
        self.info = info
        self.line = line
        self.services = services
        self.metrics = services.metrics
        self.disposition: Disposition = "completed"
        self.transfer_target: str | None = None
        self.history: list[dict[str, Any]] = []
        self._inbox: asyncio.Queue[_Input] = asyncio.Queue(maxsize=256)
        self._audio: asyncio.Queue[bytes] = asyncio.Queue(maxsize=AUDIO_QUEUE_CHUNKS)
        self._barge = asyncio.Event()
        self._barge_allowed = False
        self._feeding = True
        self._stream: SpeechStream | None = None
        self._generation = 0
        self._stream_lock = asyncio.Lock()
        self._ended_reason: str | None = None
        self._input_ended_at: float | None = None
        self._detector = DtmfDetector(info.sample_rate) if info.inband_dtmf else None
        self._dropped = 0

    # --- what the gateway calls (never blocks) ---

    def audio(self, payload: bytes) -> None:
        if self._audio.full():
            self._audio.get_nowait()
            self._dropped += 1
        self._audio.put_nowait(payload)

    def dtmf(self, digit: str, *, source: str = "event") -> None:
        self.metrics.dtmf_digits.labels(source).inc()
        self._push(_Input("digit", digit))
        if self._barge_allowed:
            self._barge.set()

    def end(self, reason: str) -> None:
        """The caller hung up, the socket dropped or a frame was malformed ("error")."""
        if self._ended_reason is None:
            self._ended_reason = reason
            if reason == "error":
                self.disposition = "error"
            elif reason != "drained":
                self.disposition = "caller_hangup"
            self._push(_Input("ended", reason))
            self._barge.set()

    def _push(self, item: _Input) -> None:
        if self._inbox.full():  # a flood of keys cannot grow a call's memory
            self._inbox.get_nowait()
        self._inbox.put_nowait(item)

    # --- the call ---

    async def run(self) -> Outcome | None:
        pump = asyncio.create_task(self._pump_audio())
        outcome = None
        try:
            async with asyncio.timeout(self.services.max_call_s):
                await self._converse()
        except CallerGone:
            if self._ended_reason is None:
                self.disposition = "caller_hangup"
        except TimeoutError:
            self.disposition = "max_length"
        except asyncio.CancelledError:
            if self._ended_reason is None:
                self.disposition = "drained"  # the server stopped before the call ended
            raise
        except Exception:
            log.exception("call failed")
            self.disposition = "error"
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            await self._close_stream()
            outcome = await self._finish()
        return outcome

    async def _converse(self) -> None:
        info = self.info
        turn = await self.services.dialogs.start(
            call_id=info.call_id,
            tenant=info.tenant,
            flow=info.flow,
            caller=info.caller,
            called=info.called,
        )
        while True:
            self.metrics.turns.inc()
            event = await self._perform(turn)
            self._record(turn, event)
            if event is None or turn.ended:
                return
            previous = turn.state
            turn = await self.services.dialogs.handle(info.call_id, event, turn=turn.turn)
            if not isinstance(event, NoInput) and turn.state == previous and not turn.ended:
                self.metrics.no_match.inc()

    async def _perform(self, turn: Turn) -> Event | None:
        """Run a turn's actions; the caller's answer to its `Listen`, or None when it ended."""
        listen = next((a for a in turn.actions if isinstance(a, Listen)), None)
        await self._open_stream(listen)
        interrupted = False
        for action in turn.actions:
            self._raise_if_gone()
            if isinstance(action, Say):
                if not interrupted:
                    interrupted = await self._say(action, listening=listen is not None)
            elif isinstance(action, Listen):
                return await self._listen(action)
            elif isinstance(action, Transfer):
                self.disposition, self.transfer_target = "transferred", action.target
                return None
            elif isinstance(action, Hangup):
                self.disposition = "completed"
                return None
        return None

    async def _say(self, say: Say, *, listening: bool) -> bool:
        """Play one prompt; True if the caller barged in (the prompt stopped at once)."""
        audio = await self.services.prompts.render(say, self.line.fmt)
        self._barge.clear()
        self._barge_allowed = say.barge_in and listening
        self._feeding = self._barge_allowed  # a prompt that cannot be interrupted is not heard
        if self._barge_allowed and self._pending_input():
            self._barge_allowed = False
            return True
        if self._input_ended_at is not None:
            self.metrics.response_latency.observe(time.monotonic() - self._input_ended_at)
            self._input_ended_at = None
        playing = asyncio.create_task(self.line.play(audio))
        barge = asyncio.create_task(self._barge.wait())
        try:
            await asyncio.wait({playing, barge}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            barge.cancel()
            self._barge_allowed = False
            self._feeding = True
        if playing.done():
            playing.result()
            return False
        playing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await playing
        self._raise_if_gone()
        await self.line.stop()
        by = "dtmf" if any(i.kind == "digit" for i in self._peek()) else "speech"
        self.metrics.barge_ins.labels(by).inc()
        return True

    def _peek(self) -> list[_Input]:
        return list(self._inbox._queue)  # type: ignore[attr-defined]

    def _pending_input(self) -> bool:
        return any(
            i.kind == "digit" or (i.kind == "speech_started" and i.generation == self._generation)
            for i in self._peek()
        )

    async def _listen(self, listen: Listen) -> Event:
        """Wait for speech or keys after the prompts; no-input counts from now."""
        keys = _Keys(listen.dtmf)
        speaking = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + listen.no_input_ms / 1000
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    item = await self._inbox.get()
            except TimeoutError:
                return self._timed_out(keys.digits, listen)
            if item.kind == "ended":
                raise CallerGone(item.text)
            if item.kind == "digit":
                answer = keys.add(item.text)
                if answer is not None:
                    return self._answered(answer)
                if listen.dtmf is not None and keys.digits:
                    deadline = loop.time() + listen.dtmf.inter_digit_timeout_ms / 1000
            elif item.generation != self._generation or keys.digits:
                continue  # a stale stream's result, or speech while typing keys
            elif item.kind == "speech_started" and not speaking:
                speaking = True
                limit = listen.max_utterance_ms or 15000
                deadline = loop.time() + limit / 1000 + 2.0
            elif item.kind == "final":
                if item.text.strip():
                    self._input_ended_at = item.at
                    return Speech(item.text, item.confidence)
                speaking = False
                deadline = loop.time() + listen.no_input_ms / 1000

    def _timed_out(self, digits: str, listen: Listen) -> Event:
        if digits and listen.dtmf is not None and len(digits) >= listen.dtmf.min_digits:
            return self._answered(Digits(digits))
        self.metrics.no_input.inc()
        self._input_ended_at = time.monotonic()
        return NoInput()

    def _answered(self, event: Digits) -> Digits:
        self._input_ended_at = time.monotonic()
        return event

    def _raise_if_gone(self) -> None:
        if self._ended_reason is not None:
            raise CallerGone(self._ended_reason)

    # --- recognizer stream and audio ---

    async def _open_stream(self, listen: Listen | None) -> None:
        await self._close_stream()
        recognizer = self.services.recognizer
        if listen is None or not listen.speech or recognizer is None:
            return
        tenant: tuple[Hotword, ...] = ()
        if self.services.tenant_hotwords is not None:
            try:
                tenant = await self.services.tenant_hotwords(self.info.tenant)
            except Exception:
                log.warning("tenant hot words unavailable; listening without them", exc_info=True)
        hotwords = merge_hotwords(tenant, listen.hints)
        async with self._stream_lock:
            self._generation += 1
            self._stream = recognizer.open_stream(
                self.info.encoding, self.info.sample_rate, hotwords
            )

    async def _close_stream(self) -> None:
        async with self._stream_lock:
            stream, self._stream = self._stream, None
            self._generation += 1
        if stream is not None:
            with contextlib.suppress(Exception):
                await stream.finish()

    async def _pump_audio(self) -> None:
        """Caller audio to the in-band DTMF detector and the open recognizer stream."""
        while True:
            payload = await self._audio.get()
            if self._detector is not None:
                for digit in self._detector.feed(self._pcm(payload)):
                    self.dtmf(digit, source="inband")
            if not self._feeding:
                continue
            async with self._stream_lock:
                if self._stream is None:
                    continue
                try:
                    events = await self._stream.feed(payload)
                except Exception:
                    log.exception("recognizer failed on a frame; call continues without it")
                    self._stream = None
                    continue
                generation = self._generation
            for event in events:
                self._on_recognized(event, generation)

    def _on_recognized(self, event: object, generation: int) -> None:
        kind = type(event).__name__
        if kind == "SpeechStarted":
            self._push(_Input("speech_started", generation=generation))
            if self._barge_allowed:
                self._barge.set()
        elif kind == "Final":
            text = str(getattr(event, "text", ""))
            confidence = float(getattr(event, "confidence", 0.0))
            self._push(_Input("final", text, confidence, generation))

    def _pcm(self, payload: bytes) -> np.ndarray[Any, np.dtype[np.int16]]:
        if self.info.encoding == "pcmu":
            return g711.ulaw_to_pcm(payload)
        if self.info.encoding == "pcma":
            return g711.alaw_to_pcm(payload)
        return np.frombuffer(payload[: len(payload) // 2 * 2], dtype="<i2").astype(np.int16)

    # --- the end ---

    def _record(self, turn: Turn, event: Event | None) -> None:
        entry: dict[str, Any] = {
            "turn": turn.turn,
            "state": turn.state,
            "input": type(event).__name__ if event else None,
        }
        if self.services.record_transcripts and isinstance(event, Speech | Digits):
            entry["heard"] = event.text if isinstance(event, Speech) else event.digits
        self.history.append(entry)

    async def _finish(self) -> Outcome | None:
        """Outcome to the dialog service, the call record to Redis, the line closed."""
        info = self.info
        outcome = None
        try:
            outcome = await self.services.dialogs.finish(
                info.call_id, self.disposition, transfer_target=self.transfer_target
            )
        except Exception:
            log.exception("dialog service could not finish the call")
        record = {
            "call_id": info.call_id,
            "tenant": info.tenant,
            "flow": info.flow,
            "gateway": info.gateway,
            "disposition": self.disposition,
            "transfer_target": self.transfer_target,
            "turns": self.history,
            "dropped_audio_frames": self._dropped,
        }
        try:
            await self.services.redis.set(
                RECORD_PREFIX + info.call_id, json.dumps(record), ex=self.services.record_ttl_s
            )
        except Exception:
            log.exception("could not store the call record")
        self.metrics.ended.labels(info.gateway, self.disposition).inc()
        with contextlib.suppress(Exception):
            await self.line.close(self.disposition)
        return outcome


async def call_record(redis: aioredis.Redis, call_id: str) -> dict[str, Any] | None:
    """The stored end of a call (disposition, transfer target, turn states), if any."""
    raw = await redis.get(RECORD_PREFIX + call_id)
    return None if raw is None else dict(json.loads(raw))
