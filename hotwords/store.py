"""Per-tenant hot words in Redis, written atomically, each write bumping the tenant's version and
publishing an invalidation so every replica's cache drops its copy.

Keys (all under `ivr:`):
- `ivr:tenants` (set) the tenant ids;
- `ivr:tenant:{t}:meta` (hash) `created_at` and the optional `retention_days`;
- `ivr:tenant:{t}:hotwords` (hash) hot-word id -> JSON record;
- `ivr:tenant:{t}:version` (string) changes on every write and never goes back, not even after
  the tenant is deleted or Redis loses its data: a write sets it to max(old + 1, now in ms), so a
  cache can never mistake new content for the copy it holds.

Writes run in MULTI/EXEC under WATCH (optimistic, retried): a reader using `snapshot()` (itself
one MULTI/EXEC) sees a tenant before or after a write, never halfway.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError
from redis.typing import EncodableT, FieldT

from hotwords.errors import StoreBusy, TenantExists, TooManyHotwords, UnknownHotword, UnknownTenant

TENANTS_KEY = "ivr:tenants"
INVALIDATION_CHANNEL = "ivr:hotwords:invalidate"
MAX_RETRIES = 20
T = TypeVar("T")


def meta_key(tenant: str) -> str:
    return f"ivr:tenant:{tenant}:meta"


def hotwords_key(tenant: str) -> str:
    return f"ivr:tenant:{tenant}:hotwords"


def version_key(tenant: str) -> str:
    return f"ivr:tenant:{tenant}:version"


def hotword_id(phrase: str) -> str:
    """Ids follow from the normalized phrase, so adding a phrase twice updates it."""
    return hashlib.sha256(phrase.encode()).hexdigest()[:16]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class PhraseSpec:
    """A validated, normalized phrase as a write asks for it."""

    phrase: str
    boost: float
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredHotword:
    id: str
    phrase: str
    boost: float
    tags: tuple[str, ...]
    created_at: str
    updated_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "phrase": self.phrase,
            "boost": self.boost,
            "tags": list(self.tags),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_json(cls, raw: bytes | str) -> StoredHotword:
        data = json.loads(raw)
        return cls(
            id=data["id"],
            phrase=data["phrase"],
            boost=float(data["boost"]),
            tags=tuple(data.get("tags", ())),
            created_at=data["created_at"],
            updated_at=data["updated_at"],
        )


@dataclass(frozen=True)
class Tenant:
    id: str
    created_at: str
    retention_days: int | None
    version: int
    hotwords: int


@dataclass(frozen=True)
class Snapshot:
    """One tenant's hot words as of one version, read in one transaction."""

    tenant: str
    exists: bool
    version: int
    hotwords: tuple[StoredHotword, ...]


@dataclass(frozen=True)
class WriteResult:
    """What a write did: the new version and the counts before and after (for the audit)."""

    version: int
    before: int
    after: int
    hotword: StoredHotword | None = None
    created: bool = False


@dataclass
class _Plan:
    """The writes a transaction queues once its reads are done."""

    result: Callable[[int], WriteResult]
    writes: list[Callable[[Pipeline], Any]] = field(default_factory=list)


def _next_version(old: int) -> int:
    # Milliseconds since the epoch keep versions increasing even when Redis lost its data.
    return max(old + 1, time.time_ns() // 1_000_000)


def as_text(value: bytes | str) -> str:
    """Redis answers bytes (`decode_responses=False`); the fake may answer str."""
    return value.decode() if isinstance(value, bytes) else value


def _decode(value: bytes | str | None) -> str | None:
    return None if value is None else as_text(value)


class HotwordStore:
    """Reads and atomic writes of tenants and their hot words."""

    def __init__(self, redis: aioredis.Redis, max_per_tenant: int) -> None:
        self.redis = redis
        self.max_per_tenant = max_per_tenant

    # --- reads ---
    async def version(self, tenant: str) -> int:
        raw = await self.redis.get(version_key(tenant))
        return int(raw) if raw is not None else 0

    async def snapshot(self, tenant: str) -> Snapshot:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sismember(TENANTS_KEY, tenant)
            pipe.get(version_key(tenant))
            pipe.hvals(hotwords_key(tenant))
            exists, version, values = await pipe.execute()
        hotwords = sorted((StoredHotword.from_json(v) for v in values), key=lambda h: h.phrase)
        return Snapshot(
            tenant=tenant,
            exists=bool(exists),
            version=int(version) if version is not None else 0,
            hotwords=tuple(hotwords),
        )

    async def existing(self, tenant: str) -> Snapshot:
        snap = await self.snapshot(tenant)
        if not snap.exists:
            raise UnknownTenant(tenant)
        return snap

    async def get(self, tenant: str, id_: str) -> StoredHotword:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sismember(TENANTS_KEY, tenant)
            pipe.hget(hotwords_key(tenant), id_)
            exists, raw = await pipe.execute()
        if not exists:
            raise UnknownTenant(tenant)
        if raw is None:
            raise UnknownHotword(tenant, id_)
        return StoredHotword.from_json(raw)

    async def tenant(self, tenant: str) -> Tenant:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sismember(TENANTS_KEY, tenant)
            pipe.hgetall(meta_key(tenant))
            pipe.get(version_key(tenant))
            pipe.hlen(hotwords_key(tenant))
            exists, meta, version, count = await pipe.execute()
        if not exists:
            raise UnknownTenant(tenant)
        fields = {_decode(k): _decode(v) for k, v in meta.items()}
        retention = fields.get("retention_days")
        return Tenant(
            id=tenant,
            created_at=fields.get("created_at") or "",
            retention_days=int(retention) if retention else None,
            version=int(version) if version is not None else 0,
            hotwords=int(count),
        )

    async def tenant_ids(self) -> list[str]:
        members = await self.redis.smembers(TENANTS_KEY)
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)

    async def tenants(self) -> list[Tenant]:
        found = []
        for tenant in await self.tenant_ids():
            try:
                found.append(await self.tenant(tenant))
            except UnknownTenant:
                continue  # deleted between the two reads
        return found

    # --- writes ---
    async def _transact(
        self, tenant: str, plan: Callable[[Pipeline, dict[str, StoredHotword]], Awaitable[_Plan]]
    ) -> WriteResult:
        """Read under WATCH, queue the planned writes plus the version bump and the
        invalidation, and commit them together; retry when another writer got in first."""
        for _ in range(MAX_RETRIES):
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(TENANTS_KEY, hotwords_key(tenant), version_key(tenant))
                    old = await pipe.get(version_key(tenant))
                    current = {
                        as_text(k): StoredHotword.from_json(v)
                        for k, v in (await pipe.hgetall(hotwords_key(tenant))).items()
                    }
                    planned = await plan(pipe, current)
                    version = _next_version(int(old) if old is not None else 0)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    for write in planned.writes:
                        write(pipe)
                    pipe.set(version_key(tenant), version)
                    pipe.publish(INVALIDATION_CHANNEL, json.dumps([tenant, version]))
                    await pipe.execute()
                    return planned.result(version)
                except WatchError:
                    continue
        raise StoreBusy(f"tenant {tenant!r} kept changing during the write; try again")

    async def _require_tenant(self, pipe: Pipeline, tenant: str) -> None:
        if not await pipe.sismember(TENANTS_KEY, tenant):
            raise UnknownTenant(tenant)

    async def create_tenant(self, tenant: str, retention_days: int | None = None) -> WriteResult:
        async def plan(pipe: Pipeline, current: dict[str, StoredHotword]) -> _Plan:
            if await pipe.sismember(TENANTS_KEY, tenant):
                raise TenantExists(tenant)
            meta: dict[FieldT, EncodableT] = {"created_at": now_iso()}
            if retention_days is not None:
                meta["retention_days"] = str(retention_days)
            return _Plan(
                result=lambda v: WriteResult(v, 0, 0),
                writes=[
                    lambda p: p.sadd(TENANTS_KEY, tenant),
                    lambda p: p.delete(meta_key(tenant), hotwords_key(tenant)),
                    lambda p: p.hset(meta_key(tenant), mapping=meta),
                ],
            )

        return await self._transact(tenant, plan)

    async def set_retention(self, tenant: str, retention_days: int | None) -> Tenant:
        """Change (or clear, with None) the tenant's retention; hot words are untouched."""
        for _ in range(MAX_RETRIES):
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(TENANTS_KEY)
                    await self._require_tenant(pipe, tenant)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    if retention_days is None:
                        pipe.hdel(meta_key(tenant), "retention_days")
                    else:
                        pipe.hset(meta_key(tenant), "retention_days", str(retention_days))
                    await pipe.execute()
                    return await self.tenant(tenant)
                except WatchError:
                    continue
        raise StoreBusy(f"tenant {tenant!r} kept changing during the write; try again")

    async def delete_tenant(self, tenant: str) -> WriteResult:
        async def plan(pipe: Pipeline, current: dict[str, StoredHotword]) -> _Plan:
            await self._require_tenant(pipe, tenant)
            return _Plan(
                result=lambda v: WriteResult(v, len(current), 0),
                writes=[
                    lambda p: p.srem(TENANTS_KEY, tenant),
                    lambda p: p.delete(meta_key(tenant), hotwords_key(tenant)),
                ],
            )

        return await self._transact(tenant, plan)

    def _records(
        self, specs: Iterable[PhraseSpec], current: dict[str, StoredHotword]
    ) -> dict[str, StoredHotword]:
        now = now_iso()
        records = {}
        for spec in specs:
            id_ = hotword_id(spec.phrase)
            old = current.get(id_)
            records[id_] = StoredHotword(
                id=id_,
                phrase=spec.phrase,
                boost=spec.boost,
                tags=spec.tags,
                created_at=old.created_at if old else now,
                updated_at=now,
            )
        return records

    def _check_limit(self, tenant: str, count: int) -> None:
        if count > self.max_per_tenant:
            raise TooManyHotwords(tenant, count, self.max_per_tenant)

    async def merge(self, tenant: str, specs: Iterable[PhraseSpec]) -> WriteResult:
        """Add or update each phrase (by its normalized text), keeping the others."""
        specs = list(specs)

        async def plan(pipe: Pipeline, current: dict[str, StoredHotword]) -> _Plan:
            await self._require_tenant(pipe, tenant)
            records = self._records(specs, current)
            after = len(current.keys() | records.keys())
            self._check_limit(tenant, after)
            single = next(iter(records.values())) if len(records) == 1 else None
            created = single is not None and single.id not in current
            payload: dict[FieldT, EncodableT] = {
                k: json.dumps(r.to_json()) for k, r in records.items()
            }
            writes = [lambda p: p.hset(hotwords_key(tenant), mapping=payload)] if payload else []
            return _Plan(
                result=lambda v: WriteResult(v, len(current), after, single, created),
                writes=writes,
            )

        return await self._transact(tenant, plan)

    async def replace(self, tenant: str, specs: Iterable[PhraseSpec]) -> WriteResult:
        """Make the tenant's hot words exactly `specs` (an empty list deletes them all)."""
        specs = list(specs)

        async def plan(pipe: Pipeline, current: dict[str, StoredHotword]) -> _Plan:
            await self._require_tenant(pipe, tenant)
            records = self._records(specs, current)
            self._check_limit(tenant, len(records))
            payload: dict[FieldT, EncodableT] = {
                k: json.dumps(r.to_json()) for k, r in records.items()
            }
            writes: list[Callable[[Pipeline], Any]] = [lambda p: p.delete(hotwords_key(tenant))]
            if payload:
                writes.append(lambda p: p.hset(hotwords_key(tenant), mapping=payload))
            return _Plan(result=lambda v: WriteResult(v, len(current), len(records)), writes=writes)

        return await self._transact(tenant, plan)

    async def delete(self, tenant: str, id_: str) -> WriteResult:
        async def plan(pipe: Pipeline, current: dict[str, StoredHotword]) -> _Plan:
            await self._require_tenant(pipe, tenant)
            if id_ not in current:
                raise UnknownHotword(tenant, id_)
            gone = current[id_]
            return _Plan(
                result=lambda v: WriteResult(v, len(current), len(current) - 1, gone),
                writes=[lambda p: p.hdel(hotwords_key(tenant), id_)],
            )

        return await self._transact(tenant, plan)

    async def delete_all(self, tenant: str) -> WriteResult:
        return await self.replace(tenant, [])
