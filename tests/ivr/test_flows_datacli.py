"""`ivr data`: new keys, rotation to the newest key, erasing one call, on the real Redis."""

from __future__ import annotations

import asyncio
import base64

import redis.asyncio as aioredis
from click.testing import CliRunner, Result

from dialogs.context import ContextStore
from dialogs.sealing import Sealer, parse_keys
from ivr.admin.audit import AuditLog
from ivr.datacli import data

KEY_A = "a:" + base64.b64encode(bytes(range(32))).decode()
KEY_B = "b:" + base64.b64encode(bytes(range(32, 64))).decode()


def test_new_key_prints_a_usable_key() -> None:
    result = CliRunner().invoke(data, ["new-key", "k9"])
    assert result.exit_code == 0
    keys = parse_keys(result.output.strip())
    assert keys[0].key_id == "k9" and len(keys[0].secret) == 32


async def test_rotate_keys_then_erase(redis_url: str, redis_client: aioredis.Redis) -> None:
    old = ContextStore(redis_client, Sealer(parse_keys(KEY_A)), 600)
    await old.save_outcome("x1", b'{"slots": {"pin": "4242"}}', 3600)
    runner = CliRunner()
    env = {"IVR_REDIS_URL": redis_url, "IVR_DATA_KEYS": f"{KEY_B},{KEY_A}"}
    result = await _invoke(runner, ["rotate-keys"], env)
    assert result.exit_code == 0, result.output
    assert "re-sealed 1 record(s); 0 already under the newest key" in result.output
    stored = await redis_client.get("ivr:outcome:x1")
    assert isinstance(stored, bytes) and stored.startswith(b"ivr1:b:")
    new_only = ContextStore(redis_client, Sealer(parse_keys(KEY_B)), 600)
    assert await new_only.load_outcome("x1") == b'{"slots": {"pin": "4242"}}'
    assert "0 already" not in (await _invoke(runner, ["rotate-keys"], env)).output
    erased = await _invoke(runner, ["erase", "x1"], env)
    assert erased.exit_code == 0 and "erased call x1" in erased.output
    assert not await redis_client.exists("ivr:outcome:x1")
    assert (await _invoke(runner, ["erase", "x1"], env)).exit_code == 1


async def _invoke(runner: CliRunner, args: list[str], env: dict[str, str]) -> Result:
    """Run a command that uses asyncio.run in a thread (this test's loop is running)."""
    return await asyncio.to_thread(runner.invoke, data, args, env=env)


async def test_erasure_and_rotation_are_audited(
    redis_url: str, redis_client: aioredis.Redis
) -> None:
    store = ContextStore(redis_client, Sealer(parse_keys(KEY_A)), 600)
    await store.save_outcome("x2", b'{"outcome": {"tenant": "acme"}}', 3600)
    env = {"IVR_REDIS_URL": redis_url, "IVR_DATA_KEYS": f"{KEY_B},{KEY_A}"}
    runner = CliRunner()
    assert (await _invoke(runner, ["rotate-keys"], env)).exit_code == 0
    assert (await _invoke(runner, ["erase", "x2"], env)).exit_code == 0
    log = AuditLog(redis_client)
    erased = (await log.page("acme", 0, 10)).entries
    assert [(e.actor, e.action, e.details) for e in erased] == [
        ("cli", "call.erase", {"call_id": "x2", "found": True})
    ]
    rotated = (await log.page(None, 0, 10)).entries
    assert [(e.action, e.details["key_id"]) for e in rotated] == [("data.rotate_keys", "b")]
    assert (await log.verify()).ok


async def test_keys_rotate_data_re_seals_like_data_rotate_keys(
    redis_url: str, redis_client: aioredis.Redis
) -> None:
    from ivr.admin.cli import keys

    old = ContextStore(redis_client, Sealer(parse_keys(KEY_A)), 600)
    await old.save_outcome("x2", b'{"slots": {}}', 3600)
    env = {"IVR_REDIS_URL": redis_url, "IVR_DATA_KEYS": f"{KEY_B},{KEY_A}"}
    result = await asyncio.to_thread(CliRunner().invoke, keys, ["rotate-data"], env=env)
    assert result.exit_code == 0, result.output
    assert "re-sealed 1 record(s)" in result.output
    stored = await redis_client.get("ivr:outcome:x2")
    assert isinstance(stored, bytes) and stored.startswith(b"ivr1:b:")
