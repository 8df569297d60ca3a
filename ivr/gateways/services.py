"""The gateway area's shared objects on the app, and the `CallServices` every call gets."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from ivr.calls import CallServices, DialogService
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
CALL_DIALOGS = web.AppKey[DialogService]("call_dialogs")
"""Set to route calls to a dialog service other than the app's own (`ivr.flows.DIALOGS`)."""


def open_gateways(app: web.Application) -> None:
    """Objects that need only settings: made when the app is built, before it starts."""
    settings = app[SETTINGS]
    metrics = CallMetrics(app[METRICS].registry)
    app[ADMISSION] = CallAdmission(
        app[READINESS], metrics, settings.max_calls, settings.max_calls_per_tenant
    )
    app[NUMBERS] = load_number_map(settings)
    app[PROMPTS] = Prompts(settings.prompts_dir)


def _dialogs(app: web.Application) -> DialogService | None:
    if CALL_DIALOGS in app:
        return app[CALL_DIALOGS]
    from ivr import flows

    key: Any = getattr(flows, "DIALOGS", None)
    return None if key is None else app.get(key)


def _recognizer(app: web.Application) -> SpeechRecognizer | None:
    from ivr import api

    key: Any = getattr(api, "RECOGNIZER", None)
    service = None if key is None else app.get(key)
    if service is None:
        return None
    try:
        recognizer: SpeechRecognizer = service.recognizer
    except Exception:  # the model is not loaded: the call goes on with keys only
        log.warning("recognizer not ready; this call listens for keys only")
        return None
    return recognizer


def _tenant_hotwords(app: web.Application) -> Any:
    from ivr import admin

    key: Any = getattr(admin, "HOTWORDS", None)
    cache = None if key is None else app.get(key)
    if cache is None:
        return None

    async def get(tenant: str) -> tuple[Hotword, ...]:
        found = await cache.get(tenant)
        return tuple(getattr(found, "phrases", ()) or ())

    return get


def call_services(app: web.Application) -> CallServices:
    """Everything a new call needs; `CallRefused` if the dialog service is missing."""
    dialogs = _dialogs(app)
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
        record_transcripts=settings.log_transcripts,
    )
