"""Twilio: the voice webhook's signature and TwiML, and the Media Streams WebSocket messages.

Pure translation only (STYLE rule 14): `parse(raw)` turns one Media Streams message into a call
event, `render(command, stream_sid)` turns a command into one message; the routes and the
transport do the I/O. Message shapes follow Twilio's "Media Streams - WebSocket Messages" docs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from xml.sax.saxutils import escape, quoteattr

from ivr.gateways.wire import (
    DTMF_DIGITS,
    AudioIn,
    CallStart,
    CallStop,
    Command,
    Disconnect,
    DtmfIn,
    Ignored,
    InboundEvent,
    MarkDone,
    PlayAudio,
    PlayMark,
    ProtocolError,
    StopAudio,
)

DIALECT = "twilio"
MAX_MESSAGE_CHARS = 64 * 1024
"""Largest Media Streams message accepted (a 20 ms media message is about 300 characters)."""
MAX_MEDIA_BYTES = 8000
"""Largest decoded audio payload in one `media` message (one second of mu-law)."""
TOKEN_PARAMETER = "ivr_token"  # noqa: S105 (a parameter name, not a secret)
TOKEN_TTL_S = 300


def _bad(problem: str) -> ProtocolError:
    return ProtocolError(DIALECT, problem)


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"`{where}` must be a JSON object")
    return value


def _text(obj: Mapping[str, Any], key: str, where: str, *, limit: int = 256) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or len(value) > limit:
        raise _bad(f"`{where}.{key}` must be a string of at most {limit} characters")
    return value


def parse(raw: str | bytes) -> InboundEvent:
    """One Media Streams message -> one call event; anything malformed is a `ProtocolError`."""
    if isinstance(raw, bytes):
        raise _bad("Media Streams sends JSON text frames, got a binary frame")
    if len(raw) > MAX_MESSAGE_CHARS:
        raise _bad(f"message of {len(raw)} characters is over the {MAX_MESSAGE_CHARS} limit")
    try:
        message = _obj(json.loads(raw), "message")
    except (ValueError, RecursionError) as exc:
        raise _bad(f"message is not JSON: {exc}") from None
    event = message.get("event")
    if event == "media":
        return _parse_media(_obj(message.get("media"), "media"))
    if event == "start":
        return _parse_start(message)
    if event == "dtmf":
        digit = _text(_obj(message.get("dtmf"), "dtmf"), "digit", "dtmf", limit=1)
        if digit not in DTMF_DIGITS:
            raise _bad(f"`dtmf.digit` {digit!r} is not a DTMF key")
        return DtmfIn(digit)
    if event == "mark":
        return MarkDone(_text(_obj(message.get("mark"), "mark"), "name", "mark"))
    if event == "stop":
        return CallStop("hangup")
    if event == "connected":
        return Ignored("connected")
    raise _bad(f"unknown event {event!r} (expected connected, start, media, dtmf, mark, stop)")


def _parse_media(media: dict[str, Any]) -> AudioIn:
    track = media.get("track", "inbound")
    if track != "inbound":
        return AudioIn(b"")  # only the caller's track is recognized
    payload = _text(media, "payload", "media", limit=MAX_MEDIA_BYTES * 2)
    try:
        audio = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _bad("`media.payload` is not base64") from None
    if len(audio) > MAX_MEDIA_BYTES:
        raise _bad(f"`media.payload` of {len(audio)} bytes is over {MAX_MEDIA_BYTES}")
    return AudioIn(audio)


def _parse_start(message: dict[str, Any]) -> CallStart:
    start = _obj(message.get("start"), "start")
    media_format = _obj(start.get("mediaFormat", {}), "start.mediaFormat")
    encoding = media_format.get("encoding", "audio/x-mulaw")
    rate = media_format.get("sampleRate", 8000)
    if encoding != "audio/x-mulaw" or rate != 8000:
        raise _bad(f"unsupported media format {encoding!r} at {rate!r} Hz (audio/x-mulaw 8000)")
    custom = _obj(start.get("customParameters", {}), "start.customParameters")
    if len(custom) > 32 or not all(
        isinstance(k, str) and isinstance(v, str) and len(k) + len(v) < 2048
        for k, v in custom.items()
    ):
        raise _bad("`start.customParameters` must be at most 32 short string values")
    stream_sid = _text(start, "streamSid", "start", limit=64)
    call_sid = _text(start, "callSid", "start", limit=64)
    if not stream_sid or not call_sid:
        raise _bad("`start.streamSid` and `start.callSid` must not be empty")
    return CallStart(
        call_id=call_sid,
        caller=custom.get("caller", ""),
        called=custom.get("called", ""),
        encoding="pcmu",
        sample_rate=8000,
        stream_id=stream_sid,
        params=dict(custom),
    )


def render(command: Command, stream_sid: str) -> str | None:
    """One command -> one Media Streams message (None: the transport closes the socket)."""
    if isinstance(command, PlayAudio):
        payload = base64.b64encode(command.audio).decode("ascii")
        return json.dumps(
            {"event": "media", "streamSid": stream_sid, "media": {"payload": payload}}
        )
    if isinstance(command, PlayMark):
        return json.dumps(
            {"event": "mark", "streamSid": stream_sid, "mark": {"name": command.name}}
        )
    if isinstance(command, StopAudio):
        return json.dumps({"event": "clear", "streamSid": stream_sid})
    if isinstance(command, Disconnect):
        return None
    raise TypeError(f"not a gateway command: {command!r}")


# --- the voice webhook: X-Twilio-Signature and TwiML ---


def signature(token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's documented scheme: HMAC-SHA1 of the URL followed by each POST field's name and
    value in name order, base64-encoded."""
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def url_variants(url: str) -> tuple[str, ...]:
    """The URL as signed, without its port, and with the scheme's default port: Twilio's own
    `RequestValidator` accepts a signature over any of them (proxies add or strip the port)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
    default = 443 if parts.scheme == "https" else 80
    bare = urlunsplit(parts._replace(netloc=host))
    with_port = urlunsplit(parts._replace(netloc=f"{host}:{parts.port or default}"))
    return tuple(dict.fromkeys((url, bare, with_port)))


def signature_valid(token: str, url: str, params: Mapping[str, str], received: str) -> bool:
    return any(
        hmac.compare_digest(signature(token, variant, params), received)
        for variant in url_variants(url)
    )


def twiml_connect(stream_url: str, action_url: str, parameters: Mapping[str, str]) -> str:
    """`<Connect action><Stream url>` with `<Parameter>`s: the stream runs the dialog, then
    Twilio fetches `action_url` for what to do next (dial or hang up)."""
    params = "".join(
        f"<Parameter name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in parameters.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f'<Connect action={quoteattr(action_url)} method="POST">'
        f"<Stream url={quoteattr(stream_url)}>{params}</Stream></Connect></Response>"
    )


def twiml_dial(target: str) -> str:
    inner = f"<Sip>{escape(target)}</Sip>" if target.startswith("sip:") else escape(target)
    return f'<?xml version="1.0" encoding="UTF-8"?><Response><Dial>{inner}</Dial></Response>'


def twiml_hangup() -> str:
    return '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'


def twiml_reject_busy() -> str:
    return '<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="busy"/></Response>'


# --- the stream token: proves a Media Stream was started by our own TwiML ---


@dataclass(frozen=True)
class StreamClaims:
    call_id: str
    tenant: str
    flow: str
    caller: str
    called: str
    expires: float


def make_stream_token(key: str, claims: StreamClaims) -> str:
    body = json.dumps(claims.__dict__, separators=(",", ":"), sort_keys=True).encode()
    payload = base64.urlsafe_b64encode(body).decode("ascii").rstrip("=")
    mac = hmac.new(key.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}.{mac}"


def read_stream_token(token: str) -> StreamClaims:
    """The claims as written, not yet verified (the tenant in them names the key to check)."""
    try:
        payload, _mac = token.split(".", 1)
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return StreamClaims(**{k: body[k] for k in StreamClaims.__dataclass_fields__})
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise _bad(f"the `{TOKEN_PARAMETER}` stream parameter is malformed") from None


def verify_stream_token(
    key: str, token: str, call_id: str, now: float | None = None
) -> StreamClaims:
    claims = read_stream_token(token)
    payload = token.split(".", 1)[0]
    expected = hmac.new(key.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, token.split(".", 1)[1]):
        raise _bad(f"the `{TOKEN_PARAMETER}` stream parameter has a bad signature")
    if claims.call_id != call_id:
        raise _bad("the stream token was issued for another call")
    if claims.expires < (time.time() if now is None else now):
        raise _bad("the stream token expired: Twilio connected the stream too late")
    return claims
