"""The per-replica cache: what `app[HOTWORDS].get(tenant)` hands the recognizer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from hotwords.cache import HotwordCache, TenantHotwords
from hotwords.store import HotwordStore, PhraseSpec
from ivr.admin import HOTWORDS
from ivr.metrics import METRICS
from ivr.settings import Settings
from recognizer.phrases import Hotword
from tests.conftest import RedisServer


def sample(registry: CollectorRegistry, name: str) -> float:
    value = registry.get_sample_value(name)
    return 0.0 if value is None else value


async def test_an_unknown_tenant_has_no_hot_words_at_version_zero(client: Any) -> None:
    assert await client.server.app[HOTWORDS].get("nobody") == TenantHotwords("nobody", 0, ())


async def test_get_answers_the_current_version_and_counts_hits_and_misses(
    client: Any,
) -> None:
    cache = client.server.app[HOTWORDS]
    registry = client.server.app[METRICS].registry
    await cache.store.create_tenant("acme")
    result = await cache.store.merge("acme", [PhraseSpec("quorvia premier", 12.0)])
    misses = sample(registry, "ivr_hotwords_cache_misses_total")
    first = await cache.get("acme")
    assert first == TenantHotwords("acme", result.version, (Hotword("quorvia premier", 12.0),))
    hits = sample(registry, "ivr_hotwords_cache_hits_total")
    assert await cache.get("acme") is first
    assert sample(registry, "ivr_hotwords_cache_hits_total") == hits + 1
    assert sample(registry, "ivr_hotwords_cache_misses_total") == misses + 1
    assert registry.get_sample_value("ivr_hotwords_phrases", {"tenant": "acme"}) == 1.0
    assert sample(registry, "ivr_hotwords_reload_seconds_count") >= 1


async def test_a_write_made_elsewhere_is_seen_by_the_next_get(
    client: Any, redis_client: Any
) -> None:
    cache = client.server.app[HOTWORDS]
    other_replica = HotwordStore(redis_client, max_per_tenant=10)
    await other_replica.create_tenant("acme")
    assert (await cache.get("acme")).phrases == ()
    await other_replica.merge("acme", [PhraseSpec("new product", 7.0)])
    assert (await cache.get("acme")).phrases == (Hotword("new product", 7.0),)


async def test_the_last_copy_is_served_while_redis_is_down(
    start_app: Callable[[Settings], Any],
    make_settings: Callable[..., Settings],
    redis_server: RedisServer,
) -> None:
    client = await start_app(make_settings(redis_timeout_s=0.3))
    cache: HotwordCache = client.server.app[HOTWORDS]
    await cache.store.create_tenant("acme")
    await cache.store.merge("acme", [PhraseSpec("keep calling", 5.0)])
    before = await cache.get("acme")
    redis_server.stop()
    try:
        assert await cache.get("acme") == before
        assert (await cache.get("never-seen")).phrases == ()
    finally:
        redis_server.start()
