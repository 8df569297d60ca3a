"""The caller's side of each gateway protocol, for the simulator, the tests and the benchmark.

Each `Caller` speaks its gateway's protocol to our server the way the real gateway would:
Twilio (signed webhook, TwiML, Media Streams with marks echoed once "played"), jambonz
(`listen` socket, binary L16, marks or `playAudio`) and Asterisk AudioSocket (TCP frames).
Received prompt audio is "played" on a simulated clock in real time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import numpy as np
import numpy.typing as npt

from ivr.gateways import audiosocket, g711, twilio

Pcm = npt.NDArray[np.int16]
FRAME_S = 0.020


@dataclass
class Heard:
    """One stretch of prompt audio the caller heard (or that was cut by a clear)."""

    started: float
    seconds: float = 0.0
    audio: list[Pcm] = field(default_factory=list)


class Caller:
    """Base: the simulated playback clock and what the caller heard."""

    rate = 8000

    def __init__(self) -> None:
        self.call_id = ""
        self.heard: list[Heard] = []
        self.ended = asyncio.Event()
        self.cleared = 0
        self._play_until = 0.0
        self._last_byte = 0.0
        self._marks: list[tuple[float, str]] = []
        self._split = False
        self._receiver: asyncio.Task[None] | None = None
        self.outcome: dict[str, Any] = {}

    @property
    def playing(self) -> bool:
        return time.monotonic() < self._play_until

    def quiet_for(self) -> float:
        """Seconds since the caller last heard anything (0 while a prompt plays)."""
        return max(0.0, time.monotonic() - max(self._play_until, self._last_byte))

    def last_prompt_start_after(self, moment: float) -> float | None:
        for heard in self.heard:
            if heard.started >= moment:
                return heard.started
        return None

    def _received_audio(self, pcm: Pcm) -> None:
        now = time.monotonic()
        if self._split or not self.heard or now - max(self._play_until, self._last_byte) > 0.25:
            self._split = False
            self.heard.append(Heard(started=now))
        self.heard[-1].audio.append(pcm)
        self.heard[-1].seconds += len(pcm) / self.rate
        self._play_until = max(self._play_until, now) + len(pcm) / self.rate
        self._last_byte = now

    def _received_clear(self) -> None:
        self.cleared += 1
        self._split = True  # what comes next is another prompt
        self._play_until = time.monotonic()

    async def _echo_marks(self) -> None:
        """Send each mark back once the audio before it has played (what the gateway does)."""
        while not self.ended.is_set():
            now = time.monotonic()
            due = [m for m in self._marks if m[0] <= now or m[0] > self._play_until + 1]
            for mark in due:
                self._marks.remove(mark)
                with contextlib.suppress(Exception):
                    await self.send_mark(mark[1])
            soonest = min((m[0] for m in self._marks), default=now + 0.05)
            await asyncio.sleep(min(0.05, max(0.005, soonest - now)))

    def _received_mark(self, name: str) -> None:
        self._marks.append((self._play_until, name))

    async def send_mark(self, name: str) -> None:
        """Echo one mark (only for gateways that echo marks)."""

    async def open(self) -> None:
        raise NotImplementedError

    async def send_audio(self, pcm: Pcm) -> None:
        raise NotImplementedError

    async def send_key(self, digit: str) -> None:
        raise NotImplementedError

    async def hang_up(self) -> None:
        raise NotImplementedError

    async def fetch_outcome(self) -> dict[str, Any]:
        return {}

    async def close(self) -> None:
        if self._receiver is not None:
            self._receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._receiver


class WebSocketCaller(Caller):
    """A caller whose audio goes over a WebSocket (Twilio, jambonz): the session, the socket
    and the task echoing marks, and closing all three."""

    def __init__(self, session: aiohttp.ClientSession | None) -> None:
        super().__init__()
        self._own_session = session is None
        self.session = session or aiohttp.ClientSession()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._echo: asyncio.Task[None] | None = None

    async def close(self) -> None:
        if self._echo is not None:
            self._echo.cancel()
        if self.ws is not None:
            await self.ws.close()
        await super().close()
        if self._own_session:
            await self.session.close()


class TwilioCaller(WebSocketCaller):
    """Twilio: `POST /twilio/voice` signed with the auth token, then the Media Stream."""

    def __init__(
        self,
        base_url: str,
        auth_token: str,
        *,
        caller: str = "+15550001111",
        called: str = "+15552223333",
        public_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        sign: Callable[[str, dict[str, str]], str] | None = None,
    ) -> None:
        super().__init__(session)
        self.base_url = base_url.rstrip("/")
        self.public_url = (public_url or self.base_url).rstrip("/")
        self.token = auth_token
        self.sign = sign or (lambda url, params: twilio.signature(auth_token, url, params))
        self.caller, self.called = caller, called
        self.call_id = "CA" + uuid.uuid4().hex
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self.twiml = ""

    async def _post_signed(self, path: str, params: dict[str, str]) -> tuple[int, str]:
        signature = self.sign(self.public_url + path, params)
        async with self.session.post(
            self.base_url + path, data=params, headers={"X-Twilio-Signature": signature}
        ) as response:
            return response.status, await response.text()

    def _form(self) -> dict[str, str]:
        return {
            "CallSid": self.call_id,
            "AccountSid": "AC" + "0" * 32,
            "From": self.caller,
            "To": self.called,
            "CallStatus": "in-progress",
            "Direction": "inbound",
        }

    async def open(self) -> None:
        status, self.twiml = await self._post_signed("/twilio/voice", self._form())
        if status != 200:
            raise ConnectionError(f"/twilio/voice answered {status}: {self.twiml[:200]}")
        root = ET.fromstring(self.twiml)  # noqa: S314 (our server's TwiML; expat caps entities)
        stream = root.find("Connect/Stream")
        if stream is None:
            raise ConnectionError(f"the webhook did not connect a stream: {self.twiml[:200]}")
        url = stream.get("url", "")
        params = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
        path = urlsplit(url).path
        self.ws = await self.session.ws_connect("ws" + self.base_url.removeprefix("http") + path)
        await self.ws.send_str(json.dumps({"event": "connected", "protocol": "Call"}))
        start = {
            "accountSid": "AC1",
            "streamSid": self.stream_sid,
            "callSid": self.call_id,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": params,
        }
        await self.ws.send_str(
            json.dumps({"event": "start", "streamSid": self.stream_sid, "start": start})
        )
        self._receiver = asyncio.create_task(self._receive())
        self._echo = asyncio.create_task(self._echo_marks())

    async def _receive(self) -> None:
        assert self.ws is not None
        try:
            async for message in self.ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                if data["event"] == "media":
                    self._received_audio(
                        g711.ulaw_to_pcm(base64.b64decode(data["media"]["payload"]))
                    )
                elif data["event"] == "mark":
                    self._received_mark(data["mark"]["name"])
                elif data["event"] == "clear":
                    self._received_clear()
        finally:
            self.ended.set()

    async def send_mark(self, name: str) -> None:
        if self.ws is not None and not self.ws.closed:
            message = {"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}}
            await self.ws.send_str(json.dumps(message))

    async def send_audio(self, pcm: Pcm) -> None:
        if self.ws is not None and not self.ws.closed:
            payload = base64.b64encode(g711.pcm_to_ulaw(pcm)).decode()
            media = {"track": "inbound", "chunk": "1", "timestamp": "0", "payload": payload}
            message = {"event": "media", "streamSid": self.stream_sid, "media": media}
            await self.ws.send_str(json.dumps(message))

    async def send_key(self, digit: str) -> None:
        if self.ws is not None and not self.ws.closed:
            dtmf = {"track": "inbound_track", "digit": digit}
            await self.ws.send_str(
                json.dumps({"event": "dtmf", "streamSid": self.stream_sid, "dtmf": dtmf})
            )

    async def hang_up(self) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.send_str(json.dumps({"event": "stop", "streamSid": self.stream_sid}))
            await self.ws.close()

    async def fetch_outcome(self) -> dict[str, Any]:
        status, body = await self._post_signed("/twilio/action", self._form())
        root = ET.fromstring(body) if status == 200 else None  # noqa: S314
        dial = root.find("Dial") if root is not None else None
        target = None
        if dial is not None:
            sip = dial.find("Sip")
            target = (sip.text if sip is not None else dial.text) or ""
        self.outcome = {"status": status, "twiml": body, "transfer_target": target}
        return self.outcome


class JambonzCaller(WebSocketCaller):
    """jambonz `listen` (or mod_audio_fork with `subprotocol="audio.drachtio.org"`)."""

    def __init__(
        self,
        base_url: str,
        *,
        rate: int = 8000,
        playback: str = "stream",
        subprotocol: str | None = "audio.jambonz.org",
        caller: str = "+15550001111",
        called: str = "+15552223333",
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        super().__init__(session)
        self.base_url = base_url.rstrip("/")
        self.rate = rate
        self.playback = playback
        self.subprotocol = subprotocol
        self.caller, self.called = caller, called
        self.call_id = str(uuid.uuid4())

    async def open(self) -> None:
        url = (
            "ws" + self.base_url.removeprefix("http") + f"/jambonz/listen?playback={self.playback}"
        )
        protocols = (self.subprotocol,) if self.subprotocol else ()
        self.ws = await self.session.ws_connect(url, protocols=protocols)
        meta = {
            "callSid": self.call_id,
            "from": self.caller,
            "to": self.called,
            "sampleRate": self.rate,
            "mixType": "mono",
        }
        await self.ws.send_str(json.dumps(meta))
        self._receiver = asyncio.create_task(self._receive())
        self._echo = asyncio.create_task(self._echo_marks())

    async def _receive(self) -> None:
        assert self.ws is not None
        try:
            async for message in self.ws:
                if message.type == aiohttp.WSMsgType.BINARY:
                    self._received_audio(np.frombuffer(message.data, dtype="<i2").copy())
                elif message.type == aiohttp.WSMsgType.TEXT:
                    self._on_text(json.loads(message.data))
        finally:
            self.ended.set()

    def _on_text(self, data: dict[str, Any]) -> None:
        kind = data.get("type")
        if kind == "playAudio":
            audio = base64.b64decode(data["data"]["audioContent"])
            self._received_audio(np.frombuffer(audio, dtype="<i2").copy())
        elif kind == "mark":
            self._received_mark(data["data"]["name"])
        elif kind == "killAudio":
            self._received_clear()

    async def send_mark(self, name: str) -> None:
        if self.ws is not None and not self.ws.closed:
            mark = {"type": "mark", "data": {"name": name, "event": "playout"}}
            await self.ws.send_str(json.dumps(mark))

    async def send_audio(self, pcm: Pcm) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.send_bytes(pcm.astype("<i2").tobytes())

    async def send_key(self, digit: str) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.send_str(json.dumps({"event": "dtmf", "dtmf": digit, "duration": "250"}))

    async def hang_up(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def fetch_outcome(self) -> dict[str, Any]:
        async with self.session.post(
            self.base_url + "/jambonz/action", json={"call_sid": self.call_id}
        ) as response:
            verbs = await response.json(content_type=None)
        first = verbs[0] if verbs else {}
        target = None
        if first.get("verb") == "dial":
            dest = first["target"][0]
            target = dest.get("number") or dest.get("sipUri")
        self.outcome = {"verbs": verbs, "transfer_target": target}
        return self.outcome


class AudioSocketCaller(Caller):
    """Asterisk's `AudioSocket()` application: the UUID frame, then slin frames."""

    def __init__(
        self, host: str, port: int, http_base_url: str | None = None, *, rate: int = 8000
    ) -> None:
        super().__init__()
        self.host, self.port, self.rate = host, port, rate
        self.http_base_url = http_base_url
        self.call_id = str(uuid.uuid4())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.hung_up_by_server = False
        self.audio_kinds: set[int] = set()

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(audiosocket.frame(audiosocket.KIND_UUID, uuid.UUID(self.call_id).bytes))
        await self.writer.drain()
        self._receiver = asyncio.create_task(self._receive())

    async def _receive(self) -> None:
        assert self.reader is not None
        try:
            while True:
                kind, length = audiosocket.HEADER.unpack(await self.reader.readexactly(3))
                payload = await self.reader.readexactly(length)
                if kind in audiosocket.AUDIO_RATES:
                    self.audio_kinds.add(kind)
                    self._received_audio(np.frombuffer(payload, dtype="<i2").copy())
                elif kind == audiosocket.KIND_HANGUP:
                    self.hung_up_by_server = True
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self.ended.set()

    async def _write(self, data: bytes) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(data)
            await self.writer.drain()

    async def send_audio(self, pcm: Pcm) -> None:
        kind = audiosocket.AUDIO_KINDS[self.rate]
        await self._write(audiosocket.frame(kind, pcm.astype("<i2").tobytes()))

    async def send_key(self, digit: str) -> None:
        await self._write(audiosocket.frame(audiosocket.KIND_DTMF, digit.encode()))

    async def hang_up(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self._write(audiosocket.frame(audiosocket.KIND_HANGUP))

    async def fetch_outcome(self) -> dict[str, Any]:
        if self.http_base_url is None:
            return {}
        url = f"{self.http_base_url.rstrip('/')}/asterisk/calls/{self.call_id}/outcome"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            self.outcome = await response.json(content_type=None)
        return self.outcome

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        await super().close()
