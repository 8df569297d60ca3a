"""The app's recognizer: loaded in the background by a cleanup context, closed with the app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CollectorRegistry

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
        decode_processes=settings.decode_processes,
        batch_max_size=settings.batch_max_size,
        batch_max_wait_ms=settings.batch_max_wait_ms,
        endpointing=Endpointing(
            end_silence_ms=settings.end_silence_ms,
            no_input_ms=settings.no_input_ms,
            max_utterance_ms=settings.max_utterance_ms,
        ),
        partial_interval_ms=settings.partial_interval_ms,
    )


#: A fresh app loads the model this long after start-up, or at once when something asks for it
#: (a `/readyz` probe, a request, a call). Apps that never recognize (most tests) never pay for it.
PRELOAD_DELAY_S = 3.0


class RecognizerService:
    """Holds the process's `Recognizer` once loaded, or why it is not."""

    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        self.settings = settings
        self.model_dir = settings.model_dir
        self._registry = registry
        self._recognizer: Recognizer | None = None
        self._error: str | None = None
        self._loading: asyncio.Task[None] | None = None
        self.active_streams = 0

    def start_loading(self) -> None:
        """Begin loading the model in the background (idempotent)."""
        if self._loading is None:
            self._loading = asyncio.get_running_loop().create_task(self._load())

    def problem(self) -> str | None:
        """None when the model is loaded, else why not (starting the load if it has not)."""
        if self._recognizer is not None:
            return None
        self.start_loading()
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
        """Load (or wait for the load) and return the recognizer; `ModelError` if it failed."""
        self.start_loading()
        assert self._loading is not None
        await asyncio.shield(self._loading)
        return self.recognizer

    async def _load(self) -> None:
        try:
            options = recognizer_options(self.settings)
            self._recognizer = await Recognizer.open(self.model_dir, options, self._registry)
            log.info("model loaded", extra={"model_dir": str(self.model_dir)})
        except RecognizerError as exc:
            self._error = f"{exc} (IVR_MODEL_DIR={self.model_dir})"
            log.error("model not loaded: %s", self._error)
        except Exception as exc:  # anything else a broken model file makes a library raise
            self._error = f"cannot load the model from {self.model_dir} (IVR_MODEL_DIR): {exc!r}"
            log.exception("model not loaded")

    async def close(self) -> None:
        if self._loading is not None:
            # the model loads in threads that cannot be interrupted: let it finish, then close
            with contextlib.suppress(asyncio.CancelledError):
                await self._loading
        if self._recognizer is not None:
            await self._recognizer.close()
            self._recognizer = None


RECOGNIZER = web.AppKey("recognizer", RecognizerService)


async def recognizer_context(app: web.Application) -> AsyncIterator[None]:
    service = RecognizerService(app[SETTINGS], app[METRICS].registry)
    app[RECOGNIZER] = service
    preload = asyncio.get_running_loop().call_later(PRELOAD_DELAY_S, service.start_loading)
    yield
    preload.cancel()
    await service.close()
