"""What can go wrong with hot words; `ivr/errors.py` maps each class's `http_status` to JSON."""

from __future__ import annotations

from typing import Any


class HotwordError(Exception):
    """Base of every hot-word failure; `details` adds fields to the JSON error answer."""

    http_status = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details: dict[str, Any] = details


class InvalidPhrase(HotwordError):
    """A phrase the model cannot spell, or one outside the configured limits."""

    http_status = 422


class UnknownTenant(HotwordError):
    http_status = 404

    def __init__(self, tenant: str) -> None:
        super().__init__(
            f"unknown tenant {tenant!r}: create it first with POST /admin/v1/tenants",
            tenant=tenant,
        )


class UnknownHotword(HotwordError):
    http_status = 404

    def __init__(self, tenant: str, hotword_id: str) -> None:
        super().__init__(
            f"tenant {tenant!r} has no hot word with id {hotword_id!r} "
            "(GET .../hotwords lists the ids)",
            tenant=tenant,
            id=hotword_id,
        )


class TenantExists(HotwordError):
    http_status = 409

    def __init__(self, tenant: str) -> None:
        super().__init__(f"tenant {tenant!r} already exists", tenant=tenant)


class TooManyHotwords(HotwordError):
    """The write would leave the tenant above `IVR_HOTWORDS_MAX_PER_TENANT`."""

    http_status = 409

    def __init__(self, tenant: str, count: int, limit: int) -> None:
        super().__init__(
            f"tenant {tenant!r} would have {count} hot words, above the limit of {limit} "
            "(IVR_HOTWORDS_MAX_PER_TENANT); delete some first or raise the limit",
            tenant=tenant,
            limit=limit,
        )


class StoreBusy(HotwordError):
    """Concurrent writers kept changing the tenant while this write retried."""

    http_status = 409
