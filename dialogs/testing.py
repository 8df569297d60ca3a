"""Conversation tests for flows: `<flow>.test.yaml` beside each flow, run by `ivr flows test`.

A script says what the caller does (`say`, `press`, `silence`) and what must follow (state,
prompts, slots, back-end calls, transfer or hang-up). Back ends are a local stub HTTP server
answering from the script's `backends:` table, so a flow is tested without its real services.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dialogs import backends
from dialogs.actions import Digits, Event, Hangup, NoInput, Say, Speech, Transfer, Turn
from dialogs.callstate import CallState
from dialogs.driver import TurnResult, complete
from dialogs.engine import advance, begin
from dialogs.errors import FlowError, FlowInvalid, Problem
from dialogs.loader import LineIndex, LoadedFlow, read_yaml
from dialogs.lookups import HttpRequest, HttpResult
from dialogs.registry import FlowSet
from dialogs.schema import Backend
from dialogs.validate import validate_paths

DEFAULT_NOW = "2026-01-05T15:00:00+00:00"  # a Monday afternoon (UTC): inside office hours


class StubAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: int = Field(200, ge=100, le=599)
    json_body: Any = Field(None, alias="json")
    delay_s: float = Field(0, ge=0, le=30)


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: str | None = None
    say: str | list[str] | None = None
    not_say: str | None = None
    prompt: str | None = None
    slots: dict[str, str] | None = None
    vars: dict[str, str] | None = None
    intent: str | None = None
    rule: str | None = None
    http: list[str] | None = None
    transfer: str | None = None
    hangup: str | None = None
    ended: bool | None = None


class ScriptStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    say: str | None = None
    confidence: float = Field(0.95, ge=0, le=1)
    press: str | None = Field(None, pattern=r"^[0-9*#]{1,64}$")
    silence: bool = False
    expect: Expect | None = None


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    now: dt.datetime = dt.datetime.fromisoformat(DEFAULT_NOW)
    caller: str | None = "+15550001111"
    called: str | None = None
    locale: str | None = None
    steps: list[ScriptStep] = Field(min_length=1)


class Script(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flow: str | None = None
    backends: dict[str, dict[str, StubAnswer]] = Field(default_factory=dict)
    tests: list[Case] = Field(min_length=1)


@dataclass
class CaseResult:
    file: str
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class StubServer:
    """Answers back-end calls from the script's table and records each one."""

    answers: dict[str, dict[str, StubAnswer]]
    calls: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        backend = request.match_info["backend"]
        path = "/" + request.match_info["path"]
        if request.query_string:
            path += "?" + request.query_string
        key = f"{request.method} {path}"
        self.calls.append(key)
        answer = self.answers.get(backend, {}).get(key)
        if answer is None:
            return web.json_response({"error": f"no stub for {key}"}, status=404)
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        return web.json_response(answer.json_body, status=answer.status)


@asynccontextmanager
async def stub_server(stub: StubServer) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{backend}/{path:.*}", stub.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _stubbed(loaded: LoadedFlow, base: str) -> LoadedFlow:
    """The flow with every backend pointed at the stub server (`/<backend>/...`)."""
    stubbed = {
        name: Backend(base_url=f"{base}/{name}", timeout_s=b.timeout_s, headers=b.headers)
        for name, b in loaded.flow.backends.items()
    }
    flow = loaded.flow.model_copy(update={"backends": stubbed})
    return LoadedFlow(loaded.name, loaded.path, loaded.text, flow, loaded.lines, loaded.digest)


def _spoken(turn: Turn) -> str:
    return " ".join(a.text for a in turn.actions if isinstance(a, Say))


def check_expect(expect: Expect, result: TurnResult, calls: list[str]) -> list[str]:
    """What differs between the turn and the expectation, one message per difference."""
    return [
        *_check_speech(expect, result.turn),
        *_check_values(expect, result),
        *_check_actions(expect, result.turn, calls),
    ]


def _check_speech(expect: Expect, turn: Turn) -> list[str]:
    spoken = _spoken(turn)
    out: list[str] = []
    if expect.state is not None and turn.state != expect.state:
        out.append(f"expected state {expect.state!r}, got {turn.state!r}")
    for phrase in [expect.say] if isinstance(expect.say, str) else expect.say or []:
        if phrase.lower() not in spoken.lower():
            out.append(f"expected the prompt to contain {phrase!r}, it said {spoken!r}")
    if expect.not_say is not None and expect.not_say.lower() in spoken.lower():
        out.append(f"expected the prompt not to contain {expect.not_say!r}")
    keys = [a.prompt_key for a in turn.actions if isinstance(a, Say)]
    if expect.prompt is not None and expect.prompt not in keys:
        out.append(f"expected recorded prompt {expect.prompt!r}, got {keys}")
    return out


def _check_values(expect: Expect, result: TurnResult) -> list[str]:
    state = result.state
    out: list[str] = []
    for name, value in (expect.slots or {}).items():
        if state.slots.get(name) != value:
            out.append(f"expected slot {name}={value!r}, got {state.slots.get(name)!r}")
    for name, value in (expect.vars or {}).items():
        if str(state.vars.get(name)) != value:
            out.append(f"expected vars.{name}={value!r}, got {state.vars.get(name)!r}")
    if expect.intent is not None and state.intent != expect.intent:
        out.append(f"expected intent {expect.intent!r}, got {state.intent!r}")
    rules = [h.rule for h in state.history if h.turn == result.turn.turn - 1]
    if expect.rule is not None and expect.rule not in rules:
        out.append(f"expected matching rule {expect.rule!r}, got {rules}")
    return out


def _check_actions(expect: Expect, turn: Turn, calls: list[str]) -> list[str]:
    out: list[str] = []
    if expect.http is not None and calls != expect.http:
        out.append(f"expected back-end calls {expect.http}, got {calls}")
    transfers = [a.target for a in turn.actions if isinstance(a, Transfer)]
    if expect.transfer is not None and expect.transfer not in transfers:
        out.append(f"expected a transfer to {expect.transfer!r}, got {transfers}")
    hangups = [a.reason for a in turn.actions if isinstance(a, Hangup)]
    if expect.hangup is not None and expect.hangup not in hangups:
        out.append(f"expected a hang-up ({expect.hangup}), got {hangups}")
    if expect.ended is not None and turn.ended != expect.ended:
        out.append(f"expected ended={expect.ended}, got {turn.ended}")
    return out


def _event(step: ScriptStep) -> Event | None:
    if step.say is not None:
        return Speech(step.say, step.confidence)
    if step.press is not None:
        return Digits(step.press)
    if step.silence:
        return NoInput()
    return None


async def run_case(
    flows: FlowSet, flow: str, case: Case, stub: StubServer, http: aiohttp.ClientSession,
    where: tuple[str, LineIndex, int],
) -> CaseResult:  # fmt: skip
    file, lines, index = where
    result = CaseResult(file, case.name)

    async def perform(request: HttpRequest) -> HttpResult:
        return await backends.perform(http, request)

    stub.calls.clear()
    begun = begin(
        flows, flow, call_id=f"test-{index}", tenant="test", caller=case.caller,
        called=case.called, now=case.now, locale=case.locale,
    )  # fmt: skip
    turn = await complete(flows, begun, perform)
    state: CallState = turn.state
    for i, step in enumerate(case.steps):
        line = lines.line(("tests", index, "steps", i))
        event = _event(step)
        if event is not None:
            if turn.turn.ended:
                result.failures.append(f"{file}:{line}: the call already ended")
                break
            stub.calls.clear()
            turn = await complete(flows, advance(flows, state, event), perform)
            state = turn.state
        if step.expect is not None:
            for failure in check_expect(step.expect, turn, list(stub.calls)):
                result.failures.append(f"{file}:{line}: {failure}")
    return result


def _load_script(path: Path) -> tuple[Script, LineIndex]:
    text = path.read_text("utf-8")
    data, lines = read_yaml(text, str(path))
    try:
        return Script.model_validate(data), lines
    except ValidationError as exc:
        problems = [
            Problem(str(path), lines.line(tuple(e["loc"])), f"{_dotted(e['loc'])}: {e['msg']}")
            for e in exc.errors()
        ]
        raise FlowInvalid(path, problems) from None


def _dotted(loc: Any) -> str:
    return ".".join(str(p) for p in loc)


def test_files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.glob("*.test.yaml")) + sorted(path.glob("*.test.yml"))
        elif path.name.endswith((".test.yaml", ".test.yml")):
            found.append(path)
        else:
            found += sorted(path.parent.glob(f"{path.stem}.test.y*ml"))
    return found


async def run_script(path: Path) -> list[CaseResult]:
    """Run every conversation in one test script against its flow (and the flows beside it)."""
    script, lines = _load_script(path)
    name = script.flow or path.name.split(".test.")[0]
    valid, problems = validate_paths([path.parent])
    if name not in valid:
        mine = [str(p) for p in problems if Path(p.file).stem == name] or [
            f"{path}:1: no valid flow named {name!r} beside this script"
        ]
        return [CaseResult(str(path), "(flow)", mine)]
    stub = StubServer(script.backends)
    results: list[CaseResult] = []
    async with stub_server(stub) as base, aiohttp.ClientSession() as http:
        flows = FlowSet()
        for loaded in valid.values():
            flows.add(_stubbed(loaded, base))
        for index, case in enumerate(script.tests):
            try:
                results.append(
                    await run_case(flows, name, case, stub, http, (str(path), lines, index))
                )
            except FlowError as exc:
                line = lines.line(("tests", index))
                results.append(CaseResult(str(path), case.name, [f"{path}:{line}: {exc}"]))
    return results
