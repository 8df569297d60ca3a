"""What the engine remembers about one call between turns, as stored (sealed) in Redis.

A pydantic model because it crosses an edge: it is serialized to the store after every turn
and read back by whichever replica receives the next event.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Frame(BaseModel):
    """A parent flow waiting for a sub-flow to `return`."""

    flow: str
    return_to: str


class Pending(BaseModel):
    """What was understood and now awaits the caller's yes/no confirmation."""

    kind: Literal["intent", "slot"]
    name: str
    value: str
    target: str


class HistoryEntry(BaseModel):
    """One event of the call and what the engine made of it (the explanation of the turn)."""

    turn: int
    flow: str
    state: str
    event: Literal["start", "speech", "digits", "no_input", "http", "decide"]
    text: str | None = None
    confidence: float | None = None
    digits: str | None = None
    result: str
    rule: str | None = None
    detail: str | None = None
    value: str | None = None
    next_state: str | None = None
    slots: dict[str, str] = Field(default_factory=dict)


class CallState(BaseModel):
    """The dialog context of one call (everything here is caller data: stored sealed)."""

    call_id: str
    tenant: str
    flow: str
    versions: dict[str, str] = Field(default_factory=dict, description="flow name -> digest")
    current_flow: str
    state: str
    locale: str
    turn: int = 0
    phase: Literal["input", "confirm", "http"] = "input"
    pending: Pending | None = None
    no_input: int = 0
    no_match: int = 0
    slots: dict[str, str] = Field(default_factory=dict)
    sensitive: list[str] = Field(default_factory=list, description="slot names to mask")
    vars: dict[str, Any] = Field(default_factory=dict)
    call: dict[str, Any] = Field(default_factory=dict)
    intent: str | None = None
    stack: list[Frame] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)
    ended: bool = False
    end_reason: str | None = None
    transfer_target: str | None = None
    last_turn: dict[str, Any] | None = None
    last_event: str | None = None
