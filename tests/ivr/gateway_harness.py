"""Shared by the full-call tests: the real app on loopback (HTTP + AudioSocket) and a
flow-driven dialog for calls."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from dialogs.actions import (
    Digits,
    Disposition,
    DtmfSpec,
    Event,
    Hangup,
    Listen,
    NoInput,
    Outcome,
    Say,
    Speech,
    Transfer,
    Turn,
)
from ivr.app import create_app
from ivr.gateways.services import CALL_DIALOGS
from ivr.prompts import AudioFormat, Prompts
from ivr.settings import Settings

TOKEN = "test-twilio-auth-token-0123456789"
SALES = "+15550100200"
MENU = Turn(
    (
        Say("Press one for sales or two to hang up.", barge_in=True),
        Listen(dtmf=DtmfSpec(max_digits=1), no_input_ms=2500),
    ),
    "menu",
    1,
)


async def menu_prompt_seconds() -> float:
    """How long the whole menu prompt lasts: a barged-in caller hears less than this."""
    say = MENU.actions[0]
    assert isinstance(say, Say)
    audio = await Prompts(None).render(say, AudioFormat("pcmu", 8000))
    return len(audio) / 8000


class MenuDialogs:
    """The smallest real menu: one for sales (transfer), two to hang up, silence re-prompts."""

    def __init__(self) -> None:
        self.turns: dict[str, int] = {}
        self.finished: dict[str, Outcome] = {}
        self.events: dict[str, list[Event]] = {}

    async def start(
        self, *, call_id: str, tenant: str, flow: str, caller: str, called: str
    ) -> Turn:
        self.turns[call_id] = 1
        self.events[call_id] = []
        return MENU

    async def handle(self, call_id: str, event: Event, *, turn: int) -> Turn:
        self.events[call_id].append(event)
        self.turns[call_id] = number = turn + 1
        said = event.text if isinstance(event, Speech) else ""
        if event == Digits("1") or re.search(r"\bsales\b", said):
            return Turn((Say("Connecting you to sales."), Transfer(SALES)), "sales", number, True)
        if event == Digits("2"):
            return Turn((Say("Goodbye."), Hangup()), "goodbye", number, True)
        if isinstance(event, NoInput):
            return Turn((Say("Sorry, I did not hear you."), *MENU.actions[1:]), "menu", number)
        return Turn(MENU.actions, "menu", number)

    async def finish(
        self, call_id: str, disposition: Disposition, *, transfer_target: str | None = None
    ) -> Outcome:
        outcome = Outcome(call_id, "default", "menu", disposition, transfer_target)
        self.finished[call_id] = outcome
        return outcome


@dataclass
class GatewayApp:
    client: TestClient[web.Request, web.Application]
    dialogs: MenuDialogs
    audiosocket_port: int

    @property
    def app(self) -> web.Application:
        app = self.client.app
        assert app is not None
        return app

    @property
    def url(self) -> str:
        return str(self.client.make_url("")).rstrip("/")


@pytest.fixture
async def gateway_app(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Any]]:
    from tests.conftest import free_port

    started: list[TestClient[web.Request, web.Application]] = []

    async def start(**overrides: Any) -> GatewayApp:
        port = free_port()
        values: dict[str, Any] = {"twilio_auth_token": TOKEN, "audiosocket_port": port}
        values.update(overrides)
        app = create_app(make_settings(**values))
        dialogs = MenuDialogs()
        app[CALL_DIALOGS] = dialogs
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        started.append(client)
        return GatewayApp(client, dialogs, port)

    yield start
    for client in reversed(started):
        await client.close()
