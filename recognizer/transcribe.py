"""The `Recognizer`: one per process, owning the engine, the batcher, the decoder and the pool
the beam search runs in. Streams (`open_stream`) and whole recordings (`transcribe`) share it and
go through the same code: a recording is streamed through a `RecognitionStream` at full speed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry

from recognizer.audio import AudioFormat, resample_to_model_rate
from recognizer.batching import Batcher, pad_to_bucket
from recognizer.decodepool import DecodePool
from recognizer.decoding import Decoder, Hypothesis, Word
from recognizer.engines import Engine, EngineOptions, open_engine
from recognizer.errors import AudioFormatError
from recognizer.features import HOP, MODEL_SAMPLE_RATE, log_mel
from recognizer.metrics import RecognizerMetrics
from recognizer.phrases import Hotword
from recognizer.stream import Final, RecognitionStream, StreamOptions, drain
from recognizer.vad import Endpointing, SileroDetector, SileroModel, VadBatcher

FloatAudio = npt.NDArray[np.float32]
#: Partials are skipped while this many windows already wait for the model.
PARTIAL_BACKLOG_LIMIT = 2


@dataclass(frozen=True)
class RecognizerOptions:
    engine: EngineOptions = field(default_factory=EngineOptions)
    beam_width: int = 24
    decode_workers: int = 2
    decode_processes: int = 1
    batch_max_size: int = 16
    batch_max_wait_ms: float = 8.0
    endpointing: Endpointing = field(default_factory=Endpointing)
    partial_interval_ms: int = 400


@dataclass(frozen=True)
class Transcript:
    """A whole recording's result: the utterances joined, with word timings from its start."""

    text: str
    confidence: float
    duration_s: float
    words: tuple[Word, ...]
    utterances: tuple[Final, ...] = ()


def features_for(audio: FloatAudio) -> tuple[FloatAudio, int]:
    """Log-mel of a window, padded to its length bucket; returns (features, real frames)."""
    if len(audio) < HOP:
        audio = np.pad(audio, (0, HOP - len(audio)))
    features = log_mel(audio)
    return pad_to_bucket(features), features.shape[1]


class Recognizer:
    """Open with `await Recognizer.open(model_dir, options)`, close with `await close()`."""

    def __init__(
        self,
        engine: Engine,
        decoder: Decoder,
        options: RecognizerOptions,
        metrics: RecognizerMetrics,
        vad: SileroModel,
        model_dir: Path,
    ) -> None:
        self.engine = engine
        self.vad = vad
        self.vad_batcher = VadBatcher(vad, observe=metrics.vad_batch_size.observe)
        self.decoder = decoder
        self.options = options
        self.metrics = metrics
        self._forward_pool = ThreadPoolExecutor(1, thread_name_prefix="forward")
        self._feature_pool = ThreadPoolExecutor(
            options.decode_workers, thread_name_prefix="features"
        )
        self.decode_pool = DecodePool(
            decoder, model_dir, options.decode_processes, options.decode_workers
        )
        # On the CPU a batched forward costs the same per window as single ones (measured:
        # 27 ms per 3 s window at batch 1, 2, 4 and 8), so waiting for stragglers only adds
        # latency: batches form from what is already queued. On a GPU waiting pays.
        wait_ms = options.batch_max_wait_ms if engine.device == "cuda" else 0.0
        self.batcher = Batcher(
            engine.forward,
            self._forward_pool,
            max_batch=options.batch_max_size,
            max_wait_ms=wait_ms,
            observer=metrics,
        )
        self.max_window_s = decoder.max_window_s

    @classmethod
    async def open(
        cls,
        model_dir: Path,
        options: RecognizerOptions | None = None,
        registry: CollectorRegistry | None = None,
    ) -> Recognizer:
        """Load the model and LM off the event loop (seconds) and start the batcher."""
        options = options or RecognizerOptions()
        loop = asyncio.get_running_loop()
        engine = await loop.run_in_executor(None, open_engine, model_dir, options.engine)
        decoder = await loop.run_in_executor(None, Decoder, model_dir, options.beam_width)
        vad = await loop.run_in_executor(None, SileroModel)
        recognizer = cls(engine, decoder, options, RecognizerMetrics(registry), vad, model_dir)
        recognizer.batcher.start()
        await recognizer.decode_pool.warm_up()
        return recognizer

    async def close(self) -> None:
        await self.batcher.close()
        await self.vad_batcher.close()
        self._forward_pool.shutdown(wait=True, cancel_futures=True)
        self._feature_pool.shutdown(wait=True, cancel_futures=True)
        await asyncio.get_running_loop().run_in_executor(None, self.decode_pool.close)
        self.decoder.close()

    async def log_probs(self, audio: FloatAudio, priority: int = 0) -> FloatAudio:
        """One window through features and the batched model; trimmed to its real frames."""
        loop = asyncio.get_running_loop()
        features, frames = await loop.run_in_executor(self._feature_pool, features_for, audio)
        out = await self.batcher.submit(features, priority)
        valid = -(-frames * out.shape[0] // features.shape[1])
        return out[:valid]

    async def recognize_final(self, audio: FloatAudio, hotwords: tuple[Hotword, ...]) -> Hypothesis:
        started = time.perf_counter()
        log_probs = await self.log_probs(audio)
        decode_started = time.perf_counter()
        hypothesis = await self.decode_pool.decode(log_probs, hotwords)
        done = time.perf_counter()
        self.metrics.decode.observe(done - decode_started)
        if len(audio):
            self.metrics.rtf.observe((done - started) * MODEL_SAMPLE_RATE / len(audio))
        return hypothesis

    async def recognize_partial(self, audio: FloatAudio) -> str | None:
        """A cheap hypothesis of the utterance so far, or None when the model is busy: under
        load, partials are skipped so that finals stay fast."""
        if self.batcher.backlog >= PARTIAL_BACKLOG_LIMIT:
            return None
        return self.decoder.greedy(await self.log_probs(audio, priority=1))

    def open_stream(
        self,
        encoding: Literal["l16", "pcmu", "pcma"] | str = "l16",
        sample_rate: int = 8000,
        hotwords: Iterable[Hotword] = (),
        endpointing: Endpointing | None = None,
        interim: bool = True,
    ) -> RecognitionStream:
        """A stream for one call; raises `AudioFormatError` for an unknown encoding or rate."""
        endpointing = endpointing or self.options.endpointing
        # the model sees a whole utterance at once: keep it inside the model's longest window
        longest = int(self.max_window_s * 1000) - endpointing.preroll_ms - 1000
        if endpointing.max_utterance_ms > longest:
            endpointing = endpointing.override(max_utterance_ms=longest)
        options = StreamOptions(
            audio_format=AudioFormat.parse(encoding, sample_rate),
            hotwords=tuple(hotwords),
            endpointing=endpointing,
            interim=interim,
            partial_interval_ms=self.options.partial_interval_ms,
        )
        return RecognitionStream(
            options,
            SileroDetector(self.vad, batcher=self.vad_batcher),
            self.recognize_final,
            self.recognize_partial,
            self.metrics.final_latency.observe,
        )

    async def transcribe(
        self,
        audio: FloatAudio,
        sample_rate: int = MODEL_SAMPLE_RATE,
        hotwords: Iterable[Hotword] = (),
        endpointing: Endpointing | None = None,
    ) -> Transcript:
        """A whole recording (float mono at `sample_rate`) -> its transcript."""
        if audio.ndim != 1:
            raise AudioFormatError(f"expected mono audio, got shape {audio.shape}")
        samples = resample_to_model_rate(audio.astype(np.float32), sample_rate)
        stream = self.open_stream(
            "l16", MODEL_SAMPLE_RATE, hotwords, endpointing=endpointing, interim=False
        )
        # one-second pieces: the endpointer's decisions do not depend on the cut, and the event
        # loop gets a turn between pieces of a long recording
        events = await drain(stream, samples, step=MODEL_SAMPLE_RATE)
        finals = [e for e in events if isinstance(e, Final)]
        finals = [f for f in finals if f.text]
        words = tuple(w for f in finals for w in f.words)
        confidence = float(np.mean([w.confidence for w in words])) if words else 0.0
        return Transcript(
            text=" ".join(f.text for f in finals),
            confidence=round(confidence, 4),
            duration_s=round(len(samples) / MODEL_SAMPLE_RATE, 3),
            words=words,
            utterances=tuple(finals),
        )
