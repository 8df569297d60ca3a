"""The dialogs area in the service: flow registry with hot reload, the `DialogService` the
call session uses, and a text-channel API that drives a dialog over HTTP.

Text channel (chat widgets, SMS bridges, tests): `POST /v1/dialogs` starts a dialog,
`POST /v1/dialogs/{call_id}/events` sends what the caller said or pressed (answering a turn),
`POST /v1/dialogs/{call_id}/finish` ends it. `GET /v1/flows` lists the flows served.
With `IVR_API_AUTH=required` these need an API key: for the body's tenant when starting, for the
call's tenant afterwards, any valid key for `GET /v1/flows`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from pydantic import BaseModel

from dialogs.actions import Turn
from dialogs.context import ContextStore
from dialogs.registry import FlowRegistry
from dialogs.sealing import sealer_from_settings
from dialogs.service import Audit, DialogMetrics, DialogService, new_call_id
from dialogs.wire import EventBody, FinishBody, StartBody, mask_turn, turn_json
from ivr.admin.apiauth import api_key, api_scope
from ivr.admin.audit import AuditLog
from ivr.admin.bodies import validate
from ivr.health import READINESS
from ivr.metrics import METRICS
from ivr.settings import SETTINGS
from ivr.store import STORE

log = logging.getLogger(__name__)

DIALOGS = web.AppKey("dialogs", DialogService)
_RELOAD_LOCK = web.AppKey("dialogs_reload_lock", asyncio.Lock)
POLL_S = 1.0
routes = web.RouteTableDef()


async def _reload(app: web.Application, *, force: bool = False) -> None:
    service = app[DIALOGS]
    lock = app[_RELOAD_LOCK]
    async with lock:
        report = await asyncio.to_thread(service.registry.reload, force=force)
    metrics = service.metrics
    if report.loaded:
        metrics.reloads.labels("loaded").inc(len(report.loaded))
    if report.refused:
        metrics.reloads.labels("refused").inc(len({p.file for p in report.refused}))
    metrics.flows.set(len(service.registry.current))


async def _watch(app: web.Application) -> None:
    registry = app[DIALOGS].registry
    while True:
        await asyncio.sleep(POLL_S)
        try:
            if await asyncio.to_thread(registry.changed):
                await _reload(app)
        except Exception:  # a watcher that dies stops hot reload silently: log and go on
            log.exception("flow reload failed")


def audit_log(redis: aioredis.Redis) -> Audit:
    """Erasures and key rotations go to the admin area's tamper-evident audit log."""
    append: Audit = AuditLog(redis).append
    return append


async def dialogs_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    registry = FlowRegistry(settings.flows_dir)
    store = ContextStore(app[STORE].redis, sealer_from_settings(settings), settings.context_ttl_s)
    metrics = DialogMetrics(app[METRICS].registry)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    audit = audit_log(app[STORE].redis)
    app[DIALOGS] = DialogService(settings, registry, store, http, metrics, audit=audit)
    app[_RELOAD_LOCK] = asyncio.Lock()
    await _reload(app, force=True)
    if settings.log_transcripts:
        log.warning("IVR_LOG_TRANSCRIPTS is on: callers' words are written to the logs")
    tasks: set[asyncio.Task[None]] = set()

    def spawn(work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    loop = asyncio.get_running_loop()
    hup = False
    if settings.flows_reload:
        spawn(_watch(app))
        # SIGHUP only where this loop may own signals (the main thread of `ivr serve`).
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, lambda: spawn(_reload(app, force=True)))
            hup = True
    yield
    if hup:
        loop.remove_signal_handler(signal.SIGHUP)
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await http.close()


async def _flows_ready(app: web.Application) -> str | None:
    service = app.get(DIALOGS)
    if service is None:
        return "flows not loaded yet"
    name = service.settings.default_flow
    if name not in service.registry.current:
        problems = service.registry.errors.get(name)
        why = f": {problems[0]}" if problems else f" (no {name}.yaml in IVR_FLOWS_DIR)"
        return f"default flow {name!r} is not loaded{why}"
    return None


T = TypeVar("T", bound=BaseModel)


async def _body(request: web.Request, model: type[T]) -> T:
    try:
        data: Any = await request.json() if request.can_read_body else {}
    except ValueError:
        raise web.HTTPBadRequest(reason="body is not JSON") from None
    # The admin API's validator: a 422 naming the failing field in the JSON body (never in
    # the status line, where a CR or LF from the caller would break the response).
    return validate(model, data)


def _turn_answer(call_id: str, turn: Turn, secrets: list[str]) -> dict[str, Any]:
    return {"call_id": call_id, **turn_json(mask_turn(turn, secrets))}


async def _authorize_call(request: web.Request, call_id: str) -> None:
    """401/403 for a key that may not act on the call's stored tenant (an unknown call: the
    route's own 404 after the key is checked)."""
    principal = await api_key(request)
    if principal is None:
        return
    tenant = await request.app[DIALOGS].store.tenant_of(call_id)
    if tenant is not None:
        await api_scope(request, principal, tenant)


@routes.post("/v1/dialogs")
async def start_dialog(request: web.Request) -> web.Response:
    principal = await api_key(request)  # 401 before the body is read
    body = await _body(request, StartBody)
    await api_scope(request, principal, body.tenant)
    service = request.app[DIALOGS]
    call_id = body.call_id or new_call_id()
    turn = await service.start(
        call_id=call_id, tenant=body.tenant, flow=body.flow, caller=body.caller,
        called=body.called, locale=body.locale,
    )  # fmt: skip
    return web.json_response(_turn_answer(call_id, turn, []), status=201)


@routes.post("/v1/dialogs/{call_id}/events")
async def dialog_event(request: web.Request) -> web.Response:
    call_id = request.match_info["call_id"]
    await _authorize_call(request, call_id)
    body = await _body(request, EventBody)
    service = request.app[DIALOGS]
    async with request.app[READINESS].activity():
        turn = await service.handle(call_id, body.event(), turn=body.turn)
    secrets: list[str] = []
    if not turn.ended:
        secrets = service.secrets(await service.turn_state(call_id))
    return web.json_response(_turn_answer(call_id, turn, secrets))


@routes.post("/v1/dialogs/{call_id}/finish")
async def finish_dialog(request: web.Request) -> web.Response:
    await _authorize_call(request, request.match_info["call_id"])
    body = await _body(request, FinishBody)
    service = request.app[DIALOGS]
    outcome = await service.finish(
        request.match_info["call_id"], body.disposition, transfer_target=body.transfer_target
    )
    return web.json_response(
        {
            "call_id": outcome.call_id,
            "flow": outcome.flow,
            "disposition": outcome.disposition,
            "transfer_target": outcome.transfer_target,
            "final_state": outcome.final_state,
            "slots": outcome.slots,
            "turns": outcome.turns,
        }
    )


@routes.get("/v1/flows")
async def list_flows(request: web.Request) -> web.Response:
    await api_key(request)  # flows are shared by all tenants: any valid key
    registry = request.app[DIALOGS].registry
    flows = [
        {"name": name, "version": loaded.digest, "description": loaded.flow.description}
        for name, loaded in sorted(registry.current.items())
    ]
    errors = {name: [str(p) for p in problems] for name, problems in registry.errors.items()}
    return web.json_response({"flows": flows, "refused": errors})


def setup(app: web.Application) -> None:
    """Add the flow registry and dialog service to the app."""
    app.cleanup_ctx.append(dialogs_context)
    app[READINESS].add("flows", lambda: _flows_ready(app))
    app.router.add_routes(routes)
