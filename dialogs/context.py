"""Per-call dialog context and outcome records in Redis, sealed, with TTLs.

`ivr:dialog:{call_id}` is a hash: `turn` (the turn counter, in clear, so a compare-and-set
can check it) and `data` (the sealed `CallState`). Each turn's write is one Lua script that
succeeds only if the counter is still the one read, so two replicas answering the same turn
cannot both win. `ivr:outcome:{call_id}` holds the sealed outcome and turn history for the
tenant's retention. Flow sources by digest (`ivr:flowsrc:...`, no caller data) let a fresh
process continue a call on the exact flow version it started with.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from dialogs.callstate import CallState
from dialogs.errors import CallExists, CallNotFound, ConcurrentUpdate, SealingError
from dialogs.sealing import Sealer

DIALOG_PREFIX = "ivr:dialog:"
OUTCOME_PREFIX = "ivr:outcome:"
FLOW_SOURCE_PREFIX = "ivr:flowsrc:"
SEALED_PATTERNS = (DIALOG_PREFIX + "*", OUTCOME_PREFIX + "*")

# KEYS[1] dialog key; ARGV: expected turn ("" = must not exist), new turn, sealed data, ttl.
# Returns 1 on success, 0 when another writer moved the turn on, -1 when the call is gone.
COMPARE_AND_SET = """
local current = redis.call('HGET', KEYS[1], 'turn')
if ARGV[1] == '' then
  if current then return 0 end
else
  if not current then return -1 end
  if current ~= ARGV[1] then return 0 end
end
redis.call('HSET', KEYS[1], 'turn', ARGV[2], 'data', ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return 1
"""


def as_bytes(value: bytes | str) -> bytes:
    """Redis values as bytes (the shared client does not decode responses)."""
    return value if isinstance(value, bytes) else value.encode()


def dialog_key(call_id: str) -> str:
    return DIALOG_PREFIX + call_id


def outcome_key(call_id: str) -> str:
    return OUTCOME_PREFIX + call_id


def tenant_meta_key(tenant: str) -> str:
    """Written by the admin API (hot-words area); `retention_days` overrides the default."""
    return f"ivr:tenant:{tenant}:meta"


class ContextStore:
    def __init__(self, redis: aioredis.Redis, sealer: Sealer, ttl_s: int) -> None:
        self.redis = redis
        self.sealer = sealer
        self.ttl_s = ttl_s
        self._cas = redis.register_script(COMPARE_AND_SET)

    def _seal(self, key: str, state: CallState) -> bytes:
        return self.sealer.seal(state.model_dump_json().encode(), key.encode())

    async def create(self, state: CallState) -> None:
        key = dialog_key(state.call_id)
        result = await self._cas(
            keys=[key], args=["", state.turn, self._seal(key, state), self.ttl_s]
        )
        if int(result) != 1:
            raise CallExists(f"call {state.call_id} already has a dialog; use another call id")

    async def load(self, call_id: str) -> CallState:
        key = dialog_key(call_id)
        data = await self.redis.hget(key, "data")
        if data is None:
            raise CallNotFound(
                f"no dialog for call {call_id}: never started, finished, erased or expired "
                "(IVR_CONTEXT_TTL_S)"
            )
        return CallState.model_validate_json(self.sealer.open(as_bytes(data), key.encode()))

    async def save(self, state: CallState, expected_turn: int) -> None:
        key = dialog_key(state.call_id)
        result = int(
            await self._cas(
                keys=[key], args=[expected_turn, state.turn, self._seal(key, state), self.ttl_s]
            )
        )
        if result == -1:
            raise CallNotFound(f"call {state.call_id} ended or was erased during this turn")
        if result == 0:
            raise ConcurrentUpdate(
                f"call {state.call_id}: another event answered turn {expected_turn} first; "
                "fetch the current turn and send the next event for it"
            )

    async def delete(self, call_id: str) -> int:
        return int(await self.redis.delete(dialog_key(call_id)))

    async def retention_s(self, tenant: str, default_days: int) -> int:
        raw = await self.redis.hget(tenant_meta_key(tenant), "retention_days")
        try:
            days = int(raw) if raw is not None else default_days
        except ValueError:
            days = default_days
        return max(1, days) * 86400

    async def save_outcome(self, call_id: str, record: bytes, ttl_s: int) -> None:
        key = outcome_key(call_id)
        await self.redis.set(key, self.sealer.seal(record, key.encode()), ex=ttl_s)

    async def load_outcome(self, call_id: str) -> bytes | None:
        key = outcome_key(call_id)
        data = await self.redis.get(key)
        return None if data is None else self.sealer.open(as_bytes(data), key.encode())

    async def erase(self, call_id: str) -> bool:
        return bool(await self.redis.delete(dialog_key(call_id), outcome_key(call_id)))

    async def tenant_of(self, call_id: str) -> str | None:
        """Whose call this is (for the audit entry of an erasure), if the data still opens."""
        try:
            return (await self.load(call_id)).tenant
        except (CallNotFound, SealingError, ValueError):
            pass
        try:
            raw = await self.load_outcome(call_id)
        except SealingError:
            return None
        if raw is None:
            return None
        tenant = json.loads(raw).get("outcome", {}).get("tenant")
        return str(tenant) if tenant else None

    async def publish_flow(self, name: str, digest: str, text: str) -> None:
        """Keep a flow version's source while calls may still use it (refreshes the TTL)."""
        key = f"{FLOW_SOURCE_PREFIX}{name}:{digest}"
        await self.redis.set(key, text.encode(), ex=self.ttl_s * 2)

    async def flow_source(self, name: str, digest: str) -> str | None:
        data = await self.redis.get(f"{FLOW_SOURCE_PREFIX}{name}:{digest}")
        return None if data is None else as_bytes(data).decode("utf-8")


async def sealed_keys(redis: aioredis.Redis) -> AsyncIterator[str]:
    """Every key holding sealed call data (for rotation and audits)."""
    for pattern in SEALED_PATTERNS:
        async for key in redis.scan_iter(match=pattern, count=500):
            yield key.decode() if isinstance(key, bytes) else str(key)
