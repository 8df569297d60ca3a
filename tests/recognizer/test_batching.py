"""The batcher: shared forwards, equal-length buckets, and every future resolved."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import pytest

from recognizer.batching import BUCKET_FRAMES, SILENCE_FEATURE, Batcher, pad_to_bucket
from recognizer.errors import EngineError, RecognizerError

Array = npt.NDArray[np.float32]


class CountingModel:
    """A stand-in acoustic model: halves time like the real one and records its batches."""

    def __init__(self, fail_on_length: int | None = None) -> None:
        self.batches: list[tuple[int, int]] = []
        self.fail_on_length = fail_on_length
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, features: Array) -> Array:
        self.gate.wait(5)
        self.batches.append((features.shape[0], features.shape[2]))
        if features.shape[2] == self.fail_on_length:
            raise EngineError(f"forward failed on {features.shape}")
        mean = features.mean(axis=(1, 2))
        frames = -(-features.shape[2] // 2)
        return np.repeat(mean[:, None, None], frames, axis=1).repeat(3, axis=2).astype(np.float32)


@pytest.fixture
async def pool() -> AsyncIterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(1)
    yield executor
    executor.shutdown(wait=True)


def _features(value: float, frames: int = 40) -> Array:
    return np.full((80, frames), value, dtype=np.float32)


async def test_concurrent_windows_share_one_forward(pool: ThreadPoolExecutor) -> None:
    model = CountingModel()
    batcher = Batcher(model, pool, max_batch=8, max_wait_ms=50)
    results = await asyncio.gather(*(batcher.submit(_features(i)) for i in range(8)))
    await batcher.close()
    assert model.batches == [(8, 40)]
    assert [float(r[0, 0]) for r in results] == list(range(8))


async def test_windows_of_different_lengths_never_share_a_forward(
    pool: ThreadPoolExecutor,
) -> None:
    model = CountingModel()
    batcher = Batcher(model, pool, max_batch=8, max_wait_ms=50)
    lengths = [40, 60, 40, 60, 80]
    results = await asyncio.gather(*(batcher.submit(_features(1, n)) for n in lengths))
    await batcher.close()
    assert sorted(model.batches) == [(1, 80), (2, 40), (2, 60)]
    assert [r.shape[0] for r in results] == [n // 2 for n in lengths]


async def test_a_failed_forward_resolves_every_waiting_future_with_the_error(
    pool: ThreadPoolExecutor,
) -> None:
    model = CountingModel(fail_on_length=40)
    batcher = Batcher(model, pool, max_batch=8, max_wait_ms=50)
    outcomes = await asyncio.wait_for(
        asyncio.gather(
            *(batcher.submit(_features(i)) for i in range(5)),
            batcher.submit(_features(9, 60)),
            return_exceptions=True,
        ),
        timeout=10,
    )
    assert all(isinstance(o, EngineError) for o in outcomes[:5])
    assert isinstance(outcomes[5], np.ndarray)  # the other bucket is not hurt
    # the batcher keeps serving after a failure
    again = await asyncio.wait_for(batcher.submit(_features(2, 60)), timeout=10)
    assert float(again[0, 0]) == 2.0
    await batcher.close()


async def test_closing_fails_queued_windows_instead_of_leaving_them_hanging(
    pool: ThreadPoolExecutor,
) -> None:
    model = CountingModel()
    model.gate.clear()
    batcher = Batcher(model, pool, max_batch=1, max_wait_ms=0)
    waiting = [asyncio.ensure_future(batcher.submit(_features(i))) for i in range(3)]
    await asyncio.sleep(0.05)
    closing = asyncio.ensure_future(batcher.close())
    await asyncio.sleep(0.05)
    model.gate.set()
    await closing
    outcomes = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 10)
    assert all(isinstance(o, RecognizerError) for o in outcomes)


def test_padding_rounds_up_to_the_bucket_with_silence() -> None:
    padded = pad_to_bucket(np.zeros((80, BUCKET_FRAMES + 3), dtype=np.float32))
    assert padded.shape == (80, 2 * BUCKET_FRAMES)
    assert np.all(padded[:, BUCKET_FRAMES + 3 :] == np.float32(SILENCE_FEATURE))
    exact = np.zeros((80, BUCKET_FRAMES), dtype=np.float32)
    assert pad_to_bucket(exact) is exact
