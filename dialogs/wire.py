"""The JSON form of turns and events, for the text-channel API and for storage.

`mask_turn` hides sensitive slot values that a prompt reads back (an account number in a
confirmation) before a turn leaves the service in an API answer.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dialogs.actions import (
    Action,
    Digits,
    DtmfSpec,
    Event,
    Hangup,
    Listen,
    NoInput,
    Say,
    Speech,
    Transfer,
    Turn,
)
from recognizer.phrases import Hotword

MASK = "***"


def action_json(action: Action) -> dict[str, Any]:
    return {"type": type(action).__name__.lower(), **dataclasses.asdict(action)}


def turn_json(turn: Turn) -> dict[str, Any]:
    return {
        "turn": turn.turn,
        "state": turn.state,
        "ended": turn.ended,
        "actions": [action_json(a) for a in turn.actions],
    }


def _action(data: dict[str, Any]) -> Action:
    kind = data.pop("type")
    if kind == "say":
        return Say(**data)
    if kind == "listen":
        dtmf = data.pop("dtmf")
        hints = tuple(Hotword(**h) for h in data.pop("hints"))
        return Listen(dtmf=DtmfSpec(**dtmf) if dtmf else None, hints=hints, **data)
    if kind == "transfer":
        return Transfer(**data)
    return Hangup(**data)


def turn_from_json(data: dict[str, Any]) -> Turn:
    actions = tuple(_action(dict(a)) for a in data["actions"])
    return Turn(actions, data["state"], int(data["turn"]), bool(data["ended"]))


def event_key(event: Event) -> str:
    """A stable text form of an event, to recognize a retried duplicate."""
    return repr(event)


def _masked_text(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        spaced = r"\s*".join(re.escape(ch) for ch in secret)
        text = re.sub(spaced, MASK, text)
    return text


def mask_turn(turn: Turn, secrets: list[str]) -> Turn:
    """The turn with sensitive values (3+ characters) replaced in every spoken text."""
    secrets = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)
    if not secrets:
        return turn
    actions = tuple(
        dataclasses.replace(a, text=_masked_text(a.text, secrets)) if isinstance(a, Say) else a
        for a in turn.actions
    )
    return dataclasses.replace(turn, actions=actions)


class EventBody(BaseModel):
    """`POST /v1/dialogs/{call_id}/events`: what the caller did, answering `turn`."""

    model_config = ConfigDict(extra="forbid")

    turn: int = Field(ge=0)
    type: Literal["speech", "digits", "no_input"]
    text: str | None = Field(None, max_length=2000)
    confidence: float = Field(1.0, ge=0, le=1)
    digits: str | None = Field(None, pattern=r"^[0-9*#]{1,64}$")

    def event(self) -> Event:
        if self.type == "speech":
            return Speech(self.text or "", self.confidence)
        if self.type == "digits":
            return Digits(self.digits or "")
        return NoInput()


class StartBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    call_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    tenant: str = Field("default", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    flow: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    caller: str | None = Field(None, max_length=128)
    called: str | None = Field(None, max_length=128)
    locale: str | None = Field(None, max_length=16)


class FinishBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    disposition: Literal[
        "transferred", "completed", "caller_hangup", "error", "max_length", "drained", "rejected"
    ] = "completed"
    transfer_target: str | None = Field(None, max_length=256)
