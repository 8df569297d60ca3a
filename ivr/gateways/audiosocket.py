"""Asterisk AudioSocket: TCP frames of a type byte, a 16-bit big-endian length and a payload.

Pure translation only (STYLE rule 14). Frame types per Asterisk's `res_audiosocket`:
0x00 hang-up, 0x01 the call's UUID (16 bytes, always first), 0x03 a DTMF digit (one ASCII
byte), 0x10 signed linear 16-bit little-endian mono at 8 kHz, 0x11-0x18 the same at 12, 16,
24, 32, 44.1, 48, 96 and 192 kHz (Asterisk 20+), 0xff an error (optional one-byte code).
"""

from __future__ import annotations

import struct
import uuid

from ivr.gateways.wire import (
    DTMF_DIGITS,
    AudioIn,
    CallStart,
    CallStop,
    Command,
    Disconnect,
    DtmfIn,
    InboundEvent,
    PlayAudio,
    PlayMark,
    ProtocolError,
    StopAudio,
)

DIALECT = "audiosocket"
HEADER = struct.Struct(">BH")
KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_ERROR = 0xFF
AUDIO_RATES = {
    0x10: 8000,
    0x11: 12000,
    0x12: 16000,
    0x13: 24000,
    0x14: 32000,
    0x15: 44100,
    0x16: 48000,
    0x17: 96000,
    0x18: 192000,
}
AUDIO_KINDS = {rate: kind for kind, rate in AUDIO_RATES.items()}
MAX_AUDIO_PAYLOAD = 16 * 1024
"""Largest audio frame accepted (Asterisk sends 20 ms: 320 bytes at 8 kHz, 7680 at 192 kHz)."""


def _bad(problem: str) -> ProtocolError:
    return ProtocolError(DIALECT, problem)


def parse_header(header: bytes) -> tuple[int, int]:
    """(type, payload length) from the three header bytes."""
    if len(header) != HEADER.size:
        raise _bad(f"a frame header is {HEADER.size} bytes, got {len(header)}")
    kind, length = HEADER.unpack(header)
    if kind in AUDIO_RATES and length > MAX_AUDIO_PAYLOAD:
        raise _bad(f"audio frame of {length} bytes is over {MAX_AUDIO_PAYLOAD}")
    if kind not in AUDIO_RATES and kind not in (KIND_HANGUP, KIND_UUID, KIND_DTMF, KIND_ERROR):
        raise _bad(f"unknown frame type 0x{kind:02x}")
    if kind in (KIND_UUID, KIND_DTMF, KIND_ERROR, KIND_HANGUP) and length > 16:
        raise _bad(f"frame type 0x{kind:02x} with a {length}-byte payload is too long")
    return kind, length


def parse_uuid(kind: int, payload: bytes) -> CallStart:
    """The first frame names the call; the audio rate comes with the first audio frame."""
    if kind != KIND_UUID:
        raise _bad(f"the first frame must be the call UUID (0x01), got 0x{kind:02x}")
    if len(payload) != 16:
        raise _bad(f"the UUID frame carries 16 bytes, got {len(payload)}")
    return CallStart(call_id=str(uuid.UUID(bytes=payload)), encoding="l16", sample_rate=8000)


def parse(kind: int, payload: bytes) -> InboundEvent:
    """One frame after the UUID -> one call event."""
    if kind in AUDIO_RATES:
        if len(payload) % 2:
            raise _bad(f"audio frame of {len(payload)} bytes is not whole 16-bit samples")
        return AudioIn(payload)
    if kind == KIND_DTMF:
        digit = payload.decode("ascii", "replace")
        if digit not in DTMF_DIGITS:
            raise _bad(f"DTMF frame carries {payload!r}, not a DTMF key")
        return DtmfIn(digit)
    if kind == KIND_HANGUP:
        return CallStop("hangup")
    if kind == KIND_ERROR:
        code = payload[0] if payload else 0
        return CallStop(f"asterisk error 0x{code:02x}")
    raise _bad(f"frame type 0x{kind:02x} is not allowed after the UUID")


def rate_of(kind: int) -> int | None:
    return AUDIO_RATES.get(kind)


def frame(kind: int, payload: bytes = b"") -> bytes:
    if len(payload) > 0xFFFF:
        raise ValueError(f"an AudioSocket payload is at most 65535 bytes, got {len(payload)}")
    return HEADER.pack(kind, len(payload)) + payload


def render(command: Command) -> bytes | None:
    """One command -> one frame (None: AudioSocket has no such frame; marks and barge-in are
    handled by the transport, which simply stops writing audio)."""
    if isinstance(command, PlayAudio):
        kind = AUDIO_KINDS.get(command.sample_rate)
        if kind is None:
            raise ValueError(f"AudioSocket has no frame type for {command.sample_rate} Hz")
        return frame(kind, command.audio)
    if isinstance(command, Disconnect):
        return frame(KIND_HANGUP)
    if isinstance(command, PlayMark | StopAudio):
        return None
    raise TypeError(f"not a gateway command: {command!r}")
