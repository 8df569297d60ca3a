"""The app's recognizer: loaded in the background by a cleanup context, closed with the app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from ivr.metrics import METRICS
from ivr.settings import SETTINGS, Settings
from recognizer.engines import EngineOptions
from recognizer.errors import ModelError, RecognizerError
from recognizer.transcribe import Recognizer, RecognizerOptions
from recognizer.vad import Endpointing

log = logging.getLogger(__name__)


def recognizer_options(settings: Settings) -> RecognizerOptions:
    """The recognizer's options from the service settings (also used by `ivr transcribe`)."""
    return RecognizerOptions(
        engine=EngineOptions(
            engine=settings.engine,
            device=settings.device,
            intra_op_threads=settings.intra_op_threads,
            gpu_mem_limit_bytes=settings.gpu_mem_limit_bytes,
        ),
        beam_width=settings.beam_width,
        decode_workers=settings.decode_workers,
        batch_max_size=settings.batch_max_size,
        batch_max_wait_ms=settings.batch_max_wait_ms,
        endpointing=Endpointing(
            end_silence_ms=settings.end_silence_ms,
            no_input_ms=settings.no_input_ms,
            max_utterance_ms=settings.max_utterance_ms,
        ),
        partial_interval_ms=settings.partial_interval_ms,
    )


class RecognizerService:
    """Holds the process's `Recognizer` once loaded, or why it is not."""

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self._recognizer: Recognizer | None = None
        self._error: str | None = None
        self._loaded = asyncio.Event()
        self.active_streams = 0

    def problem(self) -> str | None:
        if self._recognizer is not None:
            return None
        if self._error is not None:
            return self._error
        return f"loading the model from {self.model_dir} (IVR_MODEL_DIR)"

    @property
    def recognizer(self) -> Recognizer:
        """The loaded recognizer; raises a 503 `ModelError` saying why there is none."""
        if self._recognizer is None:
            raise ModelError(self.problem() or "the model is not loaded")
        return self._recognizer

    async def wait_loaded(self) -> Recognizer:
        """Wait for the background load to end; raises `ModelError` if it failed."""
        await self._loaded.wait()
        return self.recognizer

    async def load(self, settings: Settings, app: web.Application) -> None:
        try:
            registry = app[METRICS].registry
            options = recognizer_options(settings)
            self._recognizer = await Recognizer.open(self.model_dir, options, registry)
            log.info("model loaded", extra={"model_dir": str(self.model_dir)})
        except RecognizerError as exc:
            self._error = f"{exc} (IVR_MODEL_DIR={self.model_dir})"
            log.error("model not loaded: %s", self._error)
        except Exception as exc:  # anything else a broken model file makes a library raise
            self._error = f"cannot load the model from {self.model_dir} (IVR_MODEL_DIR): {exc!r}"
            log.exception("model not loaded")
        finally:
            self._loaded.set()

    async def close(self) -> None:
        if self._recognizer is not None:
            await self._recognizer.close()
            self._recognizer = None


RECOGNIZER = web.AppKey("recognizer", RecognizerService)


async def recognizer_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    service = RecognizerService(settings.model_dir)
    app[RECOGNIZER] = service
    loading = asyncio.get_running_loop().create_task(service.load(settings, app))
    yield
    if not loading.done():
        # the model loads in a thread that cannot be interrupted: let it finish, then close it
        with contextlib.suppress(asyncio.CancelledError):
            await loading
    await service.close()
