"""The aiohttp application factory: `create_app(settings) -> web.Application`.

Each area adds its resources (cleanup contexts) and routes through its own `setup(app)`; the
order below is the order resources open (store first) and the reverse of how they close.
"""

from __future__ import annotations

from aiohttp import web

from ivr import admin, api, flows, gateways, health, store
from ivr.body_deadline import body_deadline
from ivr.errors import json_errors, request_ids
from ivr.metrics import METRICS, Metrics, http_metrics
from ivr.settings import SETTINGS, Settings


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[request_ids, http_metrics, json_errors, body_deadline],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    store.setup(app)
    health.setup(app)
    api.setup(app)
    admin.setup(app)
    flows.setup(app)
    gateways.setup(app)
    return app
