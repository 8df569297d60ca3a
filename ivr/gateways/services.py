"""The gateway area's shared objects on the app, and the `CallServices` every call gets."""

from __future__ import annotations

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
from recognizer.phrases import Hotword

log = logging.getLogger(__name__)


def open_gateways(app: web.Application) -> None:
    """Objects that need only settings: made when the app is built, before it starts."""
    settings = app[SETTINGS]
    metrics = CallMetrics(app[METRICS].registry)
    app[ADMISSION] = CallAdmission(
        app[READINESS], metrics, settings.max_calls, settings.max_calls_per_tenant
    )
    app[NUMBERS] = load_number_map(settings)
    app[PROMPTS] = Prompts(settings.prompts_dir)


def _recognizer(app: web.Application) -> SpeechRecognizer | None:
    service = app.get(RECOGNIZER)
    if service is None or service.problem() is not None:
        log.warning("recognizer not ready; this call listens for keys only")
        return None
    return service.recognizer


def _tenant_hotwords(app: web.Application) -> Callable[[str], Awaitable[tuple[Hotword, ...]]]:
    async def get(tenant: str) -> tuple[Hotword, ...]:
        cache = app.get(HOTWORDS)
        return () if cache is None else (await cache.get(tenant)).phrases

    return get


def call_services(app: web.Application) -> CallServices:
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
        recognizer=_recognizer(app),
        tenant_hotwords=_tenant_hotwords(app),
        max_call_s=float(settings.max_call_s),
        record_ttl_s=settings.retention_days * 86400,
    )
