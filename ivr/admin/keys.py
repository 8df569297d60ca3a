"""Admin API keys: `ivrk_<id>_<secret>`, stored as SHA-256 of the secret and compared in
constant time. An admin key acts on every tenant; a tenant key on its own tenant only.

The secret has 256 bits of entropy, so a plain SHA-256 (no slow KDF) is enough: there is nothing
to brute-force. The id in clear lets a lookup find the one record to compare against.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

from hotwords.store import as_text, now_iso
from ivr.admin.errors import UnknownKey

PREFIX = "ivrk"
KEYS_SET = "ivr:apikeys"
KeyKind = Literal["admin", "tenant"]
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


def key_record(key_id: str) -> str:
    return f"ivr:apikey:{key_id}"


def tenant_keys(tenant: str) -> str:
    return f"ivr:tenant:{tenant}:keys"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A key as listed: never its secret."""

    id: str
    kind: KeyKind
    tenant: str | None
    name: str | None
    created_at: str


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str
    """The full bearer token; shown once, never stored."""


def split_token(token: str) -> tuple[str, str] | None:
    """`ivrk_<id>_<secret>` -> (id, secret), or None if it is not shaped like one."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not key_id or not secret or len(token) > 200:
        return None
    return key_id, secret


def _decode(raw: dict[bytes | str, bytes | str]) -> dict[str, str]:
    return {as_text(k): as_text(v) for k, v in raw.items()}


class KeyStore:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def create(self, kind: KeyKind, tenant: str | None, name: str | None) -> NewKey:
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(id=key_id, kind=kind, tenant=tenant, name=name, created_at=now_iso())
        record: dict[FieldT, EncodableT] = {
            "kind": kind,
            "hash": _hash(secret),
            "created_at": key.created_at,
        }
        if tenant is not None:
            record["tenant"] = tenant
        if name:
            record["name"] = name
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key_record(key_id), mapping=record)
            pipe.sadd(KEYS_SET, key_id)
            if tenant is not None:
                pipe.sadd(tenant_keys(tenant), key_id)
            await pipe.execute()
        return NewKey(key=key, secret=f"{PREFIX}_{key_id}_{secret}")

    @staticmethod
    def _key(key_id: str, fields: dict[str, str]) -> ApiKey:
        kind: KeyKind = "admin" if fields.get("kind") == "admin" else "tenant"
        return ApiKey(
            id=key_id,
            kind=kind,
            tenant=fields.get("tenant"),
            name=fields.get("name"),
            created_at=fields.get("created_at", ""),
        )

    async def check(self, token: str) -> ApiKey | None:
        """The key a bearer token belongs to, or None; same work whether or not the id exists."""
        parts = split_token(token)
        if parts is None:
            return None
        key_id, secret = parts
        fields = _decode(await self.redis.hgetall(key_record(key_id)))
        stored = fields.get("hash", _DUMMY_HASH)
        if not hmac.compare_digest(stored, _hash(secret)) or "hash" not in fields:
            return None
        return self._key(key_id, fields)

    async def all(self) -> list[ApiKey]:
        ids = sorted(as_text(m) for m in await self.redis.smembers(KEYS_SET))
        found = []
        for key_id in ids:
            fields = _decode(await self.redis.hgetall(key_record(key_id)))
            if fields:
                found.append(self._key(key_id, fields))
        return found

    async def get(self, key_id: str) -> ApiKey:
        fields = _decode(await self.redis.hgetall(key_record(key_id)))
        if not fields:
            raise UnknownKey(key_id)
        return self._key(key_id, fields)

    async def revoke(self, key_id: str) -> ApiKey:
        key = await self.get(key_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key_record(key_id))
            pipe.srem(KEYS_SET, key_id)
            if key.tenant is not None:
                pipe.srem(tenant_keys(key.tenant), key_id)
            await pipe.execute()
        return key

    async def revoke_tenant(self, tenant: str) -> list[str]:
        """Revoke every key of a tenant (when the tenant is deleted)."""
        ids = sorted(as_text(m) for m in await self.redis.smembers(tenant_keys(tenant)))
        async with self.redis.pipeline(transaction=True) as pipe:
            for key_id in ids:
                pipe.delete(key_record(key_id))
                pipe.srem(KEYS_SET, key_id)
            pipe.delete(tenant_keys(tenant))
            await pipe.execute()
        return ids
