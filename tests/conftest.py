"""Shared fixtures: a real redis-server on a free loopback port, the real app on loopback, and
the real `ivr serve` process for tests that need signals or several replicas."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.app import create_app
from ivr.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """A redis-server child process that a test can stop and start again on the same port."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run the README's test command")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        client = redis.Redis(port=self.port, socket_timeout=0.5)
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    client.close()
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        pytest.fail(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with tempfile.TemporaryDirectory() as workdir:
        server = RedisServer(port=free_port(), workdir=Path(workdir))
        server.start()
        yield server
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A clean database on the shared server (restarted if a test left it stopped)."""
    if redis_server.process is None or redis_server.process.poll() is not None:
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def make_settings(redis_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a test app: the test Redis, loopback, no `.env` from the developer."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "redis_url": redis_url,
            "host": "127.0.0.1",
            "port": 0,
            "audiosocket_port": 0,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return make


@pytest.fixture
async def start_app() -> AsyncIterator[Callable[[Settings], Any]]:
    """Start the real app on a loopback port; returns a client bound to it."""
    clients: list[TestClient[web.Request, web.Application]] = []

    async def start(settings: Settings) -> TestClient[web.Request, web.Application]:
        server = TestServer(create_app(settings), host="127.0.0.1")
        client = TestClient(server)
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in reversed(clients):
        await client.close()


@pytest.fixture
async def client(
    start_app: Callable[[Settings], Any], make_settings: Callable[..., Settings]
) -> TestClient[web.Request, web.Application]:
    """The app with default settings on the test Redis."""
    return await start_app(make_settings())  # type: ignore[no-any-return]


@dataclass
class ServiceProcess:
    """`ivr serve` as a child process, as the container runs it."""

    port: int
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


def service_env(**env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    base["PYTHONPATH"] = str(REPO)  # this checkout's code, also in a git worktree
    base.update(env)
    return base


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Start `python -m ivr serve` with IVR_* variables and wait until `/healthz` answers."""
    started: list[ServiceProcess] = []

    def start(ready_timeout: float = 60.0, **env: str) -> ServiceProcess:
        import urllib.request

        port = int(env.pop("IVR_PORT", str(free_port())))
        # Replicas in one test (and tests in parallel) must not fight over AudioSocket's port.
        env.setdefault("IVR_AUDIOSOCKET_PORT", "0")
        log_path = tmp_path / f"service-{port}.log"
        log_file = log_path.open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "ivr", "serve"],
            env=service_env(IVR_PORT=str(port), IVR_HOST="127.0.0.1", **env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
        )
        service = ServiceProcess(port=port, process=process)
        started.append(service)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"ivr serve exited {process.returncode}: {log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{service.url}/healthz", timeout=1):
                    return service
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"ivr serve did not answer /healthz: {log_path.read_text()}")

    yield start
    for service in started:
        service.stop()
