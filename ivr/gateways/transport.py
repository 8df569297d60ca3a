"""Between a gateway's socket and a call session: paced prompt playback and the inbound pump.

Shared by the three dialects; each gives a `send` (render + write one frame) and an async
iterator of parsed events, and this module does the timing: prompt audio leaves in 20 ms
chunks at real pace (a little ahead, so the gateway's jitter buffer never runs dry), a mark
follows each prompt where the gateway echoes marks, and a malformed frame ends only its call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from ivr.calls import CallerGone, CallInfo, CallServices, CallSession
from ivr.gateways.wire import (
    AudioIn,
    CallStop,
    Command,
    Disconnect,
    DtmfIn,
    InboundEvent,
    MarkDone,
    PlayAudio,
    PlayMark,
    ProtocolError,
    StopAudio,
)
from ivr.logs import bind
from ivr.prompts import AudioFormat

log = logging.getLogger(__name__)
CHUNK_S = 0.020
AHEAD_S = 0.060
"""How far ahead of real time prompt audio is sent."""
MARK_GRACE_S = 5.0
"""How long past a prompt's end to wait for the gateway's mark before going on anyway."""
RECEIVE_TIMEOUT_S = 20.0
"""A gateway sends audio every 20 ms: this long without a frame is a dead socket."""
SEND_TIMEOUT_S = 10.0
"""Each frame written must leave within this (`asyncio.timeout`, not `wait_for`: no task per
frame at 50 frames a second per call)."""

Send = Callable[[Command], Awaitable[None]]


class PacedLine:
    """A `Line` over one gateway socket."""

    def __init__(
        self, send: Send, fmt: AudioFormat, *, echoes_marks: bool, whole_clips: bool = False
    ) -> None:
        self.fmt = fmt
        self._send = send
        self._echoes_marks = echoes_marks
        self._whole_clips = whole_clips
        self._marks: dict[str, asyncio.Future[None]] = {}
        self._count = 0
        self._closed = False

    async def play(self, audio: bytes) -> None:
        """Send one prompt; return when the gateway has played it (or should have)."""
        if not audio:
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        duration = len(audio) / self.fmt.bytes_per_second
        if self._whole_clips:
            await self._send(PlayAudio(audio, self.fmt.sample_rate))
        else:
            step = max(2, int(self.fmt.bytes_per_second * CHUNK_S) // 2 * 2)
            for index, offset in enumerate(range(0, len(audio), step)):
                delay = started + index * CHUNK_S - AHEAD_S - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._send(PlayAudio(audio[offset : offset + step], self.fmt.sample_rate))
        if not self._echoes_marks:
            await asyncio.sleep(max(0.0, started + duration - loop.time()))
            return
        self._count += 1
        name = f"prompt-{self._count}"
        done: asyncio.Future[None] = loop.create_future()
        self._marks[name] = done
        try:
            await self._send(PlayMark(name))
            remaining = started + duration - loop.time() + MARK_GRACE_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done, remaining)
        finally:
            self._marks.pop(name, None)

    def mark_done(self, name: str) -> None:
        done = self._marks.get(name)
        if done is not None and not done.done():
            done.set_result(None)

    async def stop(self) -> None:
        if not self._closed:
            await self._send(StopAudio())

    async def close(self, reason: str) -> None:
        if not self._closed:
            self._closed = True
            await self._send(Disconnect(reason))


async def drive_call(
    info: CallInfo,
    line: PacedLine,
    events: AsyncIterator[InboundEvent],
    services: CallServices,
) -> CallSession:
    """Run one call to its end: the session talks, this feeds it what the gateway sends."""
    session = CallSession(info, line, services)
    with bind(call_id=info.call_id, tenant=info.tenant):
        log.info("call started", extra={"gateway": info.gateway, "flow": info.flow})
        reader = asyncio.create_task(_read(events, session, line, services, info.gateway))
        try:
            await session.run()
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        log.info("call ended", extra={"disposition": session.disposition})
    return session


async def _read(
    events: AsyncIterator[InboundEvent],
    session: CallSession,
    line: PacedLine,
    services: CallServices,
    gateway: str,
) -> None:
    try:
        async for event in events:
            if isinstance(event, AudioIn):
                if event.payload:
                    session.audio(event.payload)
            elif isinstance(event, DtmfIn):
                session.dtmf(event.digit)
            elif isinstance(event, MarkDone):
                line.mark_done(event.name)
            elif isinstance(event, CallStop):
                session.end("hangup")
                return
        session.end("hangup")
    except ProtocolError as exc:
        services.metrics.protocol_errors.labels(gateway).inc()
        log.warning("malformed frame ends the call: %s", exc)
        session.end("error")
    except (TimeoutError, ConnectionError, OSError, CallerGone, asyncio.IncompleteReadError):
        session.end("hangup")
