"""`DialogService`: what a call session uses to run a flow. Start, handle events, finish.

Each turn reads the call's sealed context from Redis, runs the pure engine (performing any
back-end calls it asks for), and writes the context back with a compare-and-set on the turn
counter, so any replica can take any turn and a killed process loses nothing but the turn it
was in the middle of.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge

from dialogs import backends
from dialogs.actions import Digits, Disposition, Event, NoInput, Outcome, Speech, Turn
from dialogs.callstate import CallState
from dialogs.context import ContextStore
from dialogs.driver import TurnResult, complete
from dialogs.engine import advance, begin
from dialogs.errors import CallNotFound, FlowNotFound, StaleEvent
from dialogs.loader import LoadedFlow, flow_digest, parse_flow
from dialogs.lookups import HttpRequest, HttpResult
from dialogs.registry import FlowRegistry
from dialogs.wire import MASK, event_key, turn_from_json, turn_json
from ivr.logs import bind
from ivr.settings import Settings

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]
Audit = Callable[[str, str, str | None, dict[str, Any]], Awaitable[object]]
"""`(actor, action, tenant, details)`: the admin area's tamper-evident log (`AuditLog.append`)."""


async def erase_call(store: ContextStore, audit: Audit | None, call_id: str, *, actor: str) -> bool:
    """Erase one call's data and record the erasure (never what was erased) in the audit log."""
    tenant = await store.tenant_of(call_id)
    erased = await store.erase(call_id)
    if audit is not None:
        await audit(actor, "call.erase", tenant, {"call_id": call_id, "found": erased})
    log.info("call data erased", extra={"erased_call": call_id, "found": erased})
    return erased


class DialogMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.turns = Counter(
            "ivr_dialog_turns_total", "Dialog turns answered, by flow.", ["flow"],
            registry=registry,
        )  # fmt: skip
        self.calls = Counter(
            "ivr_dialog_calls_total", "Dialogs started, by flow.", ["flow"], registry=registry
        )
        self.no_input = Counter(
            "ivr_dialog_no_input_total", "Listening turns the caller let pass in silence.",
            ["flow"], registry=registry,
        )  # fmt: skip
        self.no_match = Counter(
            "ivr_dialog_no_match_total", "Caller answers the flow did not understand.",
            ["flow"], registry=registry,
        )  # fmt: skip
        self.backend_calls = Counter(
            "ivr_dialog_backend_requests_total",
            "Back-end HTTP calls made by flows, by backend and result.",
            ["backend", "result"],
            registry=registry,
        )
        self.reloads = Counter(
            "ivr_dialog_flow_reloads_total",
            "Flow files loaded or refused on (re)load, by result.",
            ["result"],
            registry=registry,
        )
        self.flows = Gauge("ivr_dialog_flows_loaded", "Flows currently served.", registry=registry)


class DialogService:
    """Runs flows for calls; every piece of call data it stores is sealed."""

    def __init__(
        self,
        settings: Settings,
        registry: FlowRegistry,
        store: ContextStore,
        http: aiohttp.ClientSession,
        metrics: DialogMetrics,
        clock: Clock | None = None,
        audit: Audit | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.store = store
        self.http = http
        self.metrics = metrics
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.audit = audit

    # --- the call session's API ---

    async def start(
        self,
        *,
        call_id: str,
        tenant: str,
        flow: str | None,
        caller: str | None,
        called: str | None,
        locale: str | None = None,
    ) -> Turn:
        """Begin the flow (the default one when `flow` is None) and return its first turn."""
        name = flow or self.settings.default_flow
        with bind(call_id=call_id, tenant=tenant):
            step = begin(
                self.registry, name, call_id=call_id, tenant=tenant, caller=caller,
                called=called, now=self.clock(), locale=locale,
            )  # fmt: skip
            result = await complete(self.registry, step, self._perform)
            self._remember(result, None)
            await self._publish_versions(result.state)
            await self.store.create(result.state)
            self.metrics.calls.labels(name).inc()
            self._observe(result, 0)
            return result.turn

    async def handle(self, call_id: str, event: Event, *, turn: int) -> Turn:
        """Apply the caller's event answering `turn`; a retried duplicate gets the same turn."""
        state = await self.store.load(call_id)
        with bind(call_id=call_id, tenant=state.tenant):
            if turn != state.turn:
                retried = turn == state.turn - 1 and state.last_event == event_key(event)
                if retried and state.last_turn is not None:
                    return turn_from_json(state.last_turn)  # the gateway resent the event
                raise StaleEvent(call_id, turn, state.turn)
            await self._ensure_versions(state)
            before = len(state.history)
            result = await complete(
                self.registry, advance(self.registry, state, event), self._perform
            )
            self._remember(result, event)
            await self._publish_versions(result.state)
            await self.store.save(result.state, expected_turn=turn)
            self._observe(result, before)
            return result.turn

    async def finish(
        self, call_id: str, disposition: Disposition, *, transfer_target: str | None = None
    ) -> Outcome:
        """Close the dialog: write the sealed outcome and history, drop the live context."""
        try:
            state = await self.store.load(call_id)
        except CallNotFound:
            existing = await self.outcome(call_id)
            if existing is None:
                raise
            return existing
        target = transfer_target or state.transfer_target
        outcome = Outcome(
            call_id=call_id, tenant=state.tenant, flow=state.flow, disposition=disposition,
            transfer_target=target, final_state=state.state, slots=dict(state.slots),
            turns=state.turn,
        )  # fmt: skip
        record = {
            "outcome": dataclasses.asdict(outcome),
            "sensitive": state.sensitive,
            "versions": state.versions,
            "history": [h.model_dump(exclude_none=True) for h in state.history],
        }
        ttl = await self.store.retention_s(state.tenant, self.settings.retention_days)
        await self.store.save_outcome(call_id, json.dumps(record).encode(), ttl)
        await self.store.delete(call_id)
        with bind(call_id=call_id, tenant=state.tenant):
            log.info("dialog finished", extra={"disposition": disposition, "turns": state.turn})
        return self._masked(outcome, state.sensitive)

    async def outcome(self, call_id: str) -> Outcome | None:
        """The call's outcome, sensitive slots masked unless IVR_REDACT_SENSITIVE=false."""
        record = await self.record(call_id)
        if record is None:
            return None
        return Outcome(**record["outcome"])

    async def record(self, call_id: str) -> dict[str, Any] | None:
        """The outcome with its turn history (masked like `outcome`)."""
        raw = await self.store.load_outcome(call_id)
        if raw is None:
            return None
        data: dict[str, Any] = json.loads(raw)
        return self._mask_record(data)

    async def call_data(self, call_id: str) -> dict[str, Any] | None:
        """What is stored about a call, finished (`record`) or still live (`outcome` None):
        the data-access view of the admin API, masked like `record`."""
        finished = await self.record(call_id)
        if finished is not None:
            return finished
        try:
            state = await self.store.load(call_id)
        except CallNotFound:
            return None
        live = {
            "outcome": None,
            "live": {"tenant": state.tenant, "flow": state.flow, "state": state.state,
                     "slots": dict(state.slots), "turns": state.turn},
            "sensitive": state.sensitive,
            "history": [h.model_dump(exclude_none=True) for h in state.history],
        }  # fmt: skip
        return self._mask_record(live)

    def _mask_record(self, data: dict[str, Any]) -> dict[str, Any]:
        hide = set(data.get("sensitive", [])) if self.settings.redact_sensitive else set()
        for part in ("outcome", "live"):
            if data.get(part) is not None:
                data[part]["slots"] = {
                    k: MASK if k in hide else v for k, v in data[part]["slots"].items()
                }
        for entry in data.get("history", []):
            entry["slots"] = {k: MASK if k in hide else v for k, v in entry["slots"].items()}
            if hide and entry.get("event") in ("speech", "digits"):
                entry["text"] = MASK if entry.get("text") is not None else None
                entry["digits"] = MASK if entry.get("digits") is not None else None
                entry["value"] = MASK if entry.get("value") is not None else None
                entry["detail"] = MASK if entry.get("detail") is not None else None
        return data

    async def erase(self, call_id: str, *, actor: str = "service") -> bool:
        """Delete everything stored about one call (context and outcome); audited."""
        return await erase_call(self.store, self.audit, call_id, actor=actor)

    async def turn_state(self, call_id: str) -> CallState:
        return await self.store.load(call_id)

    # --- internals ---

    def _masked(self, outcome: Outcome, sensitive: list[str]) -> Outcome:
        if not self.settings.redact_sensitive:
            return outcome
        slots = {k: MASK if k in sensitive else v for k, v in outcome.slots.items()}
        return dataclasses.replace(outcome, slots=slots)

    def secrets(self, state: CallState) -> list[str]:
        if not self.settings.redact_sensitive:
            return []
        return [v for k, v in state.slots.items() if k in state.sensitive]

    async def _perform(self, request: HttpRequest) -> HttpResult:
        result = await backends.perform(self.http, request)
        outcome = result.error or ("ok" if (result.status or 500) < 400 else "http_error")
        self.metrics.backend_calls.labels(request.backend, outcome).inc()
        return result

    def _remember(self, result: TurnResult, event: Event | None) -> None:
        result.state.last_turn = turn_json(result.turn)
        result.state.last_event = event_key(event) if event is not None else None

    def _observe(self, result: TurnResult, before: int) -> None:
        state = result.state
        self.metrics.turns.labels(state.flow).inc()
        for entry in state.history[before:]:
            if entry.result == "no_input":
                self.metrics.no_input.labels(state.flow).inc()
            elif entry.result == "no_match":
                self.metrics.no_match.labels(state.flow).inc()
        last = state.history[-1] if state.history else None
        fields: dict[str, Any] = {"state": state.state, "turn": state.turn, "flow": state.flow}
        if last is not None:
            fields.update(result=last.result, rule=last.rule)
            if self.settings.log_transcripts:
                fields["text"] = last.text
        log.info("dialog turn", extra=fields)

    async def _publish_versions(self, state: CallState) -> None:
        for name, digest in state.versions.items():
            loaded = self.registry.versions.get((name, digest))
            if loaded is not None:
                await self.store.publish_flow(name, digest, loaded.text)

    async def _ensure_versions(self, state: CallState) -> None:
        """Fetch flow versions this process has never seen (the call began elsewhere)."""
        for name, digest in state.versions.items():
            if (name, digest) in self.registry.versions:
                continue
            text = await self.store.flow_source(name, digest)
            if text is None or flow_digest(text) != digest:
                raise FlowNotFound(
                    f"call {state.call_id} runs flow {name!r} version {digest}, which no "
                    "replica has published any more; the call cannot continue"
                )
            flow, lines = parse_flow(text, f"{name}@{digest}")
            path = self.registry.folder / f"{name}.yaml"
            self.registry.add(LoadedFlow(name, path, text, flow, lines, digest), current=False)


def new_call_id() -> str:
    return uuid.uuid4().hex


__all__ = ["DialogMetrics", "DialogService", "Digits", "NoInput", "Speech", "new_call_id"]
