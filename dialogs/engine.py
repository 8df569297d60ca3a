"""The dialog engine: (flows, call state, event) -> (actions, new call state). Pure.

No I/O happens here. A state that calls a back end ends the step with an `HttpRequest`; the
caller of the engine (the service, the flow tester, the chat) performs it and feeds the
`HttpResult` back in. The same inputs always give the same outputs, so a conversation test
run on a laptop and a call on any replica take the same path.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from dialogs import templates
from dialogs.actions import Action, Digits, Event, Hangup, NoInput, Say, Speech, Transfer
from dialogs.callstate import CallState, Frame, HistoryEntry, Pending
from dialogs.errors import FlowError, FlowRuntimeError
from dialogs.listening import confirm_listen, escalation, listen_for, prompts_of
from dialogs.loader import LoadedFlow
from dialogs.lookups import HttpRequest, HttpResult, build_request, read_answer
from dialogs.matching import (
    Match,
    match_dtmf_intent,
    match_intent,
    parse_slot,
    parse_slot_dtmf,
    yes_no,
)
from dialogs.schema import (
    CollectState,
    DecideState,
    HangupState,
    HttpState,
    MenuState,
    MessageState,
    Prompts,
    ReturnState,
    SubflowState,
    TransferState,
)

MAX_HOPS = 64
"""Automatic transitions allowed in one step; more means a loop with no listening state."""
MAX_HISTORY = 1000
"""Turn-history entries kept per call (the newest); bounds a call's stored context."""


class Flows(Protocol):
    """Where the engine gets a flow: by name, at the pinned version when one is given."""

    def resolve(self, name: str, digest: str | None) -> LoadedFlow: ...


@dataclass(frozen=True)
class Step:
    actions: tuple[Action, ...]
    state: CallState
    request: HttpRequest | None = None


class CallEnded(FlowError):
    http_status = 409


def begin(
    flows: Flows,
    flow_name: str,
    *,
    call_id: str,
    tenant: str,
    caller: str | None,
    called: str | None,
    now: dt.datetime,
    locale: str | None = None,
) -> Step:
    """A new call: fresh context at the flow's start state, run until it waits."""
    loaded = flows.resolve(flow_name, None)
    flow = loaded.flow
    local = now.astimezone(_zone(flow.timezone))
    chosen = locale if locale in flow.locales else flow.locales[0]
    state = CallState(
        call_id=call_id,
        tenant=tenant,
        flow=flow_name,
        versions={flow_name: loaded.digest},
        current_flow=flow_name,
        state=flow.start,
        locale=chosen,
        vars=dict(flow.variables),
        sensitive=[name for name, slot in flow.slots.items() if slot.sensitive],
        call={
            "call_id": call_id,
            "tenant": tenant,
            "caller": caller or "",
            "called": called or "",
            "locale": chosen,
            "hour": local.hour,
            "minute": local.minute,
            "weekday": local.strftime("%a").lower(),
            "date": local.date().isoformat(),
        },
    )
    run = _Run(flows, state)
    run.record("start", "started", next_state=flow.start)
    return run.enter(flow.start)


def advance(flows: Flows, state: CallState, event: Event | HttpResult) -> Step:
    """Apply one event to a copy of the call state."""
    if state.ended:
        raise CallEnded(f"call {state.call_id} has ended; it takes no more events")
    run = _Run(flows, state.model_copy(deep=True))
    if isinstance(event, HttpResult):
        return run.http_result(event)
    if run.st.phase == "http":
        raise FlowRuntimeError(f"call {state.call_id} waits for a back-end answer, not input")
    return run.caller_event(event)


def _zone(name: str) -> dt.tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


class _Run:
    """One step's work on a private copy of the call state."""

    def __init__(self, flows: Flows, st: CallState) -> None:
        self.flows = flows
        self.st = st
        self.actions: list[Action] = []

    # --- context ---

    @property
    def loaded(self) -> LoadedFlow:
        name = self.st.current_flow
        loaded = self.flows.resolve(name, self.st.versions.get(name))
        self.st.versions.setdefault(name, loaded.digest)
        return loaded

    def namespace(self) -> dict[str, Any]:
        return {
            "slots": dict(self.st.slots),
            "vars": dict(self.st.vars),
            "call": dict(self.st.call),
            "intent": self.st.intent,
            "attempt": max(self.st.no_input, self.st.no_match) + 1,
        }

    def record(self, event: str, result: str, **fields: Any) -> None:
        self.st.history.append(
            HistoryEntry(
                turn=self.st.turn,
                flow=self.st.current_flow,
                state=self.st.state,
                event=event,
                result=result,
                slots=dict(self.st.slots),
                **fields,
            )
        )
        if len(self.st.history) > MAX_HISTORY:
            # A call's context stays bounded however long the caller keeps going round.
            del self.st.history[: len(self.st.history) - MAX_HISTORY]

    def say(self, prompts: Prompts | None, barge_in: bool | None = None) -> None:
        flow = self.loaded.flow
        allow = flow.defaults.barge_in if barge_in is None else barge_in
        for text, key in prompts_of(flow, prompts, self.st.locale):
            rendered = templates.render(text, self.namespace())
            self.actions.append(Say(rendered, key, self.st.locale, allow))

    def done(self, request: HttpRequest | None = None) -> Step:
        return Step(tuple(self.actions), self.st, request)

    # --- entering states ---

    def enter(self, name: str) -> Step:
        for _ in range(MAX_HOPS):
            self.st.state = name
            self.st.no_input = self.st.no_match = 0
            self.st.phase, self.st.pending = "input", None
            node = self.loaded.flow.states.get(name)
            if node is None:
                raise FlowRuntimeError(f"flow {self.st.current_flow} has no state {name!r}")
            if isinstance(node, (MenuState, CollectState)):
                self.say(node.say, node.barge_in)
                self.actions.append(listen_for(self.loaded.flow, node))
                return self.done()
            if isinstance(node, HttpState):
                return self.start_http(node)
            if isinstance(node, (TransferState, HangupState)):
                return self.finish(node)
            following = self.pass_through(node)
            if following is None:
                return self.done()
            name = following
        raise FlowRuntimeError(
            f"flow {self.st.current_flow} went through {MAX_HOPS} states without listening "
            f"(a loop near {name!r}); add a menu or collect state to the loop"
        )

    def pass_through(
        self, node: MessageState | DecideState | SubflowState | ReturnState
    ) -> str | None:
        """States that move on at once; the name of the next one (None: the call ended)."""
        if isinstance(node, MessageState):
            self.say(node.say, node.barge_in)
            return node.next
        if isinstance(node, DecideState):
            ns = self.namespace()
            for case in node.cases:
                if templates.evaluate(case.when, ns):
                    self.record("decide", "condition", rule="when", detail=case.when,
                                next_state=case.goto)  # fmt: skip
                    return case.goto
            self.record("decide", "otherwise", rule="otherwise", next_state=node.otherwise)
            return node.otherwise
        if isinstance(node, SubflowState):
            self.st.stack.append(Frame(flow=self.st.current_flow, return_to=node.next))
            self.st.current_flow = node.flow
            sub = self.loaded.flow
            for key, value in sub.variables.items():
                self.st.vars.setdefault(key, value)
            self.st.sensitive = sorted(
                {*self.st.sensitive, *(n for n, s in sub.slots.items() if s.sensitive)}
            )
            return sub.start
        self.say(node.say)
        if not self.st.stack:
            self.actions.append(Hangup("completed"))
            self.st.ended, self.st.end_reason = True, "completed"
            return None
        frame = self.st.stack.pop()
        self.st.current_flow = frame.flow
        return frame.return_to

    def finish(self, node: TransferState | HangupState) -> Step:
        self.say(node.say)
        if isinstance(node, TransferState):
            self.actions.append(Transfer(node.target))
            self.st.transfer_target, self.st.end_reason = node.target, "transferred"
        else:
            self.actions.append(Hangup(node.reason))
            self.st.end_reason = node.reason
        self.st.ended = True
        return self.done()

    # --- back-end calls ---

    def start_http(self, node: HttpState) -> Step:
        self.say(node.say)
        backend = self.loaded.flow.backends[node.backend]
        self.st.phase = "http"
        return self.done(build_request(node, backend, self.namespace()))

    def http_result(self, result: HttpResult) -> Step:
        node = self.loaded.flow.states[self.st.state]
        if not isinstance(node, HttpState) or self.st.phase != "http":
            raise FlowRuntimeError(f"call {self.st.call_id} is not waiting for a back end")
        answer = read_answer(node, result)
        self.st.vars.update(answer.saved)
        status = str(result.status) if result.status is not None else None
        self.record("http", answer.outcome, rule=node.backend, detail=status,
                    next_state=answer.target)  # fmt: skip
        return self.enter(answer.target)

    # --- caller input ---

    def caller_event(self, event: Event) -> Step:
        node = self.loaded.flow.states[self.st.state]
        if not isinstance(node, (MenuState, CollectState)):
            raise FlowRuntimeError(f"state {self.st.state!r} does not listen")
        if isinstance(event, NoInput):
            return self.no_input(node)
        match = self.understand(node, event)
        text = event.text if isinstance(event, Speech) else None
        fields: dict[str, Any] = {
            "text": text,
            "confidence": event.confidence if isinstance(event, Speech) else None,
            "digits": event.digits if isinstance(event, Digits) else None,
        }
        kind = "speech" if isinstance(event, Speech) else "digits"
        if match is None:
            self.record(kind, "no_match", **fields)
            return self.no_match(node)
        if self.st.phase == "confirm":
            return self.confirmed(node, match, kind, fields)
        target, pending = self.accept(node, match)
        self.record(kind, "matched", rule=match.rule, detail=match.detail, value=match.value,
                    next_state=None if pending else target, **fields)  # fmt: skip
        if pending is not None and node.confirm is not None:
            self.st.phase, self.st.pending = "confirm", pending
            self.st.no_input = self.st.no_match = 0
            self.say(node.confirm.say, node.barge_in)
            self.actions.append(confirm_listen(self.loaded.flow, node))
            return self.done()
        return self.enter(target)

    def understand(self, node: MenuState | CollectState, event: Speech | Digits) -> Match | None:
        flow = self.loaded.flow
        if isinstance(event, Speech):
            threshold = node.min_confidence
            if threshold is None:
                threshold = flow.defaults.min_confidence
            if event.confidence < threshold:
                return None
        if self.st.phase == "confirm":
            if isinstance(event, Digits):
                value = {"1": "yes", "2": "no"}.get(event.digits)
                return Match(value, "dtmf", event.digits) if value else None
            return yes_no(event.text)
        match: Match | None
        today = dt.date.fromisoformat(str(self.st.call.get("date") or "2000-01-01"))
        if isinstance(node, MenuState):
            if isinstance(event, Speech):
                match = match_intent(event.text, node.intents)
            else:
                match = match_dtmf_intent(event.digits, node.intents)
        else:
            slot = flow.slots[node.slot]
            if isinstance(event, Speech):
                match = parse_slot(slot, event.text, today)
            else:
                match = parse_slot_dtmf(slot, event.digits)
        if match is None and node.global_intents and flow.global_intents:
            found = (
                match_intent(event.text, flow.global_intents)
                if isinstance(event, Speech)
                else match_dtmf_intent(event.digits, flow.global_intents)
            )
            if found is not None:
                match = Match(found.value, "global_" + found.rule, found.detail, found.score)
        return match

    def accept(self, node: MenuState | CollectState, match: Match) -> tuple[str, Pending | None]:
        """Take what was understood; returns the target and, for the state's own value (not a
        global intent), what a confirmation step would confirm."""
        flow = self.loaded.flow
        if match.rule.startswith("global_"):
            self.st.intent = match.value
            return flow.global_intents[match.value].goto, None
        if isinstance(node, MenuState):
            self.st.intent = match.value
            target = node.intents[match.value].goto
            return target, Pending(kind="intent", name=match.value, value=match.value,
                                   target=target)  # fmt: skip
        self.st.slots[node.slot] = match.value
        return node.next, Pending(kind="slot", name=node.slot, value=match.value, target=node.next)

    def confirmed(
        self, node: MenuState | CollectState, match: Match, kind: str, fields: dict[str, Any]
    ) -> Step:
        pending = self.st.pending
        assert pending is not None
        if match.value == "yes":
            self.record(kind, "confirmed", rule=match.rule, detail=match.detail,
                        value=pending.value, next_state=pending.target, **fields)  # fmt: skip
            return self.enter(pending.target)
        self.record(kind, "denied", rule=match.rule, detail=match.detail, value=pending.value,
                    **fields)  # fmt: skip
        if pending.kind == "slot":
            self.st.slots.pop(pending.name, None)
        else:
            self.st.intent = None
        self.st.phase, self.st.pending = "input", None
        self.say(node.say, node.barge_in)
        self.actions.append(listen_for(self.loaded.flow, node))
        return self.done()

    def no_input(self, node: MenuState | CollectState) -> Step:
        self.st.no_input += 1
        self.record("no_input", "no_input", value=str(self.st.no_input))
        return self.retry(node, "no_input", self.st.no_input)

    def no_match(self, node: MenuState | CollectState) -> Step:
        self.st.no_match += 1
        return self.retry(node, "no_match", self.st.no_match)

    def retry(self, node: MenuState | CollectState, kind: str, attempt: int) -> Step:
        flow = self.loaded.flow
        rule = escalation(flow, node, kind)
        if attempt >= rule.max_attempts:
            if rule.goto is None:
                self.actions.append(Hangup(kind))
                self.st.ended, self.st.end_reason = True, kind
                return self.done()
            return self.enter(rule.goto)
        if rule.reprompts:
            self.say(rule.reprompts[min(attempt, len(rule.reprompts)) - 1], node.barge_in)
        elif self.st.phase == "confirm" and node.confirm is not None:
            self.say(node.confirm.say, node.barge_in)
        else:
            self.say(node.say, node.barge_in)
        confirming = self.st.phase == "confirm"
        self.actions.append(confirm_listen(flow, node) if confirming else listen_for(flow, node))
        return self.done()
