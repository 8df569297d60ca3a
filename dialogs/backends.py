"""Performs the back-end calls flows ask for (`HttpRequest` -> `HttpResult`), with a timeout
on every request and a cap on the answer's size; never raises."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from dialogs.lookups import HttpRequest, HttpResult

MAX_RESPONSE_BYTES = 1024 * 1024


async def perform(session: aiohttp.ClientSession, request: HttpRequest) -> HttpResult:
    timeout = aiohttp.ClientTimeout(total=request.timeout_s)
    try:
        async with session.request(
            request.method,
            request.url,
            json=request.json,
            headers=dict(request.headers),
            timeout=timeout,
            allow_redirects=False,
        ) as response:
            raw = await response.content.read(MAX_RESPONSE_BYTES + 1)
            if len(raw) > MAX_RESPONSE_BYTES:
                return HttpResult(response.status, None, "error")
            body: Any = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
            return HttpResult(response.status, body)
    except TimeoutError:
        return HttpResult(None, None, "timeout")
    except (aiohttp.ClientError, OSError, ValueError):
        return HttpResult(None, None, "error")
