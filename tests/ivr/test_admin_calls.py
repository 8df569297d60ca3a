"""Callers' data through the admin API, in the real app on a real Redis: a conversation over
the dialogs text channel, read back with an admin key and with its tenant's key (masked),
hidden from other tenants, erased without a trace, and every access in the audit chain."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from dialogs.testing import StubAnswer, StubServer, stub_server
from ivr.admin.audit import ENTRIES_KEY
from ivr.admin.keys import KeyStore
from ivr.settings import Settings
from tests.conftest import REPO, service_env

EXAMPLES = Path(__file__).resolve().parents[2] / "dialogs" / "examples"
DATA_KEY = "k1:" + base64.b64encode(bytes(range(100, 132))).decode()
ACCOUNT = "24681357"
BALANCE = "9,876.54"
CALLER = "+15559876543"
SPOKEN = "two four six eight one three five seven"
CALL = "CAcalldata01"
BASE = "/admin/v1/tenants"


@pytest.fixture
async def bank_base() -> AsyncIterator[str]:
    stub = StubServer(
        {"bank": {f"GET /accounts/{ACCOUNT}/balance": StubAnswer.model_validate(
            {"status": 200, "json": {"balance": BALANCE, "currency": "dollars"}})}}
    )  # fmt: skip
    async with stub_server(stub) as base:
        yield base


@pytest.fixture
def settings_for(
    make_settings: Callable[..., Settings], tmp_path: Path, bank_base: str
) -> Callable[..., Settings]:
    flows_dir = tmp_path / "flows"
    shutil.copytree(EXAMPLES, flows_dir)
    path = flows_dir / "bank_balance.yaml"
    text = path.read_text().replace("http://bank.example.internal/api", f"{bank_base}/bank")
    path.write_text(text)

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"flows_dir": flows_dir, "data_keys": DATA_KEY,
                                  "flows_reload": False}  # fmt: skip
        values.update(overrides)
        return make_settings(**values)

    return make


@pytest.fixture
async def keys(redis_client: aioredis.Redis) -> dict[str, dict[str, str]]:
    """Bearer headers: an admin key, acme's key, and another tenant's key."""
    store = KeyStore(redis_client)
    made = {
        "admin": await store.create("admin", None, "ops"),
        "acme": await store.create("tenant", "acme", "acme app"),
        "other": await store.create("tenant", "other", "other app"),
    }
    return {name: {"Authorization": f"Bearer {new.secret}"} for name, new in made.items()}


def key_id(headers: dict[str, str]) -> str:
    return headers["Authorization"].split("_")[1]


async def post(client: Any, path: str, body: dict[str, Any], status: int = 200) -> Any:
    response = await client.post(path, json=body)
    data = await response.json()
    assert response.status == status, data
    return data


async def converse(client: Any, call_id: str = CALL, *, finish: bool = True) -> None:
    """The caller gives an account number by voice, confirms it, hears the balance."""
    start = {"call_id": call_id, "flow": "bank_balance", "caller": CALLER, "tenant": "acme"}
    turn = await post(client, "/v1/dialogs", start, 201)
    events = f"/v1/dialogs/{call_id}/events"
    turn = await post(client, events, {"turn": turn["turn"], "type": "speech", "text": SPOKEN})
    turn = await post(client, events, {"turn": turn["turn"], "type": "digits", "digits": "1"})
    assert turn["state"] == "anything_else"
    if finish:
        await post(client, f"/v1/dialogs/{call_id}/finish", {"disposition": "completed"})


async def get_call(client: Any, headers: dict[str, str], tenant: str = "acme",
                   call_id: str = CALL) -> tuple[int, Any]:  # fmt: skip
    response = await client.get(f"{BASE}/{tenant}/calls/{call_id}", headers=headers)
    return response.status, await response.json()


def raw(value: Any) -> bytes:
    assert isinstance(value, bytes)
    return value


async def stored(redis: aioredis.Redis) -> dict[bytes, bytes]:
    """Every Redis key with all its content (fields, members, items) as one byte string."""
    found: dict[bytes, bytes] = {}
    async for key in redis.scan_iter(count=1000):
        kind = await redis.type(key)
        items: list[Any]
        if kind == b"string":
            items = [await redis.get(key)]
        elif kind == b"hash":
            items = [raw(f) + b"=" + raw(v) for f, v in (await redis.hgetall(key)).items()]
        elif kind == b"list":
            items = list(await redis.lrange(key, 0, -1))
        elif kind == b"set":
            items = list(await redis.smembers(key))
        elif kind == b"zset":
            items = list(await redis.zrange(key, 0, -1))
        else:
            raise AssertionError(f"unexpected type {kind!r} of {key!r}")
        found[raw(key)] = b"".join(raw(i) for i in items)
    return found


async def test_an_admin_key_reads_a_finished_call_with_sensitive_values_masked(
    start_app: Any, settings_for: Callable[..., Settings], keys: dict[str, dict[str, str]]
) -> None:
    client = await start_app(settings_for())
    await converse(client)
    status, body = await get_call(client, keys["admin"])
    assert status == 200, body
    assert body["call_id"] == CALL and body["tenant"] == "acme" and body["flow"] == "bank_balance"
    assert body["finished"] is True and body["redacted"] is True and body["state"] is None
    assert body["outcome"]["disposition"] == "completed"
    assert body["slots"]["account"] == "***"
    assert [h["event"] for h in body["history"]][:3] == ["start", "speech", "digits"]
    text = json.dumps(body)
    for secret in (ACCOUNT, SPOKEN, "2 4 6 8"):
        assert secret not in text, secret


async def test_the_tenants_own_key_reads_it_masked_and_the_setting_unmasks(
    start_app: Any, settings_for: Callable[..., Settings], keys: dict[str, dict[str, str]]
) -> None:
    client = await start_app(settings_for())
    await converse(client)
    status, body = await get_call(client, keys["acme"])
    assert status == 200 and body["slots"]["account"] == "***"
    assert ACCOUNT not in json.dumps(body)
    clear = await start_app(settings_for(redact_sensitive=False))
    status, body = await get_call(clear, keys["acme"])
    assert status == 200 and body["redacted"] is False
    assert body["slots"]["account"] == ACCOUNT
    assert any(h.get("text") == SPOKEN for h in body["history"])


async def test_a_live_call_is_readable_before_it_finishes(
    start_app: Any, settings_for: Callable[..., Settings], keys: dict[str, dict[str, str]]
) -> None:
    client = await start_app(settings_for())
    await converse(client, finish=False)
    status, body = await get_call(client, keys["acme"])
    assert status == 200, body
    assert body["finished"] is False and body["outcome"] is None
    assert body["state"] == "anything_else" and body["slots"]["account"] == "***"


async def test_another_tenant_never_learns_the_call_exists(
    start_app: Any, settings_for: Callable[..., Settings], keys: dict[str, dict[str, str]]
) -> None:
    client = await start_app(settings_for())
    await converse(client)
    own_path, _ = await get_call(client, keys["other"], tenant="other")
    unknown, _ = await get_call(client, keys["other"], tenant="other", call_id="CAnothing")
    assert own_path == unknown == 404
    wrong_path, body = await get_call(client, keys["other"], tenant="acme")
    assert wrong_path == 403 and CALL not in json.dumps(body)
    admin_wrong_tenant, _ = await get_call(client, keys["admin"], tenant="other")
    assert admin_wrong_tenant == 404
    gone = await client.delete(f"{BASE}/other/calls/{CALL}", headers=keys["other"])
    assert gone.status == 404
    assert (await get_call(client, keys["acme"]))[0] == 200  # nothing was erased
    assert (await client.get(f"{BASE}/acme/calls/{CALL}")).status == 401


async def test_erasing_a_call_leaves_nothing_of_it_in_redis_and_is_audited(
    start_app: Any, settings_for: Callable[..., Settings], keys: dict[str, dict[str, str]],
    redis_client: aioredis.Redis, redis_url: str,
) -> None:  # fmt: skip
    client = await start_app(settings_for())
    await converse(client)
    await converse(client, "CAneighbour")
    assert (await get_call(client, keys["admin"]))[0] == 200
    before = await stored(redis_client)
    assert any(CALL.encode() in key for key in before)  # the scan sees the call's records

    response = await client.delete(f"{BASE}/acme/calls/{CALL}", headers=keys["acme"])
    assert response.status == 204
    assert (await get_call(client, keys["admin"]))[0] == 404
    again = await client.delete(f"{BASE}/acme/calls/{CALL}", headers=keys["acme"])
    assert again.status == 404
    assert (await get_call(client, keys["admin"], call_id="CAneighbour"))[0] == 200

    after = await stored(redis_client)
    for key, value in after.items():
        assert CALL.encode() not in key, key
        if key != ENTRIES_KEY.encode():  # the audit log names the call it erased, nothing more
            assert CALL.encode() not in value, key
        for secret in (ACCOUNT, BALANCE, CALLER, SPOKEN, "2 4 6 8"):
            assert secret.encode() not in value, (secret, key)

    page = await (await client.get(f"{BASE}/acme/audit", headers=keys["admin"])).json()
    about = [e for e in page["entries"] if e["details"].get("call_id") == CALL]
    assert [(e["action"], e["actor"], e["details"]["found"]) for e in about] == [
        ("call.erase", key_id(keys["acme"]), False),
        ("call.read", key_id(keys["admin"]), False),
        ("call.erase", key_id(keys["acme"]), True),
        ("call.read", key_id(keys["admin"]), True),
    ]
    assert all(e["ts"] and e["tenant"] == "acme" for e in about)
    verify = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr", "audit", "verify",
        env=service_env(IVR_REDIS_URL=redis_url), cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(verify.communicate(), 60)
    assert verify.returncode == 0, err
    assert b"intact" in out
