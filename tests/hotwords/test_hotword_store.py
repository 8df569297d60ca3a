"""The Redis store: atomic writes, a version that changes on every write and never goes back."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio as aioredis

from hotwords.errors import TenantExists, TooManyHotwords, UnknownHotword, UnknownTenant
from hotwords.store import (
    INVALIDATION_CHANNEL,
    HotwordStore,
    PhraseSpec,
    hotword_id,
    meta_key,
)


@pytest.fixture
async def store(redis_client: aioredis.Redis) -> HotwordStore:
    hotwords = HotwordStore(redis_client, max_per_tenant=5)
    await hotwords.create_tenant("acme", retention_days=30)
    return hotwords


async def test_every_write_bumps_the_version(store: HotwordStore) -> None:
    versions = [await store.version("acme")]
    await store.merge("acme", [PhraseSpec("quorvia premier", 12.0)])
    versions.append(await store.version("acme"))
    await store.replace("acme", [PhraseSpec("alpha", 1.0), PhraseSpec("beta", 2.0)])
    versions.append(await store.version("acme"))
    await store.delete("acme", hotword_id("alpha"))
    versions.append(await store.version("acme"))
    await store.delete_all("acme")
    versions.append(await store.version("acme"))
    assert versions == sorted(set(versions))  # strictly increasing


async def test_version_never_goes_back_after_delete_and_recreate(store: HotwordStore) -> None:
    before = await store.version("acme")
    await store.delete_tenant("acme")
    await store.create_tenant("acme")
    assert await store.version("acme") > before


async def test_adding_the_same_phrase_updates_it_and_keeps_created_at(
    store: HotwordStore,
) -> None:
    first = await store.merge("acme", [PhraseSpec("quorvia premier", 5.0)])
    second = await store.merge("acme", [PhraseSpec("quorvia premier", 12.0, ("product",))])
    assert first.created and not second.created
    assert second.after == 1
    assert first.hotword is not None and second.hotword is not None
    assert second.hotword.created_at == first.hotword.created_at
    stored = await store.get("acme", second.hotword.id)
    assert stored.boost == 12.0 and stored.tags == ("product",)


async def test_the_count_limit_is_enforced(store: HotwordStore) -> None:
    await store.replace("acme", [PhraseSpec(f"word {c}", 1.0) for c in "abcde"])
    with pytest.raises(TooManyHotwords):
        await store.merge("acme", [PhraseSpec("one more", 1.0)])
    assert len((await store.snapshot("acme")).hotwords) == 5


async def test_unknown_tenant_and_hotword_are_errors(store: HotwordStore) -> None:
    with pytest.raises(UnknownTenant):
        await store.merge("globex", [PhraseSpec("x", 1.0)])
    with pytest.raises(UnknownHotword):
        await store.get("acme", "0" * 16)
    with pytest.raises(TenantExists):
        await store.create_tenant("acme")


async def test_retention_days_is_in_the_tenant_meta_hash(
    store: HotwordStore, redis_client: aioredis.Redis
) -> None:
    assert await redis_client.hget(meta_key("acme"), "retention_days") == b"30"
    assert (await store.tenant("acme")).retention_days == 30


async def test_each_write_publishes_an_invalidation(
    store: HotwordStore, redis_client: aioredis.Redis
) -> None:
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(INVALIDATION_CHANNEL)
    result = await store.merge("acme", [PhraseSpec("hello", 3.0)])
    message = None
    for _ in range(50):
        message = await pubsub.get_message(timeout=0.1)
        if message:
            break
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert message is not None
    assert json.loads(message["data"]) == ["acme", result.version]


async def test_concurrent_writers_all_land_and_readers_never_see_half_a_replace(
    redis_client: aioredis.Redis,
) -> None:
    store = HotwordStore(redis_client, max_per_tenant=1000)
    await store.create_tenant("acme")
    sets = [[PhraseSpec(f"set {n} word {i}", 1.0) for i in range(20)] for n in range(6)]
    seen_sizes: set[int] = set()
    stop = asyncio.Event()

    async def reader() -> None:
        while not stop.is_set():
            snap = await store.snapshot("acme")
            seen_sizes.add(len(snap.hotwords))
            if snap.hotwords:
                prefixes = {h.phrase.split(" word ")[0] for h in snap.hotwords}
                assert len(prefixes) == 1, prefixes  # one whole set, never a mix
            await asyncio.sleep(0)

    task = asyncio.create_task(reader())
    before = await store.version("acme")
    results = await asyncio.gather(*(store.replace("acme", s) for s in sets))
    stop.set()
    await task
    assert seen_sizes <= {0, 20}
    assert len({r.version for r in results}) == len(sets)  # every write got its own version
    assert all(r.version > before for r in results)
