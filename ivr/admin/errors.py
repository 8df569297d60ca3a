"""Admin API failures. Those carrying headers (401 with `WWW-Authenticate`, 429 with
`Retry-After`) are built as JSON `HTTPException`s; the rest map through `http_status`."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ivr.logs import REQUEST_ID


class AdminError(Exception):
    """Base of admin API failures; `details` adds fields to the JSON answer."""

    http_status = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details: dict[str, Any] = details


class Forbidden(AdminError):
    http_status = 403


class UnknownKey(AdminError):
    http_status = 404

    def __init__(self, key_id: str) -> None:
        super().__init__(f"no API key with id {key_id!r} (GET /admin/v1/keys lists them)")


class KeyConflict(AdminError):
    http_status = 409


class InvalidBody(AdminError):
    """The request body or a query parameter failed validation; `field` names where."""

    http_status = 422


def json_http_error(
    exc_class: type[web.HTTPException],
    message: str,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> web.HTTPException:
    body: dict[str, Any] = {"error": message, "status": exc_class.status_code, **fields}
    request_id = REQUEST_ID.get()
    if request_id:
        body["request_id"] = request_id
    return exc_class(text=json.dumps(body), content_type="application/json", headers=headers)
