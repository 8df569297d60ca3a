"""Dynamic batching: audio windows from every live stream share one forward pass.

One worker task waits on the queue (no polling), then fills a batch until it holds
`max_batch` windows or `max_wait_ms` has passed since the first one, and runs the forward in the
executor so the event loop only waits. Windows are bucketed by length: the model has no padding
mask, so each window is padded once, by its owner, to a multiple of `BUCKET_FRAMES` with
silence (`pad_to_bucket`), and only windows of equal length share a forward. A window's result
therefore never depends on which other calls happened to share its batch, which is what makes
streaming equal offline decoding. Every waiting future gets its result or the exception: a
failed batch never leaves a caller hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from recognizer.errors import RecognizerError
from recognizer.features import LOG_FLOOR

FloatArray = npt.NDArray[np.float32]
BUCKET_FRAMES = 20
SILENCE_FEATURE = (LOG_FLOOR + 4.0) / 4.0


def pad_to_bucket(features: FloatArray, bucket: int = BUCKET_FRAMES) -> FloatArray:
    """Pad `(80, T)` features with silence up to the next multiple of `bucket` frames."""
    frames = features.shape[1]
    target = max(bucket, -(-frames // bucket) * bucket)
    if target == frames:
        return features
    out = np.full((features.shape[0], target), SILENCE_FEATURE, dtype=np.float32)
    out[:, :frames] = features
    return out


class BatchObserver(Protocol):
    def batch(self, size: int, queue_wait_s: list[float], inference_s: float) -> None: ...


@dataclass
class _Request:
    features: FloatArray
    future: asyncio.Future[FloatArray]
    priority: int = 0
    queued_at: float = field(default_factory=time.perf_counter)


class Batcher:
    """`await batcher.submit(features)` -> that window's log-probs, computed in a shared batch."""

    def __init__(
        self,
        forward: Callable[[FloatArray], FloatArray],
        executor: Executor,
        max_batch: int = 16,
        max_wait_ms: float = 8.0,
        observer: BatchObserver | None = None,
    ) -> None:
        self._forward = forward
        self._executor = executor
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self._observer = observer
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def backlog(self) -> int:
        """Windows waiting for a forward (not counting the batch running now)."""
        return self._queue.qsize()

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    async def close(self) -> None:
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        while not self._queue.empty():
            self._fail([self._queue.get_nowait()], RecognizerError("the recognizer closed"))

    async def submit(self, features: FloatArray, priority: int = 0) -> FloatArray:
        """Queue one `(80, T)` window; lower `priority` runs first within a batch (finals 0,
        partials 1)."""
        if self._closed:
            raise RecognizerError("the recognizer is closed")
        self.start()
        future: asyncio.Future[FloatArray] = asyncio.get_running_loop().create_future()
        features = np.ascontiguousarray(features, np.float32)
        self._queue.put_nowait(_Request(features, future, priority))
        return await future

    async def _collect(self) -> list[_Request]:
        batch = [await self._queue.get()]
        deadline = time.perf_counter() + self.max_wait_s
        while len(batch) < self.max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            groups: dict[int, list[_Request]] = {}
            for request in batch:
                groups.setdefault(request.features.shape[1], []).append(request)
            # finals before partials, then oldest first; each group's callers hear as soon as
            # its own forward is done, not after the whole batch
            order = sorted(
                groups.values(), key=lambda g: (min(r.priority for r in g), g[0].queued_at)
            )
            for index, group in enumerate(order):
                try:
                    await self._run_group(group)
                except asyncio.CancelledError:
                    for rest in order[index:]:
                        self._fail(rest, RecognizerError("the recognizer closed during a forward"))
                    raise

    async def _run_group(self, group: list[_Request]) -> None:
        live = [r for r in group if not r.future.done()]
        if not live:
            return
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        stacked = np.stack([r.features for r in live])
        try:
            out = await loop.run_in_executor(self._executor, self._forward, stacked)
            if out.shape[0] != len(live):
                raise RecognizerError(f"model returned {out.shape[0]} rows for {len(live)}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._fail(live, exc)
            return
        elapsed = time.perf_counter() - started
        for request, result in zip(live, out, strict=True):
            if not request.future.done():
                request.future.set_result(result)
        if self._observer is not None:
            self._observer.batch(len(live), [started - r.queued_at for r in live], elapsed)

    @staticmethod
    def _fail(requests: list[_Request], exc: BaseException) -> None:
        for request in requests:
            if not request.future.done():
                request.future.set_exception(exc)
