"""The container's command and environment, run for real: `ivr serve` with the image's ENV and
compose's environment (addresses moved to loopback, Redis to the test server), then health,
metrics and the drain on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from ivr.settings import Settings
from tests.conftest import ServiceProcess, free_port
from tests.deploy.deployfiles import REPO, Stage, container_env, env_file, require_ready

# Only where the service listens and which Redis it uses differ from the container.
LOCAL_ONLY = {"IVR_HOST", "IVR_PORT", "IVR_AUDIOSOCKET_PORT", "IVR_REDIS_URL"}


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def start_as_container(
    start_service: Callable[..., ServiceProcess],
    stage: Stage,
    compose_service: dict[str, Any],
    redis_url: str,
    **extra: str,
) -> ServiceProcess:
    assert stage.entrypoint == ["ivr", "serve"], "the tests run `ivr serve` as `python -m ivr`"
    assert stage.cmd is None
    env = {k: v for k, v in container_env(stage, compose_service).items() if k not in LOCAL_ONLY}
    env.update(IVR_REDIS_URL=redis_url, IVR_AUDIOSOCKET_PORT=str(free_port()), **extra)
    return start_service(**env)


def test_image_entrypoint_is_exec_form_ivr_serve(dockerfile: dict[str, Stage]) -> None:
    for target in ("cpu", "gpu"):
        assert dockerfile[target].entrypoint == ["ivr", "serve"]
        assert dockerfile[target].cmd is None


def test_image_and_compose_variables_are_real_settings(
    dockerfile: dict[str, Stage], compose: dict[str, Any]
) -> None:
    known = {f"IVR_{name.upper()}" for name in Settings.model_fields}
    for target in ("cpu", "gpu"):
        unknown = {k for k in dockerfile[target].env if k.startswith("IVR_")} - known
        assert not unknown, f"Dockerfile target {target} sets unknown settings {unknown}"
    unknown = set(env_file(REPO / "compose" / "ivr.env.example")) - known
    assert not unknown, f"compose/ivr.env.example sets unknown settings {unknown}"
    for name, service in compose["services"].items():
        unknown = {k for k in service.get("environment", {}) if k.startswith("IVR_")} - known
        assert not unknown, f"compose service {name} sets unknown settings {unknown}"


def test_container_command_serves_health_readiness_and_metrics(
    start_service: Callable[..., ServiceProcess],
    dockerfile: dict[str, Stage],
    compose: dict[str, Any],
    redis_url: str,
) -> None:
    service = start_as_container(
        start_service, dockerfile["cpu"], compose["services"]["ivr"], redis_url
    )
    status, body = get(f"{service.url}/healthz")
    assert status == 200 and b'"ok"' in body
    assert require_ready(service.url) == {"status": "ready"}
    status, body = get(f"{service.url}/metrics")
    assert status == 200
    text = body.decode()
    assert "ivr_ready 1.0" in text
    assert "ivr_store_up 1.0" in text
    assert "ivr_http_requests_total" in text


def test_sigterm_on_an_idle_service_exits_zero(
    start_service: Callable[..., ServiceProcess],
    dockerfile: dict[str, Stage],
    compose: dict[str, Any],
    redis_url: str,
) -> None:
    service = start_as_container(
        start_service, dockerfile["cpu"], compose["services"]["ivr"], redis_url
    )
    service.signal(signal.SIGTERM)
    assert service.wait(timeout=30) == 0


async def _has_stream_route(url: str) -> bool:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/v1/stream") as response:
        return response.status != 404


async def test_sigterm_drains_a_live_stream_and_refuses_a_new_one(
    start_service: Callable[..., ServiceProcess],
    dockerfile: dict[str, Stage],
    compose: dict[str, Any],
    redis_url: str,
) -> None:
    service = start_as_container(
        start_service,
        dockerfile["cpu"],
        compose["services"]["ivr"],
        redis_url,
        IVR_DRAIN_TIMEOUT_S="120",
    )
    await asyncio.to_thread(require_ready, service.url)
    if not await _has_stream_route(service.url):
        pytest.skip(
            "/v1/stream is not in this build yet (recognizer area); drain is covered "
            "in-process by test_drain.py until it lands"
        )
    silence = bytes(3200)  # 200 ms of 8 kHz 16-bit silence
    async with aiohttp.ClientSession() as session:
        live = await session.ws_connect(f"{service.url}/v1/stream")
        await live.send_str(json.dumps({"type": "config", "encoding": "l16", "sample_rate": 8000}))
        await live.send_bytes(silence)
        service.signal(signal.SIGTERM)
        for _ in range(200):
            async with session.get(f"{service.url}/readyz") as response:
                if response.status == 503:
                    break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("/readyz never turned 503 after SIGTERM")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(f"{service.url}/v1/stream")
        assert refused.value.status == 503
        assert service.process.poll() is None, "exited while a stream was in progress"

        # The stream in progress goes on to its end as if nothing happened.
        await live.send_bytes(silence)
        await live.send_str(json.dumps({"type": "end"}))
        replies = [msg async for msg in live]
        assert live.close_code == aiohttp.WSCloseCode.OK, replies
        assert not any(
            msg.type == aiohttp.WSMsgType.TEXT and json.loads(msg.data).get("type") == "error"
            for msg in replies
        ), replies
    assert await asyncio.to_thread(service.wait, 60) == 0
