"""The service foundation: health, readiness against a real Redis, metrics, JSON errors,
settings errors and JSON logs."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ivr.settings import Settings
from tests.conftest import REPO, RedisServer, ServiceProcess, service_env


async def test_healthz_answers_ok(client: Any) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json()) == {"status": "ok"}


async def test_unknown_route_is_a_json_404(client: Any) -> None:
    response = await client.get("/no/such/route")
    assert response.status == 404
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["status"] == 404
    assert body["request_id"]


async def test_wrong_method_is_a_json_405_with_allow(client: Any) -> None:
    response = await client.post("/healthz")
    assert response.status == 405
    assert response.content_type == "application/json"
    assert "GET" in response.headers["Allow"]


async def test_oversized_body_is_a_json_413_naming_the_limit(
    start_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    client = await start_app(make_settings(max_body_bytes=2048))
    response = await client.post("/v1/recognize", data=b"x" * 5000)
    assert response.status == 413
    body = await response.json()
    assert "2048" in body["error"] and "IVR_MAX_BODY_BYTES" in body["error"]


async def test_request_id_is_echoed(client: Any) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": "abc123"})
    assert response.headers["X-Request-Id"] == "abc123"


async def test_readyz_names_the_store_when_redis_is_down_and_recovers(
    start_app: Callable[[Settings], Any],
    make_settings: Callable[..., Settings],
    redis_server: RedisServer,
) -> None:
    client = await start_app(make_settings(redis_timeout_s=0.5))
    redis_server.stop()
    try:
        response = await client.get("/readyz")
        assert response.status == 503
        assert "store" in (await response.json())["problems"]
    finally:
        redis_server.start()
    deadline = time.monotonic() + 10
    problems: dict[str, str] = {}
    while time.monotonic() < deadline:
        response = await client.get("/readyz")
        problems = (await response.json()).get("problems", {})
        if "store" not in problems:
            break
        await asyncio.sleep(0.2)
    assert "store" not in problems


async def test_metrics_use_route_templates_and_ivr_names(client: Any) -> None:
    await client.get("/healthz")
    await client.get("/no/such/route")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    text = await response.text()
    assert re.search(
        r'ivr_http_requests_total\{method="GET",route="/healthz",status="200"\} 1\.0', text
    )
    assert 'route="unmatched"' in text
    assert "/no/such/route" not in text
    assert "process_cpu_seconds_total" in text


def test_invalid_port_stops_startup_naming_the_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ivr", "serve"],
        env=service_env(IVR_PORT="abc"),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "IVR_PORT" in result.stderr
    assert result.stderr.count("\n") == 1


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("IVR_PORT=9999\nIVR_LOG_LEVEL=DEBUG\n")
    code = "from ivr.settings import load_settings; s = load_settings(); print(s.port, s.log_level)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=service_env(PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.stdout.split() == ["9999", "DEBUG"]


def test_service_logs_json_lines_with_request_ids(
    start_service: Callable[..., ServiceProcess], redis_url: str, tmp_path: Path
) -> None:
    service = start_service(IVR_REDIS_URL=redis_url)
    import urllib.request

    request = urllib.request.Request(f"{service.url}/nowhere", headers={"X-Request-Id": "rq-7"})
    try:
        urllib.request.urlopen(request, timeout=5)
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
    service.signal(15)
    assert service.wait(30) == 0
    log_text = next(tmp_path.glob("service-*.log")).read_text()
    lines = [json.loads(line) for line in log_text.splitlines()]
    assert all({"ts", "level", "msg"} <= set(line) for line in lines)
    access = [line for line in lines if line.get("request_id") == "rq-7"]
    assert access and access[0]["status"] == 404 and access[0]["path"] == "/nowhere"


def test_readme_configuration_table_lists_every_setting() -> None:
    readme = (REPO / "README.md").read_text()
    documented = set(re.findall(r"^\| `(IVR_[A-Z0-9_]+)` \|", readme, flags=re.MULTILINE))
    expected = {f"IVR_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected


async def test_two_apps_in_one_process_share_no_metrics(
    start_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> None:
    first = await start_app(make_settings())
    second = await start_app(make_settings())
    await first.get("/healthz")
    await first.get("/healthz")
    text = await (await second.get("/metrics")).text()
    assert 'route="/healthz",status="200"} 2.0' not in text


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
async def test_embedded_store_serves_without_redis(
    start_app: Callable[[Settings], Any], make_settings: Callable[..., Settings], path: str
) -> None:
    client = await start_app(make_settings(redis_url=None))
    response = await client.get(path)
    assert response.status in (200, 503)
    if path == "/readyz" and response.status == 503:
        assert "store" not in (await response.json())["problems"]
