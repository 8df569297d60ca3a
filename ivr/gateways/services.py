"""The gateway area's shared objects on the app, and the `CallServices` every call gets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from ivr.admin import HOTWORDS
from ivr.api import RECOGNIZER
from ivr.calls import CallServices
from ivr.flows import DIALOGS
from ivr.gateways.admission import ADMISSION, CallAdmission, CallMetrics
from ivr.gateways.wire import CallRefused
from ivr.health import READINESS
from ivr.hearing import SpeechRecognizer
from ivr.metrics import METRICS
from ivr.numbers import NUMBERS, load_number_map
from ivr.prompts import PROMPTS, Prompts
from ivr.settings import SETTINGS
from ivr.store import STORE
from recognizer.errors import ModelError
from recognizer.phrases import Hotword

log = logging.getLogger(__name__)

RECOGNIZER_WAIT_S = 15.0
"""How long a new call waits for a model load in progress before going keys-only."""


def open_gateways(app: web.Application) -> None:
    """Objects that need only settings: made when the app is built, before it starts."""
    settings = app[SETTINGS]
    metrics = CallMetrics(app[METRICS].registry)
    app[ADMISSION] = CallAdmission(
        app[READINESS], metrics, settings.max_calls, settings.max_calls_per_tenant
    )
    app[NUMBERS] = load_number_map(settings)
    app[PROMPTS] = Prompts(settings.prompts_dir)


async def _recognizer(app: web.Application) -> SpeechRecognizer | None:
    """The loaded recognizer, waiting for a load in progress (a call in the first seconds
    after start-up must not lose speech); keys only if the model cannot be had."""
    service = app.get(RECOGNIZER)
    if service is None:
        return None
    try:
        return await asyncio.wait_for(service.wait_loaded(), RECOGNIZER_WAIT_S)
    except (ModelError, TimeoutError) as exc:
        log.warning("recognizer not ready (%s); this call listens for keys only", exc)
        return None


def _tenant_hotwords(app: web.Application) -> Callable[[str], Awaitable[tuple[Hotword, ...]]]:
    async def get(tenant: str) -> tuple[Hotword, ...]:
        cache = app.get(HOTWORDS)
        return () if cache is None else (await cache.get(tenant)).phrases

    return get


async def call_services(app: web.Application) -> CallServices:
    """Everything a new call needs; `CallRefused` if the dialog service is missing."""
    dialogs = app.get(DIALOGS)
    if dialogs is None:
        raise CallRefused("no dialog service is running (the flows failed to load?)")
    settings = app[SETTINGS]
    return CallServices(
        dialogs=dialogs,
        prompts=app[PROMPTS],
        metrics=app[ADMISSION].metrics,
        redis=app[STORE].redis,
        recognizer=await _recognizer(app),
        tenant_hotwords=_tenant_hotwords(app),
        max_call_s=float(settings.max_call_s),
        record_ttl_s=settings.retention_days * 86400,
    )
