"""Where the beam search runs: worker processes, so it never competes with the event loop.

pyctcdecode's beam search is pure Python and holds the GIL for tens of milliseconds per
utterance; in the server's process it delays every other stream's frames, VAD and forwards.
`DecodePool` runs it in `processes` spawned workers (each loads the KenLM model once and keeps
its own cache of decoders per hot-word set), or on threads in this process when `processes`
is 0 (tests and tiny deployments). A worker that dies is replaced and the utterance retried
once, so one crash costs one retry, never the other calls.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import numpy.typing as npt

from recognizer.decoding import Decoder, Hypothesis
from recognizer.phrases import Hotword

log = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float32]
ORPHAN_CHECK_S = 1.0


class _Worker:
    """The decoder of one worker process, made by the pool's initializer.

    A worker process runs one task at a time, so the decoder lives in this class attribute for
    the life of that process; the server process never sets it.
    """

    decoder: Decoder | None = None


def _start_worker(model_dir: str, beam_width: int) -> None:
    _Worker.decoder = Decoder(Path(model_dir), beam_width)
    parent = os.getppid()
    threading.Thread(target=_exit_with, args=(parent,), daemon=True, name="orphan").start()


def _exit_with(parent: int) -> None:
    """A worker whose server was killed (SIGKILL leaves no time to stop the pool) exits
    instead of living on as an orphan holding the LM in memory."""
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_S)
    os._exit(0)


def _decode_in_worker(log_probs: FloatArray, hotwords: tuple[Hotword, ...]) -> Hypothesis:
    decoder = _Worker.decoder
    if decoder is None:
        raise RuntimeError("decode worker started without its decoder")
    return decoder.decode(log_probs, hotwords)


def _ready() -> bool:
    return _Worker.decoder is not None


class DecodePool:
    """`await pool.decode(log_probs, hotwords)`; `close()` when done."""

    def __init__(self, decoder: Decoder, model_dir: Path, processes: int, threads: int) -> None:
        self.decoder = decoder
        self.processes = processes
        self._model_dir = model_dir
        self._threads = ThreadPoolExecutor(max(1, threads), thread_name_prefix="decode")
        self._workers: ProcessPoolExecutor | None = self._spawn() if processes > 0 else None

    def _spawn(self) -> ProcessPoolExecutor:
        # spawn, not fork: the server process has threads (ONNX Runtime, the batcher)
        return ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(str(self._model_dir), self.decoder.options.beam_width),
        )

    @property
    def executor(self) -> Executor:
        return self._workers if self._workers is not None else self._threads

    async def warm_up(self) -> None:
        """Start every worker now (each loads the LM), not on the first caller's final."""
        if self._workers is None:
            return
        loop = asyncio.get_running_loop()
        workers = self._workers
        starts = [loop.run_in_executor(workers, _ready) for _ in range(self.processes)]
        await asyncio.gather(*starts)

    async def decode(self, log_probs: FloatArray, hotwords: tuple[Hotword, ...]) -> Hypothesis:
        loop = asyncio.get_running_loop()
        if self._workers is None:
            return await loop.run_in_executor(
                self._threads, self.decoder.decode, log_probs, hotwords
            )
        workers = self._workers
        try:
            return await loop.run_in_executor(workers, _decode_in_worker, log_probs, hotwords)
        except BrokenProcessPool:
            log.error("a decode worker died; starting new workers and retrying the utterance")
            if self._workers is workers:
                self._workers = self._spawn()
                workers.shutdown(wait=False, cancel_futures=True)
            fresh = self._workers
            return await loop.run_in_executor(fresh, _decode_in_worker, log_probs, hotwords)

    def close(self) -> None:
        if self._workers is not None:
            self._workers.shutdown(wait=True, cancel_futures=True)
        self._threads.shutdown(wait=True, cancel_futures=True)
