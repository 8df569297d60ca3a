"""The recognition API: the process's `Recognizer`, `POST /v1/recognize` and `GET /v1/stream`.

`RECOGNIZER` is the key other areas use to reach the recognizer (the gateways open a stream per
call through it: `await app[RECOGNIZER].wait_loaded()` or `.recognizer`). The model loads in
the background a few seconds after start-up, or at once when a `/readyz` probe or a request asks
for it, so `/healthz` answers at once and `/readyz` says "model" until it is loaded, or names
the file that failed to load.
"""

from __future__ import annotations

from aiohttp import web

from ivr.api.service import RECOGNIZER, RecognizerService, recognizer_context
from ivr.health import READINESS

__all__ = ["RECOGNIZER", "RecognizerService", "setup"]


def setup(app: web.Application) -> None:
    """Open the recognizer with the app and add the recognition routes."""
    from ivr.api import recognize, stream

    app.cleanup_ctx.append(recognizer_context)
    app[READINESS].add("model", lambda: _model_ready(app))
    app.router.add_routes(recognize.routes)
    app.router.add_routes(stream.routes)


async def _model_ready(app: web.Application) -> str | None:
    service = app.get(RECOGNIZER)
    if service is None:
        return "recognizer not opened yet"
    return service.problem()
