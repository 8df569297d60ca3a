"""`ivr data`: callers' data at rest. Make a data key, re-seal records under the newest key
after a rotation, erase one call's data."""

from __future__ import annotations

import asyncio
import sys

import click
import redis.asyncio as aioredis

from dialogs.context import ContextStore, as_bytes, sealed_keys
from dialogs.errors import FlowError
from dialogs.sealing import Sealer, new_key_spec, sealer_from_settings
from dialogs.service import erase_call
from ivr.flows import audit_log
from ivr.settings import Settings, SettingsError, load_settings
from ivr.store import open_store


@click.group()
def data() -> None:
    """Callers' data: encryption keys, rotation and erasure (docs/flows.md)."""


def _settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if not settings.redis_url:
        raise click.ClickException("IVR_REDIS_URL is not set: there is no shared store to work on")
    return settings


async def rotate(redis: aioredis.Redis, sealer: Sealer) -> tuple[int, int]:
    """Re-seal every sealed record under the write key; returns (re-sealed, already current).

    Each write keeps the record's TTL and only replaces the value it read (a dialog turn that
    lands in between wins, and its record is already under the new key)."""
    resealed = current = 0
    async for key in sealed_keys(redis):
        if await redis.type(key) == b"hash":
            value = await redis.hget(key, "data")
        else:
            value = await redis.get(key)
        if value is None:
            continue
        fresh = sealer.reseal(as_bytes(value), key.encode())
        if fresh is None:
            current += 1
            continue
        swapped = await redis.eval(RESEAL, 1, key, value, fresh)
        resealed += int(swapped)
    return resealed, current


# Replace the sealed value only if it is still the one read (hash field `data` or string).
RESEAL = """
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'hash' then
  if redis.call('HGET', KEYS[1], 'data') ~= ARGV[1] then return 0 end
  redis.call('HSET', KEYS[1], 'data', ARGV[2])
  return 1
elseif kind == 'string' then
  if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
"""


@data.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt stored call data with the first key of IVR_DATA_KEYS (the newest).

    Rotation: put a new key first in IVR_DATA_KEYS, keep the old ones after it, restart the
    replicas (new writes use the new key), run this, then drop the old keys."""
    settings = _settings()

    async def run() -> tuple[int, int]:
        sealer = sealer_from_settings(settings)
        if sealer.ephemeral:
            raise click.ClickException("IVR_DATA_KEYS is not set: nothing to rotate to")
        store = open_store(settings)
        try:
            counts = await rotate(store.redis, sealer)
            details = {"key_id": sealer.write_id, "resealed": counts[0]}
            await audit_log(store.redis)("cli", "data.rotate_keys", None, details)
            return counts
        finally:
            await store.close()

    try:
        resealed, current = asyncio.run(run())
    except FlowError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"re-sealed {resealed} record(s); {current} already under the newest key")


@data.command("new-key")
@click.argument("key_id")
def new_key(key_id: str) -> None:
    """Print a new random 256-bit data key as `KEY_ID:base64` for IVR_DATA_KEYS."""
    click.echo(new_key_spec(key_id))


@data.command()
@click.argument("call_id")
def erase(call_id: str) -> None:
    """Delete everything stored about one call (dialog context, outcome, history)."""
    settings = _settings()

    async def run() -> bool:
        store = open_store(settings)
        try:
            context = ContextStore(store.redis, sealer_from_settings(settings), 60)
            return await erase_call(context, audit_log(store.redis), call_id, actor="cli")
        finally:
            await store.close()

    found = asyncio.run(run())
    click.echo(f"erased call {call_id}" if found else f"nothing stored for call {call_id}")
    sys.exit(0 if found else 1)
