"""Dialog turn latency and throughput: the engine alone, and the service on a real Redis
(read, unseal, engine, seal, compare-and-set write per turn).

    python -m bench.dialogs --calls 200 [--redis-url redis://127.0.0.1:6379/0]

Without --redis-url it starts a throw-away redis-server on a free port.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

import aiohttp
import click
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from dialogs.actions import Digits, Event, NoInput, Speech
from dialogs.context import ContextStore
from dialogs.engine import advance, begin
from dialogs.registry import FlowRegistry
from dialogs.sealing import Sealer, parse_keys
from dialogs.service import DialogMetrics, DialogService
from ivr.settings import DEFAULT_FLOWS_DIR, Settings

SCRIPT: list[Event] = [Speech("I have a question about my invoice", 0.9), NoInput(),
                       Speech("no", 0.9), Digits("3"), Speech("yes", 0.9)]  # fmt: skip
NOON = dt.datetime(2026, 1, 5, 17, tzinfo=dt.UTC)


def _percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[int(len(ms) * 0.95) - 1]
    return f"p50 {statistics.median(ms):.2f} ms, p95 {p95:.2f} ms, n={len(ms)}"


def bench_engine(registry: FlowRegistry, calls: int) -> None:
    samples: list[float] = []
    for i in range(calls):
        state = begin(registry, "customer_service", call_id=f"e{i}", tenant="t", caller=None,
                      called=None, now=NOON).state  # fmt: skip
        for event in SCRIPT:
            started = time.perf_counter()
            state = advance(registry, state, event).state
            samples.append(time.perf_counter() - started)
    click.echo(f"engine turn:  {_percentiles(samples)}")


async def bench_service(url: str, calls: int, concurrency: int) -> None:
    redis = aioredis.Redis.from_url(url)
    registry = FlowRegistry(DEFAULT_FLOWS_DIR)
    registry.reload(force=True)
    key = "b:" + base64.b64encode(os.urandom(32)).decode()
    settings = Settings(_env_file=None, data_keys=key)
    store = ContextStore(redis, Sealer(parse_keys(key)), 600)
    samples: list[float] = []
    async with aiohttp.ClientSession() as http:
        service = DialogService(settings, registry, store, http,
                                DialogMetrics(CollectorRegistry()), clock=lambda: NOON)  # fmt: skip
        gate = asyncio.Semaphore(concurrency)

        async def call(i: int) -> None:
            async with gate:
                turn = await service.start(call_id=f"s{i}", tenant="t", flow=None, caller=None,
                                           called=None)  # fmt: skip
                for event in SCRIPT:
                    started = time.perf_counter()
                    turn = await service.handle(f"s{i}", event, turn=turn.turn)
                    samples.append(time.perf_counter() - started)
                await service.finish(f"s{i}", "transferred")

        started = time.perf_counter()
        await asyncio.gather(*(call(i) for i in range(calls)))
        elapsed = time.perf_counter() - started
    await redis.flushdb()
    await redis.aclose()
    click.echo(f"service turn: {_percentiles(samples)} ({concurrency} calls at a time)")
    click.echo(f"throughput:   {len(samples) / elapsed:.0f} turns/s on one event loop")


@click.command()
@click.option("--calls", default=200, show_default=True)
@click.option("--concurrency", default=20, show_default=True)
@click.option("--redis-url", default=None)
def main(calls: int, concurrency: int, redis_url: str | None) -> None:
    registry = FlowRegistry(DEFAULT_FLOWS_DIR)
    registry.reload(force=True)
    bench_engine(registry, calls)
    if redis_url is not None:
        asyncio.run(bench_service(redis_url, calls, concurrency))
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise click.ClickException("redis-server is not installed; pass --redis-url")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as workdir:
        server = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir],
            stdout=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)
            asyncio.run(bench_service(f"redis://127.0.0.1:{port}/0", calls, concurrency))
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
