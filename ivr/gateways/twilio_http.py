"""Twilio's routes: the voice webhook, the Media Streams socket and the `<Connect action>`.

1. `POST /twilio/voice` (Twilio's request: form fields `CallSid`, `From`, `To`, ...): the
   signature is checked with the called number's tenant token, a busy service answers
   `<Reject reason="busy">`, otherwise `<Connect action=/twilio/action><Stream
   url=/twilio/stream>` with the call's parameters and a signed stream token.
2. `GET /twilio/stream` (WebSocket): `connected`, `start` (token verified), then the call.
3. `POST /twilio/action`: after the stream closes, `<Dial>` the transfer target or `<Hangup>`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import WSCloseCode, WSMsgType, web

from ivr.calls import CallInfo, call_record
from ivr.gateways import twilio
from ivr.gateways.admission import ADMISSION
from ivr.gateways.services import call_services
from ivr.gateways.transport import RECEIVE_TIMEOUT_S, SEND_TIMEOUT_S, PacedLine, drive_call
from ivr.gateways.wire import CallRefused, CallStart, Command, Ignored, InboundEvent, ProtocolError
from ivr.numbers import NUMBERS
from ivr.prompts import AudioFormat
from ivr.settings import SETTINGS
from ivr.store import STORE

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
TWIML = "application/xml"
HANDSHAKE_TIMEOUT_S = 10.0


def public_base(request: web.Request) -> str:
    """The base URL Twilio calls: `IVR_PUBLIC_URL`, else what the request says it reached."""
    configured = request.app[SETTINGS].public_url
    if configured:
        return configured.rstrip("/")
    return f"{request.scheme}://{request.host}"


async def _signed_form(request: web.Request) -> tuple[dict[str, str], str]:
    """The form fields and the tenant, once `X-Twilio-Signature` checks out (else 403)."""
    form = await request.post()
    params = {k: v for k, v in form.items() if isinstance(v, str)}
    tenant = request.app[NUMBERS].route(params.get("To", "")).tenant
    token = request.app[NUMBERS].twilio_token(tenant)
    if token is None:
        raise web.HTTPForbidden(
            reason=f"no Twilio auth token for tenant {tenant!r}: set IVR_TWILIO_AUTH_TOKEN "
            "or the tenant's `twilio_auth_token` in IVR_NUMBER_MAP_FILE"
        )
    url = public_base(request) + request.path_qs
    received = request.headers.get("X-Twilio-Signature", "")
    if not twilio.signature_valid(token, url, params, received):
        raise web.HTTPForbidden(
            reason=f"X-Twilio-Signature does not match {url} (is IVR_PUBLIC_URL the URL "
            "configured in Twilio?)"
        )
    return params, tenant


@routes.post("/twilio/voice")
async def voice(request: web.Request) -> web.Response:
    params, tenant = await _signed_form(request)
    call_sid = params.get("CallSid", "")
    if not call_sid or len(call_sid) > 64:
        raise web.HTTPBadRequest(reason="the form has no `CallSid` (is this Twilio's webhook?)")
    route = request.app[NUMBERS].route(params.get("To", ""))
    try:
        request.app[ADMISSION].check(tenant)
    except CallRefused as exc:
        log.warning("call refused: %s", exc.reason)
        return web.Response(text=twilio.twiml_reject_busy(), content_type=TWIML)
    key = request.app[NUMBERS].twilio_token(tenant) or ""
    claims = twilio.StreamClaims(
        call_id=call_sid,
        tenant=tenant,
        flow=route.flow,
        caller=params.get("From", "")[:64],
        called=params.get("To", "")[:64],
        expires=time.time() + twilio.TOKEN_TTL_S,
    )
    base = public_base(request)
    stream_url = "ws" + base.removeprefix("http") + "/twilio/stream"
    body = twilio.twiml_connect(
        stream_url,
        base + "/twilio/action",
        {twilio.TOKEN_PARAMETER: twilio.make_stream_token(key, claims)},
    )
    return web.Response(text=body, content_type=TWIML)


@routes.post("/twilio/action")
async def action(request: web.Request) -> web.Response:
    params, _tenant = await _signed_form(request)
    record = await call_record(request.app[STORE].redis, params.get("CallSid", ""))
    if record and record.get("disposition") == "transferred" and record.get("transfer_target"):
        return web.Response(text=twilio.twiml_dial(record["transfer_target"]), content_type=TWIML)
    return web.Response(text=twilio.twiml_hangup(), content_type=TWIML)


async def _events(ws: web.WebSocketResponse) -> AsyncIterator[InboundEvent]:
    while True:
        message = await ws.receive(timeout=RECEIVE_TIMEOUT_S)
        if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            yield twilio.parse(message.data)
        elif message.type == WSMsgType.ERROR:
            raise ProtocolError(twilio.DIALECT, f"WebSocket error: {ws.exception()}")
        else:
            return


async def _handshake(events: AsyncIterator[InboundEvent]) -> CallStart:
    async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
        async for event in events:
            if isinstance(event, CallStart):
                return event
            if not isinstance(event, Ignored):
                raise ProtocolError(twilio.DIALECT, "a `start` message must come before any other")
    raise ProtocolError(twilio.DIALECT, "the socket closed before `start`")


@routes.get("/twilio/stream")
async def stream(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=twilio.MAX_MESSAGE_CHARS, heartbeat=30)
    await ws.prepare(request)
    events = _events(ws)
    try:
        start = await _handshake(events)
        token = start.params.get(twilio.TOKEN_PARAMETER, "")
        claims = twilio.read_stream_token(token)
        key = request.app[NUMBERS].twilio_token(claims.tenant) or ""
        twilio.verify_stream_token(key, token, start.call_id)
    except (ProtocolError, TimeoutError) as exc:
        log.warning("Twilio stream refused: %s", exc)
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"bad stream handshake")
        return ws

    async def send(command: Command) -> None:
        text = twilio.render(command, start.stream_id)
        if text is None:
            await ws.close()
        elif not ws.closed:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await ws.send_str(text)

    info = CallInfo(
        call_id=start.call_id,
        tenant=claims.tenant,
        flow=claims.flow,
        gateway="twilio",
        caller=claims.caller,
        called=claims.called,
        encoding="pcmu",
        sample_rate=8000,
    )
    line = PacedLine(send, AudioFormat("pcmu", 8000), echoes_marks=True)
    try:
        services = await call_services(request.app)
        async with request.app[ADMISSION].admit(claims.tenant):
            await drive_call(info, line, events, services)
    except CallRefused as exc:
        log.warning("call refused: %s", exc.reason)
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=exc.reason[:120].encode())
    await ws.close()
    return ws
