"""The dialogs service in the real app, on the real Redis: the text-channel API, sealing at
rest, redaction, retention, erase, stale events and key rotation."""

from __future__ import annotations

import asyncio
import base64
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from dialogs.testing import StubAnswer, StubServer, stub_server
from ivr.datacli import rotate
from ivr.flows import DIALOGS
from ivr.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "dialogs" / "examples"
KEY_A = "a:" + base64.b64encode(bytes(range(32))).decode()
KEY_B = "b:" + base64.b64encode(bytes(range(32, 64))).decode()
ACCOUNT = "12345678"
BALANCE = "4,321.09"
CALLER = "+15557654321"


@pytest.fixture
async def bank() -> AsyncIterator[tuple[str, StubServer]]:
    stub = StubServer(
        {"bank": {f"GET /accounts/{ACCOUNT}/balance": StubAnswer.model_validate(
            {"status": 200, "json": {"balance": BALANCE, "currency": "dollars"}})}}
    )  # fmt: skip
    async with stub_server(stub) as base:
        yield base, stub


@pytest.fixture
def bank_flows(tmp_path: Path, bank: tuple[str, StubServer]) -> Path:
    """The example flows, the bank's back end pointed at a local stub."""
    flows_dir = tmp_path / "flows"
    shutil.copytree(EXAMPLES, flows_dir)
    path = flows_dir / "bank_balance.yaml"
    path.write_text(path.read_text().replace("http://bank.example.internal/api", bank[0] + "/bank"))
    return flows_dir


async def post(client: Any, path: str, body: dict[str, Any], status: int = 200) -> Any:
    response = await client.post(path, json=body)
    data = await response.json()
    assert response.status == status, data
    return data


async def bank_call(client: Any, call_id: str = "call-1") -> dict[str, Any]:
    """A whole bank-balance conversation by voice; returns the last turn."""
    body = {"call_id": call_id, "flow": "bank_balance", "caller": CALLER, "tenant": "acme"}
    first = await post(client, "/v1/dialogs", body, 201)
    assert first["state"] == "ask_account"
    said = "one two three four five six seven eight"
    turn = await post(
        client,
        f"/v1/dialogs/{call_id}/events",
        {"turn": first["turn"], "type": "speech", "text": said, "confidence": 0.9},
    )
    turn = await post(
        client,
        f"/v1/dialogs/{call_id}/events",
        {"turn": turn["turn"], "type": "speech", "text": "yes that's right"},
    )
    assert turn["state"] == "anything_else"
    return dict(turn)


def raw(value: Any) -> bytes:
    assert isinstance(value, bytes)
    return value


async def all_stored_bytes(redis: aioredis.Redis) -> bytes:
    """Every key and value in Redis, whatever its type."""
    out = b""
    async for key in redis.scan_iter(count=1000):
        out += raw(key)
        kind = await redis.type(key)
        if kind == b"string":
            out += raw(await redis.get(key))
        elif kind == b"hash":
            for field, value in (await redis.hgetall(key)).items():
                out += raw(field) + raw(value)
        elif kind == b"list":
            out += b"".join(raw(v) for v in await redis.lrange(key, 0, -1))
        elif kind == b"set":
            out += b"".join(raw(v) for v in await redis.smembers(key))
        elif kind == b"zset":
            out += b"".join(raw(v) for v in await redis.zrange(key, 0, -1))
        else:
            raise AssertionError(f"unexpected type {kind!r} of {key!r}")
    return out


@pytest.fixture
def settings_for(
    make_settings: Callable[..., Settings], bank_flows: Path
) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values = {"flows_dir": bank_flows, "data_keys": KEY_A, "flows_reload": False}
        values.update(overrides)
        return make_settings(**values)

    return make


async def test_a_call_leaves_no_caller_data_in_clear(
    start_app: Any, settings_for: Callable[..., Settings], redis_client: aioredis.Redis,
    bank: tuple[str, StubServer],
) -> None:  # fmt: skip
    client = await start_app(settings_for())
    turn = await bank_call(client)
    assert any(BALANCE in a.get("text", "") for a in turn["actions"])
    assert bank[1].calls == [f"GET /accounts/{ACCOUNT}/balance"]
    live = await all_stored_bytes(redis_client)
    await post(client, "/v1/dialogs/call-1/finish", {"disposition": "completed"})
    finished = await all_stored_bytes(redis_client)
    for stored in (live, finished):
        assert stored  # something is stored: the scan reads real data
        for secret in (ACCOUNT, "1 2 3 4", BALANCE, CALLER, "one two three", "that's right"):
            assert secret.encode() not in stored, secret


async def test_api_answers_mask_the_sensitive_read_back(
    start_app: Any, settings_for: Callable[..., Settings]
) -> None:
    client = await start_app(settings_for())
    first = await post(client, "/v1/dialogs", {"call_id": "c2", "flow": "bank_balance"}, 201)
    turn = await post(
        client,
        "/v1/dialogs/c2/events",
        {"turn": first["turn"], "type": "digits", "digits": ACCOUNT},
    )
    said = " ".join(a["text"] for a in turn["actions"] if a["type"] == "say")
    assert said == "I heard ***. Is that right?"


async def test_outcome_is_masked_unless_redaction_is_off(
    start_app: Any, settings_for: Callable[..., Settings]
) -> None:
    masked = await start_app(settings_for())
    await bank_call(masked, "c3")
    outcome = await post(masked, "/v1/dialogs/c3/finish", {"disposition": "completed"})
    assert outcome["slots"] == {"account": "***"}
    assert outcome["turns"] == 3
    record = await masked.app[DIALOGS].record("c3")
    assert ACCOUNT not in str(record)
    clear = await start_app(settings_for(redact_sensitive=False))
    assert (await clear.app[DIALOGS].outcome("c3")).slots == {"account": ACCOUNT}
    history = (await clear.app[DIALOGS].record("c3"))["history"]
    matched = [h for h in history if h["result"] == "matched"]
    assert matched[0]["rule"] == "spoken_digits" and matched[0]["value"] == ACCOUNT


async def test_outcome_retention_follows_the_tenant_setting(
    start_app: Any, settings_for: Callable[..., Settings], redis_client: aioredis.Redis
) -> None:
    await redis_client.hset("ivr:tenant:acme:meta", "retention_days", "2")
    client = await start_app(settings_for(retention_days=30))
    await bank_call(client, "c4")
    await post(client, "/v1/dialogs/c4/finish", {"disposition": "completed"})
    ttl = await redis_client.ttl("ivr:outcome:c4")
    assert 2 * 86400 - 60 < ttl <= 2 * 86400
    assert not await redis_client.exists("ivr:dialog:c4")


async def test_erase_removes_everything_about_a_call(
    start_app: Any, settings_for: Callable[..., Settings], redis_client: aioredis.Redis
) -> None:
    client = await start_app(settings_for())
    await bank_call(client, "c5")
    await post(client, "/v1/dialogs/c5/finish", {"disposition": "completed"})
    service = client.app[DIALOGS]
    assert await service.erase("c5") is True
    assert await service.outcome("c5") is None
    assert [k async for k in redis_client.scan_iter(match="*:c5")] == []
    assert await service.erase("c5") is False


async def test_stale_and_duplicate_events(
    start_app: Any, settings_for: Callable[..., Settings]
) -> None:
    client = await start_app(settings_for())
    first = await post(client, "/v1/dialogs", {"call_id": "c6", "flow": "bank_balance"}, 201)
    event = {"turn": first["turn"], "type": "digits", "digits": ACCOUNT}
    answer = await post(client, "/v1/dialogs/c6/events", event)
    again = await post(client, "/v1/dialogs/c6/events", event)
    assert again == answer  # a retried event gets the same turn back
    other = {"turn": first["turn"], "type": "digits", "digits": "2"}
    stale = await post(client, "/v1/dialogs/c6/events", other, 409)
    assert stale["turn"] == answer["turn"] and "duplicate or late" in stale["error"]
    ahead = {"turn": answer["turn"] + 5, "type": "no_input"}
    assert "out-of-order" in (await post(client, "/v1/dialogs/c6/events", ahead, 409))["error"]
    missing = await post(client, "/v1/dialogs/nope/events", {"turn": 1, "type": "no_input"}, 404)
    assert "no dialog for call nope" in missing["error"]


async def test_rotation_keeps_old_records_readable(
    start_app: Any, settings_for: Callable[..., Settings], redis_client: aioredis.Redis
) -> None:
    old = await start_app(settings_for(data_keys=KEY_A))
    await bank_call(old, "r1")
    await post(old, "/v1/dialogs/r1/finish", {"disposition": "completed"})
    await post(old, "/v1/dialogs", {"call_id": "r2", "flow": "bank_balance"}, 201)
    assert raw(await redis_client.get("ivr:outcome:r1")).startswith(b"ivr1:a:")
    rotated = await start_app(settings_for(data_keys=f"{KEY_B},{KEY_A}"))
    service = rotated.app[DIALOGS]
    assert (await service.outcome("r1")) is not None  # old key still reads
    resealed, current = await rotate(redis_client, service.store.sealer)
    assert (resealed, current) == (2, 0)
    assert raw(await redis_client.get("ivr:outcome:r1")).startswith(b"ivr1:b:")
    assert raw(await redis_client.hget("ivr:dialog:r2", "data")).startswith(b"ivr1:b:")
    assert await redis_client.ttl("ivr:outcome:r1") > 0
    only_new = await start_app(settings_for(data_keys=KEY_B))
    turn = await post(only_new, "/v1/dialogs/r2/events", {"turn": 1, "type": "no_input"})
    assert turn["state"] == "ask_account"


async def test_readiness_needs_the_default_flow(
    start_app: Any, settings_for: Callable[..., Settings]
) -> None:
    client = await start_app(settings_for(default_flow="missing"))
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 503
    assert "default flow 'missing' is not loaded" in body["problems"]["flows"]


async def test_flows_listing(start_app: Any, settings_for: Callable[..., Settings]) -> None:
    client = await start_app(settings_for())
    body = await (await client.get("/v1/flows")).json()
    assert [f["name"] for f in body["flows"]] == ["bank_balance", "customer_service"]


async def test_two_replicas_answering_one_turn_only_one_wins(
    start_app: Any, settings_for: Callable[..., Settings]
) -> None:
    one = await start_app(settings_for())
    two = await start_app(settings_for())
    first = await post(one, "/v1/dialogs", {"call_id": "race", "flow": "bank_balance"}, 201)
    body = {"turn": first["turn"], "type": "digits", "digits": ACCOUNT}
    other = {"turn": first["turn"], "type": "no_input"}
    answers = await asyncio.gather(
        one.post("/v1/dialogs/race/events", json=body),
        two.post("/v1/dialogs/race/events", json=other),
    )
    statuses = sorted(r.status for r in answers)
    assert statuses == [200, 409]
    state = await one.app[DIALOGS].turn_state("race")
    assert state.turn == first["turn"] + 1 and len(state.history) == 2


async def test_turns_and_misses_are_counted(
    start_app: Any, settings_for: Callable[..., Settings]
) -> None:
    client = await start_app(settings_for())
    first = await post(client, "/v1/dialogs", {"call_id": "m1", "flow": "bank_balance"}, 201)
    turn = await post(client, "/v1/dialogs/m1/events", {"turn": first["turn"], "type": "no_input"})
    await post(client, "/v1/dialogs/m1/events",
               {"turn": turn["turn"], "type": "speech", "text": "purple"})  # fmt: skip
    metrics = await (await client.get("/metrics")).text()
    for line in (
        'ivr_dialog_calls_total{flow="bank_balance"} 1.0',
        'ivr_dialog_turns_total{flow="bank_balance"} 3.0',
        'ivr_dialog_no_input_total{flow="bank_balance"} 1.0',
        'ivr_dialog_no_match_total{flow="bank_balance"} 1.0',
        "ivr_dialog_flows_loaded 2.0",
    ):
        assert line in metrics
