"""The OpenAPI document matches the routes the app serves, and a schemathesis run against the
live service (admin key, bounded examples) finds no answer that breaks it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import redis
import redis.asyncio as aioredis

from ivr.admin.audit import ENTRIES_KEY
from ivr.admin.keys import KeyStore
from ivr.admin.openapi import EXAMPLES
from tests.conftest import ServiceProcess, service_env

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance,negative_data_rejection"
)
EXAMPLES_PER_OPERATION = 25  # deeper on demand: IVR_ADMIN_FUZZ_EXAMPLES is not read here


def admin_routes(app: Any) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith("/admin/v1") and route.method != "HEAD":
            found.add((route.method.lower(), path))
    return found


async def test_the_document_lists_exactly_the_apps_admin_routes(client: Any) -> None:
    response = await client.get("/admin/openapi.json")
    assert response.status == 200
    doc = await response.json()
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == admin_routes(client.server.app)


async def test_the_documents_schemas_are_valid_json_schema(client: Any) -> None:
    doc = await (await client.get("/admin/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    for name, schema in doc["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema), name
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            names = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert names == {s.strip("{}") for s in path.split("/") if s.startswith("{")}
            assert "401" in op["responses"] and "403" in op["responses"], (method, path)


async def _admin_secret(redis_url: str) -> str:
    client = aioredis.Redis.from_url(redis_url)
    new = await KeyStore(client).create("admin", None, "schemathesis")
    await client.aclose()
    return new.secret


def test_schemathesis_finds_no_failure_against_the_live_service(
    start_service: Callable[..., ServiceProcess], redis_url: str, tmp_path: Path
) -> None:
    service = start_service(IVR_REDIS_URL=redis_url, IVR_ADMIN_RATE_PER_MINUTE="1000000")
    secret = asyncio.run(_admin_secret(redis_url))
    request = urllib.request.Request(
        f"{service.url}/admin/v1/tenants",
        data=json.dumps({"id": "acme"}).encode(),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
    call_id = EXAMPLES["call_id"]  # a real finished call under the documented example id
    for path, body in (
        ("/v1/dialogs", {"call_id": call_id, "tenant": "acme"}),
        (f"/v1/dialogs/{call_id}/finish", {"disposition": "completed"}),
    ):
        post = urllib.request.Request(
            f"{service.url}{path}", data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(post, timeout=10) as response:
            assert response.status in (200, 201)
    st = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [
            str(st), "run", f"{service.url}/admin/openapi.json",
            "-H", f"Authorization: Bearer {secret}",
            "--checks", CHECKS,
            "--max-examples", str(EXAMPLES_PER_OPERATION),
            "--seed", "7", "--workers", "1", "--no-color",
            "--generation-database", "none",
        ],
        env=service_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Authentication failed" not in output and "Rate limited" not in output, output[-3000:]
    with urllib.request.urlopen(f"{service.url}/healthz", timeout=5) as response:
        assert response.status == 200
    client = redis.Redis.from_url(redis_url)
    entries = [json.loads(raw) for raw in client.hvals(ENTRIES_KEY)]
    client.close()
    seen = {(e["action"], e["details"].get("found")) for e in entries}
    assert ("call.read", True) in seen and ("call.erase", True) in seen, sorted(seen)
