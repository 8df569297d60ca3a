"""`ivr flows chat`: talk to a flow in the terminal, typing what the caller says or presses.

Plain text is speech; `/press 1234` presses keys (`/p 1234`); an empty line or `/silence` is
no input; `/state` shows the context; `/quit` ends. Back-end calls go to the real back ends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import aiohttp

from dialogs import backends
from dialogs.actions import Digits, Event, Hangup, Listen, NoInput, Say, Speech, Transfer, Turn
from dialogs.driver import complete
from dialogs.engine import advance, begin
from dialogs.errors import FlowError, FlowInvalid
from dialogs.lookups import HttpRequest, HttpResult
from dialogs.registry import FlowSet
from dialogs.validate import validate_paths

Read = Callable[[str], str]
Write = Callable[[str], None]


def describe(turn: Turn) -> list[str]:
    out = []
    for action in turn.actions:
        if isinstance(action, Say):
            key = f" [{action.prompt_key}]" if action.prompt_key else ""
            out.append(f"IVR{key}: {action.text}")
        elif isinstance(action, Listen):
            keys = f", keys up to {action.dtmf.max_digits}" if action.dtmf else ""
            out.append(f"  (listening{keys}; state {turn.state})")
        elif isinstance(action, Transfer):
            out.append(f"  (transfer to {action.target})")
        elif isinstance(action, Hangup):
            out.append(f"  (hang up: {action.reason})")
    return out


def parse_line(line: str) -> Event | str:
    """An event, or a command name (`quit`, `state`)."""
    text = line.strip()
    if not text or text == "/silence":
        return NoInput()
    if text.startswith(("/press ", "/p ")):
        return Digits(text.split(None, 1)[1].replace(" ", ""))
    commands = {"/quit": "quit", "/q": "quit", "/state": "state"}
    if text in commands:
        return commands[text]
    return Speech(text, 1.0)


async def chat(path: Path, read: Read, write: Write, now: dt.datetime | None = None) -> int:
    valid, problems = validate_paths([path.parent])
    if path.stem not in valid:
        raise FlowInvalid(path, [p for p in problems if Path(p.file).stem == path.stem])
    flows = FlowSet()
    for loaded in valid.values():
        flows.add(loaded)
    async with aiohttp.ClientSession() as http:

        async def perform(request: HttpRequest) -> HttpResult:
            write(f"  (HTTP {request.method} {request.url})")
            return await backends.perform(http, request)

        step = begin(flows, path.stem, call_id="chat", tenant="chat", caller="terminal",
                     called=None, now=now or dt.datetime.now(dt.UTC))  # fmt: skip
        result = await complete(flows, step, perform)
        for line in describe(result.turn):
            write(line)
        while not result.turn.ended:
            try:
                event = parse_line(await asyncio.to_thread(read, "caller> "))
            except EOFError:
                return 0
            if event == "quit":
                return 0
            if event == "state":
                write(result.state.model_dump_json(indent=2, exclude={"history", "last_turn"}))
                continue
            assert not isinstance(event, str)
            try:
                result = await complete(flows, advance(flows, result.state, event), perform)
            except FlowError as exc:
                write(f"error: {exc}")
                return 1
            for line in describe(result.turn):
                write(line)
    return 0
