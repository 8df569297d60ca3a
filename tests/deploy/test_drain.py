"""Graceful drain, in-process: the real `serve_app` loop and signal handling, with a stand-in
call route that holds `Readiness.admit()` the way a gateway or `/v1/stream` does."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp import web

from ivr.app import create_app
from ivr.health import READINESS
from ivr.serve import serve_app
from ivr.settings import Settings
from tests.conftest import free_port


class StandInCall:
    """POST /test/call: admitted like a new call, then held until the test releases it."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        async with request.app[READINESS].admit():
            self.started.set()
            await self.release.wait()
            return web.json_response({"call": "completed"})


async def _serve(settings: Settings, call: StandInCall) -> tuple[asyncio.Task[None], str]:
    app = create_app(settings)
    app.router.add_post("/test/call", call.handle)
    server = asyncio.create_task(serve_app(app, settings))
    url = f"http://127.0.0.1:{settings.port}"
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(f"{url}/healthz") as response:
                    # Signals go to this very process: only once serve_app handles them.
                    if response.status == 200 and _handles(signal.SIGTERM):
                        return server, url
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    server.cancel()
    pytest.fail("the service did not start")


def _handles(signum: int) -> bool:
    return signal.getsignal(signum) not in (signal.SIG_DFL, signal.default_int_handler)


async def _wait_not_ready(session: aiohttp.ClientSession, url: str) -> dict[str, object]:
    for _ in range(200):
        async with session.get(f"{url}/readyz") as response:
            if response.status == 503:
                body: dict[str, object] = await response.json()
                return body
        await asyncio.sleep(0.05)
    pytest.fail("/readyz never turned 503 after SIGTERM")


async def test_sigterm_lets_the_call_in_progress_finish_and_refuses_a_new_one(
    make_settings: Callable[..., Settings],
) -> None:
    call = StandInCall()
    server, url = await _serve(make_settings(port=free_port(), drain_timeout_s=60), call)
    async with aiohttp.ClientSession() as session:
        in_progress = asyncio.create_task(session.post(f"{url}/test/call"))
        await call.started.wait()
        os.kill(os.getpid(), signal.SIGTERM)

        body = await _wait_not_ready(session, url)
        assert "draining" in str(body["problems"])
        async with session.post(f"{url}/test/call") as refused:
            assert refused.status == 503
            assert "shutting down" in (await refused.json())["error"]
        assert not server.done(), "stopped while a call was in progress"

        call.release.set()
        response = await in_progress
        assert response.status == 200
        assert await response.json() == {"call": "completed"}
        response.release()
    await asyncio.wait_for(server, 30)


async def test_a_second_signal_stops_waiting_for_calls(
    make_settings: Callable[..., Settings],
) -> None:
    call = StandInCall()
    server, url = await _serve(make_settings(port=free_port(), drain_timeout_s=600), call)
    async with aiohttp.ClientSession() as session:
        stuck = asyncio.create_task(session.post(f"{url}/test/call"))
        await call.started.wait()
        os.kill(os.getpid(), signal.SIGTERM)
        await _wait_not_ready(session, url)
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.wait_for(server, 30)
        stuck.cancel()
        with pytest.raises((asyncio.CancelledError, aiohttp.ClientError)):
            await stuck
