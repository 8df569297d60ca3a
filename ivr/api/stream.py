"""`GET /v1/stream`: a WebSocket per caller, 20 ms audio frames in, recognition events out.

Protocol: first a JSON text message `{"type": "config", "encoding": "l16"|"pcmu"|"pcma",
"sample_rate": 8000, "tenant": ..., "hotwords": [{"phrase": ..., "boost": ...}],
"interim_results": true, "end_silence_ms": ..., "no_input_ms": ..., "max_utterance_ms": ...}`,
then binary audio frames. The server sends `speech_started`, `partial`, `final` and `no_input`
events; a text `{"type": "end"}` flushes the last utterance and closes. Any error is sent as
`{"type": "error", "message": ...}` and closes that socket only.

With `IVR_API_AUTH=required` the upgrade request needs `Authorization: Bearer ivrk_...` (401
before the upgrade), and a config naming a tenant the key may not act on gets an error and close.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Literal

from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ivr.admin.apiauth import api_key, api_scope
from ivr.admin.errors import Forbidden
from ivr.api.hotwords import hotword_from_fields, resolve_hotwords
from ivr.api.results import event_json
from ivr.api.service import RECOGNIZER
from ivr.health import READINESS
from ivr.logs import bind
from ivr.settings import SETTINGS
from recognizer.errors import (
    AudioFormatError,
    HotwordFormatError,
    OverloadedError,
    RecognizerError,
)
from recognizer.phrases import BOOST_MAX, BOOST_MIN
from recognizer.stream import Event, RecognitionStream

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

#: 20 ms of 48 kHz L16 is 1920 bytes; allow generous packets but bound what one socket can send.
MAX_FRAME_BYTES = 64 * 1024
CONFIG_TIMEOUT_S = 10.0


class HotwordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phrase: str = Field(min_length=1, max_length=200)
    boost: float = Field(10.0, ge=BOOST_MIN, le=BOOST_MAX)


class StreamConfig(BaseModel):
    """The first message of a stream."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["config"]
    encoding: str = "l16"
    sample_rate: int = 8000
    tenant: str | None = Field(None, max_length=128)
    hotwords: list[HotwordIn] = Field(default_factory=list, max_length=200)
    interim_results: bool = True
    end_silence_ms: int | None = Field(None, ge=100, le=10_000)
    no_input_ms: int | None = Field(None, ge=500, le=120_000)
    max_utterance_ms: int | None = Field(None, ge=1000, le=28_000)
    call_id: str | None = Field(None, max_length=128)


class ProtocolError(RecognizerError):
    http_status = 400


async def _read_config(ws: web.WebSocketResponse) -> StreamConfig:
    try:
        msg = await ws.receive(timeout=CONFIG_TIMEOUT_S)
    except TimeoutError:
        raise ProtocolError(f"no config message within {CONFIG_TIMEOUT_S:g} s") from None
    if msg.type != WSMsgType.TEXT:
        raise ProtocolError('the first message must be a JSON text {"type": "config", ...}')
    try:
        return StreamConfig.model_validate_json(msg.data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'message'}: {e['msg']}" for e in exc.errors()
        )
        raise ProtocolError(f"invalid config message: {problems}") from None


async def _open(request: web.Request, config: StreamConfig) -> RecognitionStream:
    recognizer = request.app[RECOGNIZER].recognizer
    explicit = [hotword_from_fields(h.phrase, h.boost) for h in config.hotwords]
    hotwords = await resolve_hotwords(request.app, config.tenant, explicit)
    endpointing = recognizer.options.endpointing.override(
        end_silence_ms=config.end_silence_ms,
        no_input_ms=config.no_input_ms,
        max_utterance_ms=config.max_utterance_ms,
    )
    return recognizer.open_stream(
        config.encoding,
        config.sample_rate,
        hotwords,
        endpointing=endpointing,
        interim=config.interim_results,
    )


async def _send(ws: web.WebSocketResponse, events: list[Event]) -> None:
    for event in events:
        await ws.send_str(json.dumps(event_json(event)))


async def _serve(ws: web.WebSocketResponse, stream: RecognitionStream) -> None:
    try:
        await _pump(ws, stream)
    finally:
        stream.close()


async def _pump(ws: web.WebSocketResponse, stream: RecognitionStream) -> None:
    async for msg in ws:
        if msg.type == WSMsgType.BINARY:
            await _send(ws, await stream.feed(msg.data))
        elif msg.type == WSMsgType.TEXT:
            try:
                kind = json.loads(msg.data).get("type")
            except (ValueError, AttributeError):
                kind = None
            if kind != "end":
                raise ProtocolError('text messages after the config must be {"type": "end"}')
            await _send(ws, await stream.finish())
            await ws.close()
            return
        elif msg.type == WSMsgType.ERROR:
            raise ProtocolError(f"socket error: {ws.exception()}")


async def _fail(ws: web.WebSocketResponse, exc: Exception) -> None:
    code = WSCloseCode.INTERNAL_ERROR
    if isinstance(exc, AudioFormatError):
        code = WSCloseCode.UNSUPPORTED_DATA
    elif isinstance(exc, ProtocolError | HotwordFormatError | Forbidden):
        code = WSCloseCode.POLICY_VIOLATION
    if not ws.closed:
        try:
            await ws.send_str(json.dumps({"type": "error", "message": str(exc)}))
            await ws.close(code=code, message=str(exc)[:120].encode())
        except (ConnectionError, RuntimeError):
            pass


@routes.get("/v1/stream")
async def stream_socket(request: web.Request) -> web.StreamResponse:
    app = request.app
    readiness = app[READINESS]
    service = app[RECOGNIZER]
    principal = await api_key(request)  # 401 before the upgrade
    if readiness.draining:
        raise OverloadedError("this replica is shutting down: connect to another one")
    limit = app[SETTINGS].max_streams
    if service.active_streams >= limit:
        raise OverloadedError(f"{limit} streams are open (IVR_MAX_STREAMS): try again later")
    metrics = service.recognizer.metrics  # a 503 naming the model problem before the upgrade
    ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_BYTES, heartbeat=30.0)
    await ws.prepare(request)
    service.active_streams += 1
    metrics.active_streams.inc()
    try:
        async with readiness.activity():
            config = await _read_config(ws)
            await api_scope(request, principal, config.tenant)
            with bind(call_id=config.call_id, tenant=config.tenant):
                stream = await _open(request, config)
                await _serve(ws, stream)
    except (RecognizerError, ValueError, Forbidden) as exc:
        await _fail(ws, exc)
    except (ConnectionError, asyncio.CancelledError):
        raise
    except Exception as exc:
        log.exception("stream failed")
        await _fail(ws, RecognizerError(f"internal error: {exc!r}"))
    finally:
        service.active_streams -= 1
        metrics.active_streams.dec()
    return ws
