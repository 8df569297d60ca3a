"""Liveness, readiness and drain.

`/healthz` says the process answers. `/readyz` says this replica should get new calls: every
registered check passes (model loaded, store answering) and it is not draining. `/metrics`
carries the same answer as `ivr_ready` and `ivr_store_up` (1 or 0), refreshed at each scrape,
so alerts can say "no replica ready" and "store down".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge

from ivr.metrics import METRICS, metrics_handler
from ivr.store import STORE

Check = Callable[[], Awaitable[str | None]]
"""A readiness check returns None when ready, or a reason a person can act on."""


class Draining(Exception):
    """New work (a call, a stream) arrived after SIGTERM: this replica only finishes its calls."""

    http_status = 503


class Readiness:
    """Checks registered by each area, the drain flag set on SIGTERM, and the count of work in
    progress (calls, streams) that a drain waits for."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}
        self.draining = False
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.asynccontextmanager
    async def activity(self) -> AsyncIterator[None]:
        """Count a call or stream as in progress for as long as the block runs."""
        self._active += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._active -= 1
            if self._active == 0:
                self._idle.set()

    @contextlib.asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Start a new call or stream: refused with `Draining` (503) once SIGTERM arrived,
        otherwise counted like `activity()` so the drain waits for it."""
        if self.draining:
            raise Draining(
                "this replica is shutting down: it finishes the calls in progress and takes "
                "no new one; retry on another replica"
            )
        async with self.activity():
            yield

    @property
    def active(self) -> int:
        return self._active

    async def wait_idle(self, limit_s: float) -> bool:
        """Wait until no call or stream is in progress; False if the timeout ran out first."""
        try:
            await asyncio.wait_for(self._idle.wait(), limit_s)
        except TimeoutError:
            return False
        return True

    def add(self, name: str, check: Check) -> None:
        self._checks[name] = check

    async def problems(self) -> dict[str, str]:
        names = list(self._checks)
        results = await asyncio.gather(*(self._checks[n]() for n in names), return_exceptions=True)
        found: dict[str, str] = {}
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                found[name] = f"check failed: {result!r}"
            elif result is not None:
                found[name] = result
        if self.draining:
            found["draining"] = "shutting down: finishing calls in progress, taking no new ones"
        return found


class HealthMetrics:
    """`ivr_ready` and `ivr_store_up`, set from the readiness checks when they run."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.ready = Gauge(
            "ivr_ready",
            "1 when this replica takes new calls (GET /readyz answers 200), else 0.",
            registry=registry,
        )
        self.store_up = Gauge(
            "ivr_store_up", "1 when the store (Redis) answers PING, else 0.", registry=registry
        )

    def record(self, problems: dict[str, str]) -> None:
        self.ready.set(0 if problems else 1)
        self.store_up.set(0 if "store" in problems else 1)


READINESS = web.AppKey("readiness", Readiness)
HEALTH_METRICS = web.AppKey("health_metrics", HealthMetrics)
routes = web.RouteTableDef()


async def _problems(app: web.Application) -> dict[str, str]:
    problems = await app[READINESS].problems()
    app[HEALTH_METRICS].record(problems)
    return problems


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    problems = await _problems(request.app)
    if problems:
        return web.json_response({"status": "not ready", "problems": problems}, status=503)
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    """The app's registry, with readiness and store state checked for this scrape."""
    await _problems(request.app)
    return await metrics_handler(request)


async def _store_ready(app: web.Application) -> str | None:
    store = app.get(STORE)
    if store is None:
        return "store not opened yet"
    if not await store.ping():
        return "store does not answer PING (check IVR_REDIS_URL and that Redis is up)"
    return None


def setup(app: web.Application) -> None:
    readiness = Readiness()
    app[READINESS] = readiness
    app[HEALTH_METRICS] = HealthMetrics(app[METRICS].registry)
    readiness.add("store", lambda: _store_ready(app))
    app.router.add_routes(routes)
    app.router.add_get("/metrics", metrics)
