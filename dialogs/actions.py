"""What the dialog engine tells a call to do, and what a call tells the engine happened.

These frozen dataclasses are the whole contract between `dialogs/` and the call session in
`ivr/`: the session knows nothing of flow files, the engine nothing of gateways.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from recognizer.phrases import Hotword

# --- actions (engine -> call) ---


@dataclass(frozen=True)
class Say:
    """Play a recorded prompt (`prompt_key`) or speak `text` with TTS, in `locale`."""

    text: str
    prompt_key: str | None = None
    locale: str = "en-US"
    barge_in: bool = True


@dataclass(frozen=True)
class DtmfSpec:
    max_digits: int = 1
    min_digits: int = 1
    finish_key: str | None = "#"
    inter_digit_timeout_ms: int = 3000


@dataclass(frozen=True)
class Listen:
    """Wait for the caller: speech (with these hints) and/or keys, until no-input."""

    speech: bool = True
    dtmf: DtmfSpec | None = None
    hints: tuple[Hotword, ...] = ()
    no_input_ms: int = 5000
    end_silence_ms: int | None = None
    max_utterance_ms: int | None = None


@dataclass(frozen=True)
class Transfer:
    """Hand the call to `target` (a phone number in E.164 or a SIP URI)."""

    target: str


@dataclass(frozen=True)
class Hangup:
    reason: str = "completed"


Action = Say | Listen | Transfer | Hangup

# --- events (call -> engine) ---


@dataclass(frozen=True)
class Speech:
    text: str
    confidence: float


@dataclass(frozen=True)
class Digits:
    digits: str


@dataclass(frozen=True)
class NoInput:
    pass


Event = Speech | Digits | NoInput

Disposition = Literal[
    "transferred", "completed", "caller_hangup", "error", "max_length", "drained", "rejected"
]


@dataclass(frozen=True)
class Turn:
    """The engine's answer to one event: actions to run in order, and where the call now is."""

    actions: tuple[Action, ...]
    state: str
    turn: int
    ended: bool = False


@dataclass(frozen=True)
class Outcome:
    """How a call ended; stored (encrypted) with the turn history for `retention_days`."""

    call_id: str
    tenant: str
    flow: str
    disposition: Disposition
    transfer_target: str | None = None
    final_state: str | None = None
    slots: dict[str, str] = field(default_factory=dict)
    turns: int = 0
