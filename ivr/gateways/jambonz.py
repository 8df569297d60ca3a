"""jambonz `listen` and FreeSWITCH mod_audio_fork: one JSON metadata frame, then binary L16.

Pure translation only (STYLE rule 14). The socket opens with a text frame of call metadata
(jambonz: `callSid`, `from`, `to`, `sampleRate`, `mixType`; mod_audio_fork: whatever metadata
the dialplan passed), then carries binary 16-bit little-endian PCM at the announced rate
(stereo interleaved, the caller on the first channel) and JSON events (`dtmf`, `mark`).
Prompts go back as `playAudio` (base64 L16, both gateways) or, with jambonz bidirectional
streaming, as binary frames followed by `mark`s; `killAudio` is barge-in, `disconnect` ends.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Literal

import numpy as np

from ivr.gateways.wire import (
    DTMF_DIGITS,
    AudioIn,
    CallStart,
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

DIALECT = "jambonz"
SUBPROTOCOLS = ("audio.jambonz.org", "audio.drachtio.org")
MAX_TEXT_CHARS = 16 * 1024
MAX_AUDIO_BYTES = 64 * 1024
SAMPLE_RATES = frozenset({8000, 16000, 24000, 32000, 44100, 48000})
Playback = Literal["playaudio", "stream"]


def _bad(problem: str) -> ProtocolError:
    return ProtocolError(DIALECT, problem)


def _json_object(raw: str) -> dict[str, Any]:
    if len(raw) > MAX_TEXT_CHARS:
        raise _bad(f"text frame of {len(raw)} characters is over the {MAX_TEXT_CHARS} limit")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise _bad(f"text frame is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise _bad("text frame must be a JSON object")
    return value


def _first_text(meta: dict[str, Any], *keys: str) -> str:
    for key in keys:
        value = meta.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            text = str(value)
            if len(text) > 256:
                raise _bad(f"metadata `{key}` is longer than 256 characters")
            return text
    return ""


def parse_metadata(raw: str | bytes) -> CallStart:
    """The first frame: call metadata. Without a call id or with an odd rate, refuse the call."""
    if isinstance(raw, bytes):
        raise _bad("the first frame must be JSON call metadata, got binary audio")
    meta = _json_object(raw)
    call_id = _first_text(meta, "callSid", "call_sid", "uuid", "callId", "call_id")
    if not call_id:
        raise _bad("metadata has no call id (`callSid`, `uuid` or `callId`)")
    rate_text = _first_text(meta, "sampleRate", "sample_rate") or "8000"
    if not rate_text.isdigit() or int(rate_text) not in SAMPLE_RATES:
        raise _bad(f"`sampleRate` {rate_text!r} is not one of {sorted(SAMPLE_RATES)}")
    mix = _first_text(meta, "mixType", "mix_type") or "mono"
    if mix not in ("mono", "mixed", "stereo"):
        raise _bad(f"`mixType` {mix!r} is not mono, mixed or stereo")
    custom = meta.get("customParameters", meta.get("metadata", {}))
    params = (
        {str(k): str(v)[:256] for k, v in list(custom.items())[:32]}
        if isinstance(custom, dict)
        else {}
    )
    return CallStart(
        call_id=call_id,
        caller=_first_text(meta, "from", "caller"),
        called=_first_text(meta, "to", "called"),
        encoding="l16",
        sample_rate=int(rate_text),
        channels=2 if mix == "stereo" else 1,
        stream_id=call_id,
        params=params,
    )


def parse(raw: str | bytes, started: CallStart) -> InboundEvent:
    """A frame after the metadata: binary audio, or a JSON event."""
    if isinstance(raw, bytes):
        return AudioIn(caller_channel(raw, started.channels))
    message = _json_object(raw)
    kind = message.get("event", message.get("type"))
    data = message.get("data")
    data = data if isinstance(data, dict) else {}
    if kind == "dtmf":
        digit = message.get("dtmf", data.get("digit", message.get("digit")))
        if not isinstance(digit, str) or digit not in DTMF_DIGITS:
            raise _bad(f"dtmf event digit {digit!r} is not a DTMF key")
        return DtmfIn(digit)
    if kind == "mark":
        name = data.get("name")
        if not isinstance(name, str) or len(name) > 256:
            raise _bad("mark event needs `data.name`, a string")
        return MarkDone(name)
    if not isinstance(kind, str) or len(kind) > 64:
        raise _bad("JSON event needs an `event` or `type` string")
    return Ignored(kind)  # jambonz adds informational events over time


def caller_channel(frame: bytes, channels: int) -> bytes:
    """Mono L16 of the caller: stereo frames are interleaved, the caller on channel 0."""
    if len(frame) > MAX_AUDIO_BYTES:
        raise _bad(f"audio frame of {len(frame)} bytes is over {MAX_AUDIO_BYTES}")
    if len(frame) % (2 * channels):
        raise _bad(f"audio frame of {len(frame)} bytes is not whole {channels}-channel samples")
    if channels == 1:
        return frame
    samples = np.frombuffer(frame, dtype="<i2").reshape(-1, channels)
    return np.ascontiguousarray(samples[:, 0]).tobytes()


def render(command: Command, playback: Playback) -> str | bytes | None:
    """One command -> one frame (None: nothing to send in this playback mode)."""
    if isinstance(command, PlayAudio):
        if playback == "stream":
            return command.audio
        content = base64.b64encode(command.audio).decode("ascii")
        data = {
            "audioContent": content,
            "audioContentType": "raw",
            "sampleRate": command.sample_rate,
        }
        return json.dumps({"type": "playAudio", "data": data})
    if isinstance(command, PlayMark):
        if playback != "stream":
            return None
        return json.dumps({"type": "mark", "data": {"name": command.name}})
    if isinstance(command, StopAudio):
        return json.dumps({"type": "killAudio"})
    if isinstance(command, Disconnect):
        return json.dumps({"type": "disconnect"})
    raise TypeError(f"not a gateway command: {command!r}")


# --- jambonz verbs for the call webhook and the listen action hook ---


def verbs_listen(url: str, action_hook: str, sample_rate: int, playback: Playback) -> str:
    verb = {
        "verb": "listen",
        "url": url,
        "actionHook": action_hook,
        "mixType": "mono",
        "sampleRate": sample_rate,
        "passDtmf": True,
        "bidirectionalAudio": {
            "enabled": True,
            "streaming": playback == "stream",
            "sampleRate": sample_rate,
        },
    }
    return json.dumps([verb])


def verbs_dial(target: str) -> str:
    kind = (
        {"type": "sip", "sipUri": target}
        if target.startswith("sip:")
        else {
            "type": "phone",
            "number": target,
        }
    )
    return json.dumps([{"verb": "dial", "target": [kind]}])


def verbs_hangup() -> str:
    return json.dumps([{"verb": "hangup"}])


def verbs_busy() -> str:
    return json.dumps([{"verb": "sip:decline", "status": 486, "reason": "Busy Here"}])
