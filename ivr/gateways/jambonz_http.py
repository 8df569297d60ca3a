"""jambonz and FreeSWITCH mod_audio_fork routes.

- `POST /jambonz/call`: a jambonz application webhook answering the `listen` verb (or
  `sip:decline 486` when busy), so a jambonz app needs only this URL.
- `GET /jambonz/listen` (WebSocket, subprotocol `audio.jambonz.org`, `audio.drachtio.org` or
  none): metadata, L16 audio, DTMF events. `?playback=stream` sends prompts as binary frames
  with marks (jambonz bidirectional streaming); the default is `playAudio` (both gateways).
  Without the jambonz subprotocol (mod_audio_fork sends no DTMF events), or with `?dtmf=inband`,
  keys are detected in the audio.
- `POST /jambonz/action`: the `listen` verb's action hook: `dial` the transfer target or `hangup`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import WSCloseCode, WSMsgType, web

from ivr.calls import CallInfo, call_record
from ivr.gateways import jambonz
from ivr.gateways.admission import ADMISSION
from ivr.gateways.services import call_services
from ivr.gateways.transport import RECEIVE_TIMEOUT_S, SEND_TIMEOUT_S, PacedLine, drive_call
from ivr.gateways.twilio_http import public_base
from ivr.gateways.wire import (
    CallRefused,
    CallStart,
    Command,
    Disconnect,
    InboundEvent,
    ProtocolError,
)
from ivr.numbers import NUMBERS
from ivr.prompts import AudioFormat
from ivr.store import STORE

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
HANDSHAKE_TIMEOUT_S = 10.0


async def _json_body(request: web.Request) -> dict[str, object]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(reason="the body must be a jambonz JSON webhook payload") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(reason="the body must be a JSON object")
    return body


@routes.post("/jambonz/call")
async def call_hook(request: web.Request) -> web.Response:
    body = await _json_body(request)
    tenant = request.app[NUMBERS].route(str(body.get("to", ""))).tenant
    try:
        request.app[ADMISSION].check(tenant)
    except CallRefused:
        return web.json_response(text=jambonz.verbs_busy())
    base = public_base(request)
    verbs = jambonz.verbs_listen(
        "ws" + base.removeprefix("http") + "/jambonz/listen?playback=stream",
        base + "/jambonz/action",
        8000,
        "stream",
    )
    return web.json_response(text=verbs)


@routes.post("/jambonz/action")
async def action_hook(request: web.Request) -> web.Response:
    body = await _json_body(request)
    call_id = str(body.get("call_sid", body.get("callSid", "")))[:256]
    record = await call_record(request.app[STORE].redis, call_id)
    if record and record.get("disposition") == "transferred" and record.get("transfer_target"):
        return web.json_response(text=jambonz.verbs_dial(record["transfer_target"]))
    return web.json_response(text=jambonz.verbs_hangup())


async def _frames(ws: web.WebSocketResponse) -> AsyncIterator[str | bytes]:
    while True:
        message = await ws.receive(timeout=RECEIVE_TIMEOUT_S)
        if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            yield message.data
        elif message.type == WSMsgType.ERROR:
            raise ProtocolError(jambonz.DIALECT, f"WebSocket error: {ws.exception()}")
        else:
            return


async def _events(
    frames: AsyncIterator[str | bytes], start: CallStart
) -> AsyncIterator[InboundEvent]:
    async for frame in frames:
        yield jambonz.parse(frame, start)


@routes.get("/jambonz/listen")
async def listen(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(
        protocols=jambonz.SUBPROTOCOLS, max_msg_size=jambonz.MAX_AUDIO_BYTES, heartbeat=30
    )
    await ws.prepare(request)
    frames = _frames(ws)
    try:
        async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
            first = await anext(frames)
        start = jambonz.parse_metadata(first)
    except (ProtocolError, TimeoutError, StopAsyncIteration) as exc:
        log.warning("jambonz socket refused: %s", exc or "closed before metadata")
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"bad call metadata")
        return ws
    playback: jambonz.Playback = (
        "stream" if request.query.get("playback") == "stream" else "playaudio"
    )
    inband = ws.ws_protocol != "audio.jambonz.org" or request.query.get("dtmf") == "inband"

    async def send(command: Command) -> None:
        frame = jambonz.render(command, playback)
        if ws.closed or frame is None:
            return
        if isinstance(frame, bytes):
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await ws.send_bytes(frame)
        else:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await ws.send_str(frame)
        if isinstance(command, Disconnect):
            await ws.close()

    route = request.app[NUMBERS].route(start.called)
    info = CallInfo(
        call_id=start.call_id,
        tenant=route.tenant,
        flow=route.flow,
        gateway="jambonz",
        caller=start.caller,
        called=start.called,
        encoding="l16",
        sample_rate=start.sample_rate,
        inband_dtmf=inband,
    )
    line = PacedLine(
        send,
        AudioFormat("l16", start.sample_rate),
        echoes_marks=playback == "stream",
        whole_clips=playback == "playaudio",
    )
    try:
        services = await call_services(request.app)
        async with request.app[ADMISSION].admit(route.tenant):
            await drive_call(info, line, _events(frames, start), services)
    except CallRefused as exc:
        log.warning("call refused: %s", exc.reason)
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=exc.reason[:120].encode())
    await ws.close()
    return ws
