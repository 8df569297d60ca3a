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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

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
from ivr.gateways.admission import CallMetrics
from ivr.gateways.wire import Encoding
from ivr.hearing import Hearing, SpeechRecognizer
from ivr.prompts import AudioFormat, Prompts
from recognizer.phrases import Hotword, merge_hotwords

log = logging.getLogger(__name__)
RECORD_PREFIX = "ivr:call:"


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


class CallerGone(Exception):
    """The caller hung up or the socket dropped."""


@dataclass
class KeyEntry:
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
        self.hearing = Hearing(info.encoding, info.sample_rate, info.inband_dtmf, self.metrics)
        self._ended_reason: str | None = None
        self._input_ended_at: float | None = None
        self._speech_ended_at: float | None = None

    # --- what the gateway calls (never blocks) ---

    def audio(self, payload: bytes) -> None:
        self.hearing.audio(payload)

    def dtmf(self, digit: str) -> None:
        self.hearing.key(digit)

    def end(self, reason: str) -> None:
        """The caller hung up, the socket dropped or a frame was malformed ("error")."""
        if self._ended_reason is None:
            self._ended_reason = reason
            if reason == "error":
                self.disposition = "error"
            elif reason != "drained":
                self.disposition = "caller_hangup"
            self.hearing.ended(reason)

    # --- the call ---

    async def run(self) -> Outcome | None:
        pump = asyncio.create_task(self.hearing.run())
        outcome = None
        longest = asyncio.timeout(self.services.max_call_s)
        try:
            async with longest:
                await self._converse()
        except CallerGone:
            if self._ended_reason is None:
                self.disposition = "caller_hangup"
        except TimeoutError:
            # IVR_MAX_CALL_S, or a gateway socket that stopped taking our frames
            self.disposition = "max_length" if longest.expired() else "caller_hangup"
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
            await self.hearing.close()
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
            with self.metrics.dialog_seconds.time():
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
        with self.metrics.prompt_seconds.time():
            audio = await self.services.prompts.render(say, self.line.fmt)
        hearing = self.hearing
        hearing.barge.clear()
        hearing.barge_allowed = say.barge_in and listening
        hearing.feeding = hearing.barge_allowed
        if hearing.barge_allowed and hearing.pending_input():
            hearing.barge_allowed = False
            return True
        now = time.monotonic()
        if self._input_ended_at is not None:
            self.metrics.response_latency.observe(now - self._input_ended_at)
            self._input_ended_at = None
        if self._speech_ended_at is not None:
            self.metrics.speech_end_latency.observe(now - self._speech_ended_at)
            self._speech_ended_at = None
        playing = asyncio.create_task(self.line.play(audio))
        barge = asyncio.create_task(hearing.barge.wait())
        try:
            await asyncio.wait({playing, barge}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            playing.cancel()  # the call is being cut (drain, max length): stop the prompt too
            raise
        finally:
            barge.cancel()
            hearing.barge_allowed = False
            hearing.feeding = True
        if playing.done():
            playing.result()
            return False
        playing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await playing
        self._raise_if_gone()
        await self.line.stop()
        by = "dtmf" if any(i.kind == "digit" for i in hearing.peek()) else "speech"
        self.metrics.barge_ins.labels(by).inc()
        return True

    async def _listen(self, listen: Listen) -> Event:
        """Wait for speech or keys after the prompts; no-input counts from now."""
        keys = KeyEntry(listen.dtmf)
        speaking = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + listen.no_input_ms / 1000
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    item = await self.hearing.inbox.get()
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
            elif item.generation != self.hearing.generation or keys.digits:
                continue  # a stale stream's result, or speech while typing keys
            elif item.kind == "speech_started" and not speaking:
                speaking = True
                limit = listen.max_utterance_ms or 15000
                deadline = loop.time() + limit / 1000 + 2.0
            elif item.kind == "final":
                if item.text.strip():
                    self._input_ended_at = item.at
                    self._speech_ended_at = item.speech_end
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
        """A recognizer stream for this turn's `Listen` (its hints plus the tenant's hot
        words), open from the first prompt on so the caller can talk over it."""
        recognizer = self.services.recognizer
        if listen is None or not listen.speech or recognizer is None:
            await self.hearing.close()
            return
        tenant: tuple[Hotword, ...] = ()
        if self.services.tenant_hotwords is not None:
            try:
                tenant = await self.services.tenant_hotwords(self.info.tenant)
            except Exception:
                log.warning("tenant hot words unavailable; listening without them", exc_info=True)
        await self.hearing.open(
            recognizer,
            merge_hotwords(tenant, listen.hints),
            end_silence_ms=listen.end_silence_ms,
            max_utterance_ms=listen.max_utterance_ms,
        )

    # --- the end ---

    def _record(self, turn: Turn, event: Event | None) -> None:
        # no caller words here: they stay sealed in the dialog service's history
        entry = {
            "turn": turn.turn,
            "state": turn.state,
            "input": type(event).__name__ if event else None,
        }
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
            "dropped_audio_frames": self.hearing.dropped,
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
