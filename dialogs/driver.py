"""Runs one turn: the engine's steps, the back-end calls between them, the turn number.

Shared by the service, the flow tester and the terminal chat, so all three take a call through
exactly the same steps. `perform` does the HTTP; it is the only thing that differs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from dialogs.actions import Action, Turn
from dialogs.callstate import CallState
from dialogs.engine import MAX_HOPS, Flows, Step, advance
from dialogs.lookups import HttpRequest, HttpResult

Perform = Callable[[HttpRequest], Awaitable[HttpResult]]


@dataclass(frozen=True)
class TurnResult:
    turn: Turn
    state: CallState
    requests: tuple[HttpRequest, ...]


async def complete(flows: Flows, step: Step, perform: Perform) -> TurnResult:
    """Perform the back-end calls a step asks for until the call waits for the caller."""
    actions: list[Action] = list(step.actions)
    requests: list[HttpRequest] = []
    for _ in range(MAX_HOPS):
        if step.request is None:
            break
        requests.append(step.request)
        result = await perform(step.request)
        step = advance(flows, step.state, result)
        actions.extend(step.actions)
    state = step.state
    state.turn += 1
    turn = Turn(tuple(actions), state.state, state.turn, state.ended)
    return TurnResult(turn, state, tuple(requests))
