"""The tamper-evident audit log: one append-only hash chain for the whole installation.

Entry n carries `prev` = the hash of entry n-1 and `hash` = SHA-256 of its own canonical JSON
(everything but `hash`), so editing, removing or reordering any entry breaks every later link;
`ivr audit verify` walks the chain and names the first entry that does not check out.

Redis keys: `ivr:audit:seq` (last sequence number), `ivr:audit:head` (hash of the last entry),
`ivr:audit:entries` (hash seq -> entry JSON) and `ivr:audit:tenant:{t}` (list of the seqs that
concern a tenant, for reading newest first). Appends run under WATCH so two replicas never fork
the chain.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from hotwords.store import as_text, now_iso
from ivr.admin.errors import AdminError

SEQ_KEY = "ivr:audit:seq"
HEAD_KEY = "ivr:audit:head"
ENTRIES_KEY = "ivr:audit:entries"
GLOBAL_INDEX = "ivr:audit:global"
GENESIS = "0" * 64
MAX_RETRIES = 100
VERIFY_BATCH = 500


def tenant_index(tenant: str) -> str:
    return f"ivr:audit:tenant:{tenant}"


class AuditError(AdminError):
    http_status = 503


def entry_hash(fields: dict[str, Any]) -> str:
    body = {k: v for k, v in fields.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    ts: str
    actor: str
    action: str
    tenant: str | None
    details: dict[str, Any]
    prev: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts,
            "actor": self.actor,
            "action": self.action,
            "tenant": self.tenant,
            "details": self.details,
            "prev": self.prev,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class AuditPage:
    entries: tuple[AuditEntry, ...]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    broken_seq: int | None = None
    reason: str | None = None


def _parse(raw: bytes | str) -> AuditEntry:
    data = json.loads(raw)
    return AuditEntry(
        seq=int(data["seq"]),
        ts=str(data["ts"]),
        actor=str(data["actor"]),
        action=str(data["action"]),
        tenant=data.get("tenant"),
        details=dict(data.get("details") or {}),
        prev=str(data["prev"]),
        hash=str(data["hash"]),
    )


class AuditLog:
    """Append and read the chain; `append` is what other areas call (erasures, exports)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def append(
        self, actor: str, action: str, tenant: str | None, details: dict[str, Any]
    ) -> AuditEntry:
        """Record who (`actor`: a key id or `cli`) did what to which tenant, and how much."""
        for attempt in range(MAX_RETRIES):
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(SEQ_KEY, HEAD_KEY)
                    seq = int(await pipe.get(SEQ_KEY) or 0) + 1
                    head = await pipe.get(HEAD_KEY)
                    fields: dict[str, Any] = {
                        "seq": seq,
                        "ts": now_iso(),
                        "actor": actor,
                        "action": action,
                        "tenant": tenant,
                        "details": details,
                        "prev": as_text(head) if head else GENESIS,
                    }
                    fields["hash"] = entry_hash(fields)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(ENTRIES_KEY, str(seq), json.dumps(fields, sort_keys=True))
                    pipe.set(SEQ_KEY, seq)
                    pipe.set(HEAD_KEY, fields["hash"])
                    pipe.rpush(tenant_index(tenant) if tenant else GLOBAL_INDEX, seq)
                    await pipe.execute()
                    return _parse(json.dumps(fields))
                except WatchError:
                    # Another replica appended first: back off a little, then link after it.
                    await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # noqa: S311
        raise AuditError("the audit log is too busy to record this change; try again")

    async def page(self, tenant: str | None, offset: int, limit: int) -> AuditPage:
        """A tenant's entries (or the tenant-less ones), newest first."""
        index = tenant_index(tenant) if tenant else GLOBAL_INDEX
        total = int(await self.redis.llen(index))
        if offset >= total or limit <= 0:
            return AuditPage((), total, offset, limit)
        seqs = await self.redis.lrange(index, -(offset + limit), -(offset + 1))
        raws = await self.redis.hmget(ENTRIES_KEY, [as_text(s) for s in reversed(seqs)])
        entries = tuple(_parse(raw) for raw in raws if raw is not None)
        return AuditPage(entries, total, offset, limit)

    async def verify(self) -> Verification:
        """Walk the chain from the first entry; name the first one that does not check out."""
        last = int(await self.redis.get(SEQ_KEY) or 0)
        prev = GENESIS
        for start in range(1, last + 1, VERIFY_BATCH):
            seqs = [str(s) for s in range(start, min(start + VERIFY_BATCH, last + 1))]
            for seq, raw in zip(seqs, await self.redis.hmget(ENTRIES_KEY, seqs), strict=True):
                problem = _check(int(seq), raw, prev)
                if problem is not None:
                    return Verification(False, int(seq) - 1, int(seq), problem)
                assert raw is not None
                prev = json.loads(raw)["hash"]
        head = await self.redis.get(HEAD_KEY)
        if last and (head is None or as_text(head) != prev):
            return Verification(False, last, last, "the chain head does not match the last entry")
        extra = await self.redis.hlen(ENTRIES_KEY)
        if int(extra) != last:
            return Verification(
                False, last, last + 1, f"{int(extra) - last} entries lie outside the chain"
            )
        return Verification(True, last)


def _check(seq: int, raw: bytes | str | None, prev: str) -> str | None:
    if raw is None:
        return "entry is missing"
    try:
        data = json.loads(raw)
    except ValueError:
        return "entry is not valid JSON"
    if not isinstance(data, dict) or data.get("seq") != seq:
        return "entry has the wrong sequence number"
    if data.get("prev") != prev:
        return "entry does not link to the previous entry's hash"
    if data.get("hash") != entry_hash(data):
        return "entry content does not match its hash (edited after it was written)"
    return None
