"""The engine on small flows: sub-flows, back-end branches, loops, pinned versions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dialogs import engine
from dialogs.actions import Digits, Hangup, Listen, NoInput, Say, Speech, Transfer
from dialogs.engine import CallEnded, Step, advance, begin
from dialogs.errors import FlowRuntimeError
from dialogs.loader import LoadedFlow, flow_digest, parse_flow
from dialogs.lookups import HttpResult
from dialogs.registry import FlowSet

NOW = dt.datetime(2026, 1, 5, 15, tzinfo=dt.UTC)
MAIN = """\
version: 1
start: ask
slots:
  pin: {type: digits, length: 4, sensitive: true}
backends:
  api: {base_url: "http://api.test/v1", timeout_s: 1}
states:
  ask:
    type: collect
    slot: pin
    say: "Your PIN?"
    hints: [{phrase: pin, boost: 5}]
    next: check
  check:
    type: http
    backend: api
    method: POST
    path: "/pins/check"
    json: {pin: "{{ slots.pin }}"}
    save: {name: customer.name}
    on_success: hello
    on_error: sorry
    on_timeout: slow
  hello:
    type: subflow
    flow: survey
    next: bye
  bye:
    type: hangup
    say: "Bye {{ vars.name }}."
  sorry:
    type: transfer
    target: "+15550001000"
  slow:
    type: hangup
    say: "Too slow."
    reason: backend_timeout
"""
SURVEY = """\
version: 1
start: rate
slots:
  score: {type: number, min: 1, max: 5}
states:
  rate:
    type: collect
    slot: score
    say: "Rate us from 1 to 5."
    next: done
  done:
    type: return
    say: "Thanks for the {{ slots.score }}."
"""


def flowset(**texts: str) -> FlowSet:
    found = FlowSet()
    for name, text in texts.items():
        flow, lines = parse_flow(text, f"{name}.yaml")
        found.add(LoadedFlow(name, Path(f"{name}.yaml"), text, flow, lines, flow_digest(text)))
    return found


def says(step: Step) -> list[str]:
    return [a.text for a in step.actions if isinstance(a, Say)]


def start(flows: FlowSet) -> Step:
    return begin(flows, "main", call_id="c", tenant="t", caller=None, called=None, now=NOW)


def test_collect_listens_with_hints_and_keypad() -> None:
    step = start(flowset(main=MAIN, survey=SURVEY))
    listen = step.actions[-1]
    assert isinstance(listen, Listen) and listen.dtmf is not None
    assert (listen.dtmf.min_digits, listen.dtmf.max_digits) == (4, 4)
    assert [h.phrase for h in listen.hints] == ["pin"]


def test_backend_request_then_subflow_and_return() -> None:
    flows = flowset(main=MAIN, survey=SURVEY)
    step = advance(flows, start(flows).state, Digits("1234"))
    assert step.request is not None
    assert (step.request.method, step.request.url) == ("POST", "http://api.test/v1/pins/check")
    assert step.request.json == {"pin": "1234"} and step.request.timeout_s == 1
    step = advance(flows, step.state, HttpResult(200, {"customer": {"name": "Ada"}}))
    assert says(step) == ["Rate us from 1 to 5."] and step.state.current_flow == "survey"
    step = advance(flows, step.state, Speech("four", 0.9))
    assert says(step) == ["Thanks for the 4.", "Bye Ada."]
    assert step.actions[-1] == Hangup("completed") and step.state.ended
    with pytest.raises(CallEnded):
        advance(flows, step.state, NoInput())


@pytest.mark.parametrize(
    ("result", "last"),
    [
        (HttpResult(None, None, "timeout"), Hangup("backend_timeout")),
        (HttpResult(500, None), Transfer("+15550001000")),
        (HttpResult(200, {"other": 1}), Transfer("+15550001000")),  # saved field missing
    ],
)
def test_backend_failures_branch(result: HttpResult, last: object) -> None:
    flows = flowset(main=MAIN, survey=SURVEY)
    step = advance(flows, start(flows).state, Digits("1234"))
    step = advance(flows, step.state, result)
    assert step.actions[-1] == last


def test_history_explains_each_turn() -> None:
    flows = flowset(main=MAIN, survey=SURVEY)
    state = start(flows).state
    state = advance(flows, state, Speech("one two", 0.8)).state
    entry = state.history[-1]
    assert (entry.result, entry.text, entry.confidence) == ("no_match", "one two", 0.8)
    state = advance(flows, state, Speech("four two oh seven", 0.8)).state
    entry = state.history[-1]
    assert (entry.result, entry.rule, entry.value) == ("matched", "spoken_digits", "4207")
    assert state.sensitive == ["pin"]


def test_a_loop_without_listening_is_stopped() -> None:
    loop = """\
version: 1
start: a
states:
  a: {type: message, say: "a", next: b}
  b: {type: decide, cases: [{when: "true", goto: a}], otherwise: c}
  c: {type: hangup}
"""
    with pytest.raises(FlowRuntimeError, match="without listening"):
        begin(flowset(main=loop), "main", call_id="c", tenant="t", caller=None, called=None,
              now=NOW)  # fmt: skip


def test_pinned_version_survives_a_new_one() -> None:
    flows = flowset(main=MAIN, survey=SURVEY)
    state = start(flows).state
    flows.add(flowset(main=MAIN.replace("Your PIN?", "PIN please?")).current["main"])
    step = advance(flows, state, NoInput())
    assert says(step) == ["Your PIN?"]  # the version the call started on
    assert says(start(flows)) == ["PIN please?"]


def test_state_overrides_listening_defaults() -> None:
    text = MAIN.replace("    hints: [{phrase: pin, boost: 5}]\n",
                        "    hints: [{phrase: pin, boost: 5}]\n    end_silence_ms: 1500\n"
                        "    no_input_ms: 9000\n")  # fmt: skip
    text = text.replace(
        "slots:\n", "defaults: {max_utterance_ms: 4000, no_input_ms: 2000}\nslots:\n"
    )
    listen = start(flowset(main=text, survey=SURVEY)).actions[-1]
    assert isinstance(listen, Listen)
    assert (listen.end_silence_ms, listen.max_utterance_ms, listen.no_input_ms) == (
        1500,
        4000,
        9000,
    )


def test_history_is_bounded_on_an_endless_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "MAX_HISTORY", 30)
    endless = """\
version: 1
start: menu
states:
  menu:
    type: menu
    say: "Say yes."
    intents: {done: {keywords: ["yes"], goto: bye}}
    no_input: {max_attempts: 1, goto: again}
  again: {type: message, say: "Again.", next: menu}
  bye: {type: hangup}
"""
    flows = flowset(main=endless)
    state = start(flows).state
    for _ in range(80):
        state = advance(flows, state, NoInput()).state
    assert len(state.history) == 30
    assert state.history[-1].event == "no_input" and state.history[0].event != "start"
