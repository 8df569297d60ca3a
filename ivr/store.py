"""The shared store: Redis when `IVR_REDIS_URL` is set, an in-process fake otherwise.

Everything that must survive a replica change (hot words, dialog context, keys, audit) lives
here, so replicas keep no call state of their own.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ivr.settings import SETTINGS, Settings

log = logging.getLogger(__name__)


@dataclass
class Store:
    """The Redis client every area shares (`redis.asyncio.Redis` API)."""

    redis: aioredis.Redis
    embedded: bool

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self.redis.aclose()


STORE = web.AppKey("store", Store)


def open_store(settings: Settings) -> Store:
    """Connect lazily: a Redis that is down at start-up makes `/readyz` 503, not a crash."""
    if not settings.redis_url:
        import fakeredis

        log.warning(
            "IVR_REDIS_URL is not set: using an in-process store; state is local to this "
            "process and lost when it exits (fine for one process, not for replicas)"
        )
        server = fakeredis.FakeServer()
        client: aioredis.Redis = fakeredis.FakeAsyncRedis(server=server, decode_responses=False)
        return Store(redis=client, embedded=True)
    kwargs: dict[str, Any] = {
        "socket_timeout": settings.redis_timeout_s,
        "socket_connect_timeout": settings.redis_timeout_s,
        "health_check_interval": 15,
        "retry": Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=2),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
        "max_connections": 256,
    }
    if settings.redis_url.startswith("rediss://"):
        kwargs["ssl_cert_reqs"] = ssl.CERT_REQUIRED
        if settings.redis_ca_file is not None:
            kwargs["ssl_ca_certs"] = str(settings.redis_ca_file)
    client = aioredis.Redis.from_url(settings.redis_url, **kwargs)
    return Store(redis=client, embedded=False)


async def store_context(app: web.Application) -> AsyncIterator[None]:
    store = open_store(app[SETTINGS])
    app[STORE] = store
    yield
    await store.close()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(store_context)
