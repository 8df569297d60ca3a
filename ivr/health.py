"""Liveness, readiness and drain.

`/healthz` says the process answers. `/readyz` says this replica should get new calls: every
registered check passes (model loaded, store answering) and it is not draining.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from ivr.metrics import metrics_handler
from ivr.store import STORE

Check = Callable[[], Awaitable[str | None]]
"""A readiness check returns None when ready, or a reason a person can act on."""


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


READINESS = web.AppKey("readiness", Readiness)
routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    problems = await request.app[READINESS].problems()
    if problems:
        return web.json_response({"status": "not ready", "problems": problems}, status=503)
    return web.json_response({"status": "ready"})


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
    readiness.add("store", lambda: _store_ready(app))
    app.router.add_routes(routes)
    app.router.add_get("/metrics", metrics_handler)
