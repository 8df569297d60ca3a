"""Shared by the full-call tests: the real app on loopback (HTTP + AudioSocket) running the
test flow `tests/ivr/flows/menu.yaml` with the real dialog service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from dialogs.actions import Outcome, Say
from ivr.app import create_app
from ivr.flows import DIALOGS
from ivr.metrics import METRICS
from ivr.prompts import AudioFormat, Prompts
from ivr.settings import Settings
from ivr.store import STORE

TOKEN = "test-twilio-auth-token-0123456789"
SALES = "+15550100200"
FLOWS = Path(__file__).resolve().parent / "flows"
MENU_PROMPT = "Press one for sales or two to hang up."


async def menu_prompt_seconds() -> float:
    """How long the whole menu prompt lasts: a barged-in caller hears less than this."""
    audio = await Prompts(None).render(Say(MENU_PROMPT), AudioFormat("pcmu", 8000))
    return len(audio) / 8000


@dataclass
class GatewayApp:
    client: TestClient[web.Request, web.Application]
    audiosocket_port: int

    @property
    def app(self) -> web.Application:
        app = self.client.app
        assert app is not None
        return app

    @property
    def url(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    async def record(self, call_id: str) -> dict[str, Any]:
        """`GET /calls/{call_id}` once the call has wound down (with what was heard: the test
        app runs with IVR_LOG_TRANSCRIPTS on)."""
        for _ in range(300):
            response = await self.client.get(f"/calls/{call_id}")
            if response.status == 200:
                found: dict[str, Any] = await response.json()
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"no record for {call_id}")

    async def stored(self, call_id: str) -> bytes:
        """The call record as Redis holds it."""
        raw = await self.app[STORE].redis.get("ivr:call:" + call_id)
        assert isinstance(raw, bytes)
        return raw

    async def outcome(self, call_id: str) -> Outcome:
        """The dialog service's own outcome of the call."""
        found = await self.app[DIALOGS].outcome(call_id)
        assert found is not None
        return found

    def inputs(self, record: dict[str, Any]) -> list[tuple[str | None, str | None]]:
        """(input kind, what was heard) answering each turn."""
        return [(t["input"], t.get("heard")) for t in record["turns"]]

    def metric(self, name: str, **labels: str) -> float:
        value = self.app[METRICS].registry.get_sample_value(name, labels)
        return float(value or 0.0)


@pytest.fixture
async def gateway_app(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Any]]:
    from tests.conftest import free_port

    started: list[TestClient[web.Request, web.Application]] = []

    async def start(**overrides: Any) -> GatewayApp:
        port = free_port()
        values: dict[str, Any] = {
            "twilio_auth_token": TOKEN,
            "audiosocket_port": port,
            "flows_dir": FLOWS,
            "default_flow": "menu",
            "flows_reload": False,
            "log_transcripts": True,
        }
        values.update(overrides)
        client = TestClient(TestServer(create_app(make_settings(**values)), host="127.0.0.1"))
        await client.start_server()
        started.append(client)
        return GatewayApp(client, port)

    yield start
    for client in reversed(started):
        await client.close()
