"""Back-end look-ups, the pure half: the request an http state asks for, and what an answer
means for the call (which branch, which values saved). `dialogs.backends` does the I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from dialogs import templates
from dialogs.schema import Backend, HttpState


@dataclass(frozen=True)
class HttpRequest:
    backend: str
    method: str
    url: str
    json: dict[str, str] | None
    headers: tuple[tuple[str, str], ...]
    timeout_s: float


@dataclass(frozen=True)
class HttpResult:
    """What the back end answered; `error` is "timeout" or "error" when it did not."""

    status: int | None
    body: Any
    error: Literal["timeout", "error"] | None = None


@dataclass(frozen=True)
class Answer:
    """Where the call goes after a look-up, why (`outcome`), and the values to save."""

    target: str
    outcome: str
    saved: dict[str, Any]


def build_request(node: HttpState, backend: Backend, namespace: Mapping[str, Any]) -> HttpRequest:
    """The request of an http state, its path and body filled from the call's values."""
    path = quote(templates.render(node.path, namespace), safe="/?=&%:@,+")
    body = None
    if node.json_body is not None:
        body = {k: templates.render(v, namespace) for k, v in node.json_body.items()}
    return HttpRequest(
        backend=node.backend,
        method=node.method,
        url=backend.base_url.rstrip("/") + "/" + path.lstrip("/"),
        json=body,
        headers=tuple(sorted(backend.headers.items())),
        timeout_s=node.timeout_s or backend.timeout_s,
    )


def _dig(body: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(body, Mapping) and part in body:
            body = body[part]
        elif isinstance(body, list) and part.isdigit() and int(part) < len(body):
            body = body[int(part)]
        else:
            raise KeyError(path)
    return body


def read_answer(node: HttpState, result: HttpResult) -> Answer:
    """Success needs a 2xx answer holding every `save:` field; anything else is an error."""
    if result.error == "timeout":
        return Answer(node.on_timeout or node.on_error, "timeout", {})
    if result.error is not None or result.status is None or result.status >= 400:
        return Answer(node.on_error, "error", {})
    try:
        found = {name: _dig(result.body, path) for name, path in node.save.items()}
    except KeyError as exc:
        return Answer(node.on_error, f"missing field {exc.args[0]}", {})
    saved = {
        name: value
        if isinstance(value, (str, int, float, bool)) or value is None
        else json.dumps(value)
        for name, value in found.items()
    }
    return Answer(node.on_success, "success", saved)
