"""JSON logs on stdout; every line carries the request, call and tenant ids in scope."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
CALL_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("call_id", default=None)
TENANT: contextvars.ContextVar[str | None] = contextvars.ContextVar("tenant", default=None)

_CONTEXT = {"request_id": REQUEST_ID, "call_id": CALL_ID, "tenant": TENANT}
_RESERVED = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids in scope, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name, var in _CONTEXT.items():
            value = var.get()
            if value is not None:
                entry[name] = value
        for key, value in vars(record).items():
            if key not in _RESERVED and key not in entry and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str) -> None:
    """Send every logger's records to stdout as JSON (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_ivr_json", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler._ivr_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


@contextlib.contextmanager
def bind(*, call_id: str | None = None, tenant: str | None = None) -> Iterator[None]:
    """Put a call id and tenant on every log line written inside the block."""
    tokens = []
    if call_id is not None:
        tokens.append((CALL_ID, CALL_ID.set(call_id)))
    if tenant is not None:
        tokens.append((TENANT, TENANT.set(tenant)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
