"""Asterisk: the AudioSocket TCP server and the HTTP routes its dialplan uses.

- TCP `IVR_AUDIOSOCKET_PORT`: `AudioSocket(<uuid>,<host>:<port>)` in the dialplan connects
  here; prompts go back as slin frames at the caller's rate, paced at 20 ms.
- `POST /asterisk/calls/{uuid}` (optional, before `AudioSocket`): form or JSON `called`,
  `caller`, so the number map picks the tenant and flow; otherwise the default flow.
- `GET /asterisk/calls/{uuid}/outcome`: JSON, or one field as plain text with `?field=` (for
  `${CURL(...)}` in the dialplan): `disposition` and `transfer_target`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

from aiohttp import web

from dialogs.context import as_bytes
from dialogs.errors import SealingError
from dialogs.sealing import Sealer
from ivr.calls import CallInfo, call_record
from ivr.flows import DIALOGS
from ivr.gateways import audiosocket
from ivr.gateways.admission import ADMISSION
from ivr.gateways.services import call_services
from ivr.gateways.transport import RECEIVE_TIMEOUT_S, SEND_TIMEOUT_S, PacedLine, drive_call
from ivr.gateways.wire import (
    AudioIn,
    CallRefused,
    CallStart,
    Command,
    Disconnect,
    InboundEvent,
    ProtocolError,
)
from ivr.numbers import NUMBERS
from ivr.prompts import AudioFormat
from ivr.settings import SETTINGS
from ivr.store import STORE

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
REGISTRATION_PREFIX = "ivr:asterisk:"
REGISTRATION_TTL_S = 120


async def _frames(reader: asyncio.StreamReader) -> AsyncIterator[tuple[int, bytes]]:
    while True:
        try:
            async with asyncio.timeout(RECEIVE_TIMEOUT_S):
                header = await reader.readexactly(3)
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise ProtocolError(
                    audiosocket.DIALECT, "the socket closed inside a frame"
                ) from None
            return
        kind, length = audiosocket.parse_header(header)
        async with asyncio.timeout(RECEIVE_TIMEOUT_S):
            payload = await reader.readexactly(length)
        yield kind, payload


async def _events(
    frames: AsyncIterator[tuple[int, bytes]], first: InboundEvent
) -> AsyncIterator[InboundEvent]:
    yield first
    async for kind, payload in frames:
        yield audiosocket.parse(kind, payload)


async def _start(frames: AsyncIterator[tuple[int, bytes]]) -> tuple[CallStart, InboundEvent]:
    """The UUID frame, then the first audio frame, whose type gives the caller's rate."""
    kind, payload = await anext(frames)
    start = audiosocket.parse_uuid(kind, payload)
    async for kind, payload in frames:
        event = audiosocket.parse(kind, payload)
        rate = audiosocket.rate_of(kind)
        if rate is not None or not isinstance(event, AudioIn):
            return replace(start, sample_rate=rate or 8000), event
    raise ProtocolError(audiosocket.DIALECT, "the socket closed before any audio")


class AudioSocketServer:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.connections: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.connections.add(task)
        try:
            await self._call(reader, writer)
        except asyncio.CancelledError:
            pass  # the server is stopping: the session has written its outcome ("drained")
        except (
            ProtocolError,
            TimeoutError,
            asyncio.IncompleteReadError,
            StopAsyncIteration,
        ) as exc:
            log.warning("AudioSocket connection refused: %s", exc or "closed early")
        except (ConnectionError, OSError):
            pass
        finally:
            self.connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()

    async def _call(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = _frames(reader)
        start, first = await _start(frames)
        redis = self.app[STORE].redis
        details = await _registration(self.app, start.call_id)
        route = self.app[NUMBERS].route(str(details.get("called", "")))

        async def send(command: Command) -> None:
            data = audiosocket.render(command)
            if data is not None and not writer.is_closing():
                writer.write(data)
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    await writer.drain()

        info = CallInfo(
            call_id=start.call_id,
            tenant=route.tenant,
            flow=route.flow,
            gateway="audiosocket",
            caller=str(details.get("caller", "")),
            called=str(details.get("called", "")),
            encoding="l16",
            sample_rate=start.sample_rate,
        )
        line = PacedLine(send, AudioFormat("l16", start.sample_rate), echoes_marks=False)
        try:
            services = await call_services(self.app)
            async with self.app[ADMISSION].admit(route.tenant):
                await drive_call(info, line, _events(frames, first), services)
        except CallRefused as exc:
            log.warning("call refused: %s", exc.reason)
            record = {"call_id": start.call_id, "disposition": "rejected", "reason": exc.reason}
            await redis.set("ivr:call:" + start.call_id, json.dumps(record), ex=REGISTRATION_TTL_S)
            await send(Disconnect("rejected"))


async def audiosocket_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.audiosocket_port == 0:
        yield
        return
    handler = AudioSocketServer(app)
    try:
        server = await asyncio.start_server(
            handler.handle, settings.host, settings.audiosocket_port, limit=64 * 1024
        )
    except OSError as exc:
        # HTTP gateways still work; a second process on one host must not die for this port
        log.error(
            "AudioSocket disabled: cannot listen on %s:%s (%s); set IVR_AUDIOSOCKET_PORT to a "
            "free port, or 0 to turn AudioSocket off",
            settings.host,
            settings.audiosocket_port,
            exc.strerror or exc,
        )
        yield
        return
    log.info("AudioSocket listening", extra={"port": settings.audiosocket_port})
    yield
    server.close()
    for task in list(handler.connections):
        task.cancel()
    await asyncio.gather(*handler.connections, return_exceptions=True)
    await server.wait_closed()


def _call_id(request: web.Request) -> str:
    try:
        return str(uuid.UUID(request.match_info["call_id"]))
    except ValueError:
        raise web.HTTPBadRequest(reason="the call id must be the AudioSocket UUID") from None


@routes.post("/asterisk/calls/{call_id}")
async def register(request: web.Request) -> web.Response:
    call_id = _call_id(request)
    if request.content_type == "application/json":
        body = await request.json()
        fields = body if isinstance(body, dict) else {}
    else:
        fields = dict(await request.post())
    details = {k: str(fields.get(k, ""))[:64] for k in ("called", "caller")}
    sealer = _sealer(request.app)
    if sealer is None:
        raise web.HTTPServiceUnavailable(reason="the dialog service is not running")
    key = REGISTRATION_PREFIX + call_id
    # The caller's number is callers' data: sealed like the dialog context (issue #11).
    sealed = sealer.seal(json.dumps(details).encode(), key.encode())
    await request.app[STORE].redis.set(key, sealed, ex=REGISTRATION_TTL_S)
    return web.json_response({"call_id": call_id, **details})


def _sealer(app: web.Application) -> Sealer | None:
    """The dialog service's sealer, so every replica opens what another one wrote."""
    dialogs = app.get(DIALOGS)
    return None if dialogs is None else dialogs.store.sealer


async def _registration(app: web.Application, call_id: str) -> dict[str, str]:
    """What `POST /asterisk/calls/{uuid}` said about this call, or nothing."""
    key = REGISTRATION_PREFIX + call_id
    raw = await app[STORE].redis.get(key)
    sealer = _sealer(app)
    if raw is None or sealer is None:
        return {}
    try:
        found = json.loads(sealer.open(as_bytes(raw), key.encode()))
    except (SealingError, ValueError) as exc:
        log.warning("ignoring the registration of call %s: %s", call_id, exc)
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


@routes.get("/asterisk/calls/{call_id}/outcome")
async def outcome(request: web.Request) -> web.Response:
    call_id = _call_id(request)
    record = await call_record(request.app[STORE].redis, call_id)
    if record is None:
        raise web.HTTPNotFound(reason=f"no ended call {call_id} (still running, or expired)")
    result = {
        "call_id": call_id,
        "disposition": record.get("disposition"),
        "transfer_target": record.get("transfer_target"),
    }
    field = request.query.get("field")
    if field is not None:
        if field not in result:
            raise web.HTTPBadRequest(reason="`field` is disposition or transfer_target")
        return web.Response(text=str(result[field] or ""))
    return web.json_response(result)
