"""`IVR_API_AUTH=required`: API keys on `/v1/recognize`, `/v1/stream`, `/v1/dialogs*`,
`/v1/flows` and `GET /calls/{call_id}`, in the real app on the real Redis. With the default
`off` the other tests of these routes run without keys."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import redis.asyncio as aioredis
import soundfile

from ivr.api import RECOGNIZER
from ivr.calls import RECORD_PREFIX
from ivr.settings import Settings
from tests.hotwords.support import bearer, make_tenant
from tests.recognizer.speech import find_model_dir

StartApp = Callable[[Settings], Any]
EXAMPLES = Path(__file__).resolve().parents[2] / "dialogs" / "examples"
NOBODY: dict[str, str] = {}
BAD_KEY = {"Authorization": "Bearer ivrk_nosuchkey_0000"}


async def keyed_app(start_app: StartApp, settings: Settings) -> tuple[Any, dict[str, Any]]:
    """The app with tenants acme and globex, and an admin key and a key for each tenant."""
    client = await start_app(settings)
    admin = await bearer(client)
    for tenant in ("acme", "globex"):
        await make_tenant(client, admin, tenant)
    keys = {
        "admin": admin,
        "acme": await bearer(client, "tenant", "acme"),
        "globex": await bearer(client, "tenant", "globex"),
    }
    return client, keys


def dialog_settings(make_settings: Callable[..., Settings], **extra: Any) -> Settings:
    return make_settings(api_auth="required", flows_dir=EXAMPLES, flows_reload=False, **extra)


async def status_and_body(response: Any) -> tuple[int, Any]:
    return response.status, await response.json()


def test_the_setting_defaults_to_off_and_reads_ivr_api_auth(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert make_settings().api_auth == "off"
    monkeypatch.setenv("IVR_API_AUTH", "required")
    assert Settings(_env_file=None).api_auth == "required"  # type: ignore[call-arg]


async def test_dialogs_need_a_key_for_the_calls_tenant(
    start_app: StartApp, make_settings: Callable[..., Settings]
) -> None:
    client, keys = await keyed_app(start_app, dialog_settings(make_settings))
    start = {"tenant": "acme", "flow": "customer_service"}
    assert (await client.post("/v1/dialogs", json=start)).status == 401
    assert (await client.post("/v1/dialogs", json=start, headers=BAD_KEY)).status == 401
    status, body = await status_and_body(
        await client.post("/v1/dialogs", json=start, headers=keys["globex"])
    )
    assert status == 403 and "globex" in body["error"], body

    for who in ("acme", "admin"):
        call_id = f"call-{who}"
        response = await client.post(
            "/v1/dialogs", json={**start, "call_id": call_id}, headers=keys[who]
        )
        assert response.status == 201, await response.text()
        turn = (await response.json())["turn"]
        event = {"turn": turn, "type": "digits", "digits": "1"}
        path = f"/v1/dialogs/{call_id}/events"
        assert (await client.post(path, json=event)).status == 401
        status, body = await status_and_body(
            await client.post(path, json=event, headers=keys["globex"])
        )
        assert status == 403, body
        response = await client.post(path, json=event, headers=keys[who])
        assert response.status == 200, await response.text()
        finish = f"/v1/dialogs/{call_id}/finish"
        done = {"disposition": "caller_hangup"}
        assert (await client.post(finish, json=done)).status == 401
        assert (await client.post(finish, json=done, headers=keys["globex"])).status == 403
        response = await client.post(finish, json=done, headers=keys[who])
        assert response.status == 200, await response.text()
        assert (await response.json())["call_id"] == call_id


async def test_an_unknown_dialog_is_401_without_a_key_and_404_with_one(
    start_app: StartApp, make_settings: Callable[..., Settings]
) -> None:
    client, keys = await keyed_app(start_app, dialog_settings(make_settings))
    path = "/v1/dialogs/no-such-call/finish"
    assert (await client.post(path, json={"disposition": "caller_hangup"})).status == 401
    response = await client.post(path, json={"disposition": "caller_hangup"}, headers=keys["acme"])
    assert response.status == 404, await response.text()


async def test_flows_need_any_valid_key(
    start_app: StartApp, make_settings: Callable[..., Settings]
) -> None:
    client, keys = await keyed_app(start_app, dialog_settings(make_settings))
    assert (await client.get("/v1/flows")).status == 401
    assert (await client.get("/v1/flows", headers=BAD_KEY)).status == 401
    for who in ("acme", "globex", "admin"):
        response = await client.get("/v1/flows", headers=keys[who])
        assert response.status == 200
        names = {flow["name"] for flow in (await response.json())["flows"]}
        assert "customer_service" in names


async def test_a_call_record_needs_a_key_for_the_calls_tenant(
    start_app: StartApp, make_settings: Callable[..., Settings], redis_client: aioredis.Redis
) -> None:
    client, keys = await keyed_app(start_app, make_settings(api_auth="required"))
    record = {"call_id": "c-1", "tenant": "acme", "disposition": "hangup", "turns": []}
    await redis_client.set(RECORD_PREFIX + "c-1", json.dumps(record), ex=300)
    assert (await client.get("/calls/c-1")).status == 401
    assert (await client.get("/calls/c-1", headers=BAD_KEY)).status == 401
    status, body = await status_and_body(await client.get("/calls/c-1", headers=keys["globex"]))
    assert status == 403 and "acme" not in json.dumps(body), body
    for who in ("acme", "admin"):
        status, body = await status_and_body(await client.get("/calls/c-1", headers=keys[who]))
        assert status == 200 and body["tenant"] == "acme", body
    assert (await client.get("/calls/c-2")).status == 401
    assert (await client.get("/calls/c-2", headers=keys["acme"])).status == 404


async def test_refusals_on_the_v1_routes_are_audited(
    start_app: StartApp, make_settings: Callable[..., Settings]
) -> None:
    client, keys = await keyed_app(start_app, dialog_settings(make_settings))
    await client.post("/v1/dialogs", json={"tenant": "acme"}, headers=keys["globex"])
    response = await client.get("/admin/v1/tenants/globex/audit", headers=keys["globex"])
    entries = (await response.json())["entries"]
    denied = [e for e in entries if e["action"] == "access.denied"]
    assert denied and denied[0]["details"]["path"] == "/v1/dialogs"
    assert denied[0]["details"]["wanted_tenant"] == "acme"


def silence_wav() -> bytes:
    out = io.BytesIO()
    soundfile.write(out, np.zeros(8000, dtype=np.int16), 8000, format="WAV", subtype="PCM_16")
    return out.getvalue()


async def test_recognize_and_stream_need_a_key_for_the_tenant(
    start_app: StartApp, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(api_auth="required", model_dir=find_model_dir())
    client, keys = await keyed_app(start_app, settings)
    await asyncio.wait_for(client.server.app[RECOGNIZER].wait_loaded(), 60)
    wav = {"Content-Type": "audio/wav"}
    path = "/v1/recognize?tenant=acme"
    assert (await client.post(path, data=silence_wav(), headers=wav)).status == 401
    response = await client.post(path, data=silence_wav(), headers={**wav, **keys["globex"]})
    assert response.status == 403
    for who in ("acme", "admin"):
        response = await client.post(path, data=silence_wav(), headers={**wav, **keys[who]})
        assert response.status == 200, await response.text()
        assert "text" in await response.json()
    # no tenant named: admin keys only
    response = await client.post(
        "/v1/recognize", data=silence_wav(), headers={**wav, **keys["acme"]}
    )
    assert response.status == 403

    for headers in (NOBODY, BAD_KEY):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/v1/stream", headers=headers)
        assert refused.value.status == 401
    config = {"type": "config", "encoding": "pcmu", "tenant": "acme"}
    async with client.ws_connect("/v1/stream", headers=keys["globex"]) as ws:
        await ws.send_str(json.dumps(config))
        message = await ws.receive_json(timeout=10)
        assert message["type"] == "error" and "globex" in message["message"]
        closing = await ws.receive(timeout=10)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
    for who in ("acme", "admin"):
        async with client.ws_connect("/v1/stream", headers=keys[who]) as ws:
            await ws.send_str(json.dumps(config))
            await ws.send_bytes(b"\xff" * 160 * 10)
            await ws.send_str(json.dumps({"type": "end"}))
            events = []
            async for msg in ws:
                assert msg.type == aiohttp.WSMsgType.TEXT
                events.append(json.loads(msg.data))
            assert all(event["type"] != "error" for event in events), events
        assert ws.close_code == aiohttp.WSCloseCode.OK
