"""Which calls may start (per-process and per-tenant caps, drain) and the call metrics.

Caps are counted in this process: `IVR_MAX_CALLS` in all, `IVR_MAX_CALLS_PER_TENANT` for one
tenant. A refused call gets its gateway's busy answer (TwiML `<Reject reason="busy">`,
WebSocket close 1013 "try again later", jambonz `sip:decline 486`, an AudioSocket hang-up).
"""

from __future__ import annotations

import contextlib
from collections import Counter as Tally
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ivr.gateways.wire import CallRefused
from ivr.health import Readiness


class CallMetrics:
    """Declared here, beside the code that counts them, on the app's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.active = Gauge(
            "ivr_calls_active_calls", "Calls in progress by tenant.", ["tenant"], registry=registry
        )
        self.ended = Counter(
            "ivr_calls_ended_total",
            "Calls ended, by gateway and outcome (disposition).",
            ["gateway", "outcome"],
            registry=registry,
        )
        self.refused = Counter(
            "ivr_calls_refused_total",
            "Calls refused before they started, by reason.",
            ["reason"],
            registry=registry,
        )
        self.turns = Counter("ivr_calls_turns_total", "Dialog turns taken.", registry=registry)
        self.no_input = Counter(
            "ivr_calls_no_input_total", "Listens that ended without input.", registry=registry
        )
        self.no_match = Counter(
            "ivr_calls_no_match_total",
            "Caller input after which the dialog stayed in the same state.",
            registry=registry,
        )
        self.barge_ins = Counter(
            "ivr_calls_barge_ins_total",
            "Prompts cut short by the caller.",
            ["by"],
            registry=registry,
        )
        self.dtmf_digits = Counter(
            "ivr_calls_dtmf_digits_total",
            "DTMF keys received, by source (event or in-band).",
            ["source"],
            registry=registry,
        )
        self.response_latency = Histogram(
            "ivr_calls_response_latency_seconds",
            "End of the caller's input (endpoint or last key) to the first prompt byte sent.",
            registry=registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5),
        )
        self.speech_end_latency = Histogram(
            "ivr_calls_speech_end_latency_seconds",
            "End of the caller's speech (by the recognizer's clock) to the first prompt byte "
            "sent: the response latency plus the end-of-utterance silence.",
            registry=registry,
            buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 2, 3, 5),
        )
        self.dialog_seconds = Histogram(
            "ivr_calls_dialog_seconds",
            "Time the dialog service took to answer one caller input.",
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.prompt_seconds = Histogram(
            "ivr_calls_prompt_render_seconds",
            "Time to get a prompt's audio (cache, recording or TTS) before it plays.",
            registry=registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.protocol_errors = Counter(
            "ivr_calls_protocol_errors_total",
            "Calls ended by a malformed frame, by gateway.",
            ["gateway"],
            registry=registry,
        )


class CallAdmission:
    """Counts live calls; `admit(tenant)` is the one door every gateway's call goes through."""

    def __init__(
        self, readiness: Readiness, metrics: CallMetrics, max_calls: int, max_per_tenant: int
    ) -> None:
        self.readiness = readiness
        self.metrics = metrics
        self.max_calls = max_calls
        self.max_per_tenant = max_per_tenant
        self._active: Tally[str] = Tally()

    @property
    def active(self) -> int:
        return sum(self._active.values())

    def check(self, tenant: str) -> None:
        """Raise `CallRefused` if a call for `tenant` could not start now."""
        if self.readiness.draining:
            self.metrics.refused.labels("draining").inc()
            raise CallRefused("the service is draining (shutting down); retry on another replica")
        if self.active >= self.max_calls:
            self.metrics.refused.labels("process_cap").inc()
            raise CallRefused(f"{self.max_calls} calls in progress here (IVR_MAX_CALLS)")
        if self._active[tenant] >= self.max_per_tenant:
            self.metrics.refused.labels("tenant_cap").inc()
            raise CallRefused(
                f"tenant {tenant!r} has {self.max_per_tenant} calls in progress "
                "(IVR_MAX_CALLS_PER_TENANT)"
            )

    @contextlib.asynccontextmanager
    async def admit(self, tenant: str) -> AsyncIterator[None]:
        """Hold a place for one call (and count it for drain) for as long as the block runs."""
        self.check(tenant)
        self._active[tenant] += 1
        self.metrics.active.labels(tenant).inc()
        try:
            async with self.readiness.activity():
                yield
        finally:
            self._active[tenant] -= 1
            if self._active[tenant] <= 0:
                del self._active[tenant]
            self.metrics.active.labels(tenant).dec()


ADMISSION = web.AppKey("call_admission", CallAdmission)
