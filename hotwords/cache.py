"""Each replica's copy of every tenant's hot words, kept fresh two ways.

1. Writes publish `[tenant, version]` on `ivr:hotwords:invalidate`; a listener task drops (and
   reloads) the tenant's copy as soon as the message arrives.
2. `get()` reads the tenant's version (one GET) before answering, so a message missed while the
   subscription was down costs one reload, never a stale answer. The listener re-subscribes
   after Redis restarts and then forgets everything it held, since it may have missed messages.

If Redis does not answer, `get()` serves the last copy it has (or nothing): a call goes on
without its boosts rather than failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from redis.exceptions import RedisError

from hotwords.store import INVALIDATION_CHANNEL, HotwordStore
from recognizer.phrases import Hotword

log = logging.getLogger(__name__)
RESUBSCRIBE_DELAY_S = 0.2
LISTEN_POLL_S = 0.5


@dataclass(frozen=True)
class TenantHotwords:
    """What the recognizer gets for one tenant: phrases and boosts as of one version."""

    tenant: str
    version: int
    phrases: tuple[Hotword, ...]


class CacheMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.phrases = Gauge(
            "ivr_hotwords_phrases",
            "Hot words this replica holds per tenant.",
            ["tenant"],
            registry=registry,
        )
        self.hits = Counter(
            "ivr_hotwords_cache_hits_total", "Cache answers at the current version.",
            registry=registry,
        )  # fmt: skip
        self.misses = Counter(
            "ivr_hotwords_cache_misses_total", "Cache answers that needed a reload.",
            registry=registry,
        )  # fmt: skip
        self.invalidations = Counter(
            "ivr_hotwords_invalidations_total", "Invalidation messages received.",
            registry=registry,
        )  # fmt: skip
        self.subscriptions = Counter(
            "ivr_hotwords_subscriptions_total",
            "Times the invalidation channel was (re)subscribed.",
            registry=registry,
        )
        self.reload = Histogram(
            "ivr_hotwords_reload_seconds",
            "Time to reload one tenant's hot words from Redis.",
            registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
        )


class HotwordCache:
    """Per-tenant hot words for this replica; `get(tenant)` at each call or stream start."""

    def __init__(self, store: HotwordStore, registry: CollectorRegistry) -> None:
        self.store = store
        self.metrics = CacheMetrics(registry)
        self._entries: dict[str, TenantHotwords] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._listener: asyncio.Task[None] | None = None
        self._stopping = False
        self.subscribed = asyncio.Event()

    async def get(self, tenant: str) -> TenantHotwords:
        """The tenant's hot words at its current version (empty, version 0, if unknown)."""
        cached = self._entries.get(tenant)
        try:
            version = await self.store.version(tenant)
            if cached is not None and cached.version == version:
                self.metrics.hits.inc()
                return cached
            self.metrics.misses.inc()
            return await self._reload(tenant)
        except (RedisError, OSError) as exc:
            log.warning("hot words: store unreachable, serving the cached copy: %s", exc)
            return cached or TenantHotwords(tenant, 0, ())

    async def _reload(self, tenant: str) -> TenantHotwords:
        lock = self._locks.setdefault(tenant, asyncio.Lock())
        async with lock:  # one reload per tenant at a time; followers reuse its result
            started = time.perf_counter()
            snap = await self.store.snapshot(tenant)
            cached = self._entries.get(tenant)
            if cached is not None and cached.version == snap.version:
                return cached
            entry = TenantHotwords(
                tenant=tenant,
                version=snap.version,
                phrases=tuple(Hotword(h.phrase, h.boost) for h in snap.hotwords),
            )
            self._entries[tenant] = entry
            self.metrics.phrases.labels(tenant).set(len(entry.phrases))
            self.metrics.reload.observe(time.perf_counter() - started)
            return entry

    def cached(self, tenant: str) -> TenantHotwords | None:
        """The copy held now, without asking Redis (for diagnostics)."""
        return self._entries.get(tenant)

    async def _invalidated(self, tenant: str, version: int) -> None:
        self.metrics.invalidations.inc()
        cached = self._entries.get(tenant)
        if cached is None or cached.version >= version:
            return
        try:
            await self._reload(tenant)  # warm again, so the next call pays nothing
        except (RedisError, OSError):
            self._entries.pop(tenant, None)

    async def _listen_once(self) -> None:
        pubsub = self.store.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(INVALIDATION_CHANNEL)
            self.metrics.subscriptions.inc()
            # Messages sent while we were away are lost: start again from nothing.
            self._entries.clear()
            self.subscribed.set()
            while not self._stopping:
                message = await pubsub.get_message(timeout=LISTEN_POLL_S)
                if message is None or message.get("type") != "message":
                    continue
                try:
                    tenant, version = json.loads(message["data"])
                except (ValueError, TypeError):
                    log.warning("hot words: ignoring a malformed invalidation message")
                    continue
                await self._invalidated(str(tenant), int(version))
        finally:
            self.subscribed.clear()
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _listen(self) -> None:
        while not self._stopping:
            try:
                await self._listen_once()
            except (RedisError, OSError) as exc:
                log.info("hot words: invalidation channel lost (%s); re-subscribing", exc)
            await asyncio.sleep(RESUBSCRIBE_DELAY_S)

    def start(self) -> None:
        self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def stop(self) -> None:
        # redis-py's get_message can swallow a cancellation that lands during its read, so the
        # loop also checks a flag (at most LISTEN_POLL_S later).
        self._stopping = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
