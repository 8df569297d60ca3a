"""What every gateway dialect translates to and from: wire-neutral call events and commands.

A translator (`twilio.py`, `jambonz.py`, `audiosocket.py`) turns the gateway's frames into these
events and these commands into frames; the transport and the call session see only these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Encoding = Literal["l16", "pcmu", "pcma"]


class GatewayError(Exception):
    """Base of the gateway package's errors; `ivr/errors.py` maps `http_status` to JSON."""

    http_status = 400


class ProtocolError(GatewayError):
    """A gateway sent something its protocol does not allow; ends that call only."""

    def __init__(self, dialect: str, problem: str) -> None:
        super().__init__(f"{dialect}: {problem}")
        self.dialect = dialect
        self.problem = problem


class CallRefused(GatewayError):
    """The call may not start (busy, draining, bad token); the gateway gets its busy answer."""

    http_status = 503

    def __init__(self, reason: str, *, busy: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.busy = busy


# --- gateway -> call ---


@dataclass(frozen=True)
class CallStart:
    """The call's identity and the caller audio's format, from the gateway's handshake."""

    call_id: str
    caller: str = ""
    called: str = ""
    encoding: Encoding = "l16"
    sample_rate: int = 8000
    channels: int = 1
    stream_id: str = ""
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AudioIn:
    """Caller audio in the `CallStart`'s encoding and rate (mono, caller's channel)."""

    payload: bytes


@dataclass(frozen=True)
class DtmfIn:
    digit: str


@dataclass(frozen=True)
class MarkDone:
    """The gateway played (or cleared) everything sent before the mark `name`."""

    name: str


@dataclass(frozen=True)
class CallStop:
    reason: str = "hangup"


@dataclass(frozen=True)
class Ignored:
    """A frame the protocol allows that carries nothing for the call (e.g. `connected`)."""

    what: str


InboundEvent = CallStart | AudioIn | DtmfIn | MarkDone | CallStop | Ignored

# --- call -> gateway ---


@dataclass(frozen=True)
class PlayAudio:
    """Prompt audio already in the gateway's output format (one paced chunk or a whole clip)."""

    audio: bytes
    sample_rate: int = 8000


@dataclass(frozen=True)
class PlayMark:
    name: str


@dataclass(frozen=True)
class StopAudio:
    """Barge-in: drop whatever prompt audio the gateway still holds."""


@dataclass(frozen=True)
class Disconnect:
    reason: str = "completed"


Command = PlayAudio | PlayMark | StopAudio | Disconnect

DTMF_DIGITS = frozenset("0123456789*#ABCD")
