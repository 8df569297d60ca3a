"""The admin area's resources, opened once per app (`app[ADMIN]`)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from hotwords.cache import HotwordCache
from hotwords.store import HotwordStore
from ivr.admin.audit import AuditLog
from ivr.admin.keys import KeyStore
from ivr.admin.schemas import PhraseRules


@dataclass(frozen=True)
class AdminState:
    store: HotwordStore
    cache: HotwordCache
    keys: KeyStore
    audit: AuditLog
    rules: PhraseRules


ADMIN = web.AppKey("admin", AdminState)
