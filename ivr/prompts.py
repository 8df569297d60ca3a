"""What callers hear: recorded prompts and embedded TTS, converted once per gateway format.

Recorded prompts are files `<key>.<locale>.wav` in `IVR_PROMPTS_DIR` (any rate, mono or the
first channel). Dynamic text is spoken by espeak-ng, loaded from the `espeakng-loader` wheel
through ctypes (nothing but PyPI needed); another engine plugs in through `TextToSpeech`.
Both are converted to a gateway's format (G.711 or L16 at its rate) once and cached.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import soundfile
import soxr
from aiohttp import web

from dialogs.actions import Say
from ivr.gateways import g711
from ivr.gateways.wire import Encoding

log = logging.getLogger(__name__)
Pcm = npt.NDArray[np.int16]
CACHE_ENTRIES = 512


@dataclass(frozen=True)
class Clip:
    samples: Pcm
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class AudioFormat:
    """What a gateway plays: the encoding and rate of the bytes it is sent."""

    encoding: Encoding
    sample_rate: int

    @property
    def bytes_per_second(self) -> int:
        return self.sample_rate * (2 if self.encoding == "l16" else 1)


class TextToSpeech(Protocol):
    """A TTS engine: text and a voice name in, mono 16-bit PCM out (may block: runs off-loop)."""

    def synthesize(self, text: str, voice: str) -> Clip: ...


class PromptError(Exception):
    http_status = 500


# espeak-ng keeps its state in the C library, once per process: one lock serializes its use
# (the library is not thread-safe), whichever app or thread asks.
_ESPEAK_LOCK = threading.Lock()
_ESPEAK: dict[str, Any] = {}


class EspeakTts:
    """espeak-ng from the `espeakng-loader` wheel (its shared library and voice data)."""

    def _library(self) -> Any:
        if "lib" not in _ESPEAK:
            import espeakng_loader

            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            lib.espeak_Initialize.argtypes = [
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_char_p,
                ctypes.c_int,
            ]
            lib.espeak_Synth.argtypes = [
                ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
            ]  # fmt: skip
            lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            # AUDIO_OUTPUT_SYNCHRONOUS (2); espeakINITIALIZE_DONT_EXIT (0x8000)
            rate = lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0x8000)
            if rate <= 0:
                raise PromptError("espeak-ng failed to initialize (espeakng-loader data?)")
            chunks: list[Pcm] = []
            callback_type = ctypes.CFUNCTYPE(
                ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
            )

            def on_audio(wav: Any, count: int, _events: Any) -> int:
                if wav and count > 0:
                    chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
                return 0

            callback = callback_type(on_audio)
            lib.espeak_SetSynthCallback(callback)
            _ESPEAK.update(lib=lib, rate=rate, chunks=chunks, callback=callback)
        return _ESPEAK["lib"]

    def synthesize(self, text: str, voice: str) -> Clip:
        with _ESPEAK_LOCK:
            lib = self._library()
            chunks: list[Pcm] = _ESPEAK["chunks"]
            chunks.clear()
            language = voice.split("-")[0].split("+")[0]
            if (
                lib.espeak_SetVoiceByName(voice.encode()) != 0
                and lib.espeak_SetVoiceByName(language.encode()) != 0
            ):
                raise PromptError(f"espeak-ng has no voice {voice!r} (try en-us, en, en-us+f3)")
            data = text.encode("utf-8")
            # POS_CHARACTER (1), espeakCHARS_UTF8 (1)
            if lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, 1, None, None) != 0:
                raise PromptError(f"espeak-ng could not speak {text[:40]!r}")
            samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
            chunks.clear()
            return Clip(samples.astype(np.int16), int(_ESPEAK["rate"]))


def voice_for(locale: str) -> str:
    """espeak-ng voice for a BCP-47 locale (`en-US` -> `en-us`)."""
    return locale.lower().replace("_", "-") or "en-us"


def convert(clip: Clip, fmt: AudioFormat) -> bytes:
    """PCM at any rate -> the gateway's bytes (resampled with soxr, G.711 by table)."""
    samples = clip.samples
    if clip.sample_rate != fmt.sample_rate and len(samples):
        resampled = soxr.resample(samples.astype(np.float32), clip.sample_rate, fmt.sample_rate)
        samples = np.clip(np.round(resampled), -32768, 32767).astype(np.int16)
    if fmt.encoding == "pcmu":
        return g711.pcm_to_ulaw(samples)
    if fmt.encoding == "pcma":
        return g711.pcm_to_alaw(samples)
    return samples.astype("<i2").tobytes()


def read_wav(path: Path) -> Clip:
    data, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
    return Clip(np.ascontiguousarray(data[:, 0]), int(rate))


class Prompts:
    """Turns a `Say` into gateway bytes: recorded file if one exists for its key and locale,
    TTS of its text otherwise; each result cached per format (least recently used dropped)."""

    def __init__(self, prompts_dir: Path | None, tts: TextToSpeech | None = None) -> None:
        self.prompts_dir = prompts_dir
        self.tts: TextToSpeech = tts or EspeakTts()
        self._cache: OrderedDict[tuple[str, str, str, AudioFormat], bytes] = OrderedDict()

    def recorded_path(self, key: str, locale: str) -> Path | None:
        if self.prompts_dir is None or not key.replace("_", "").replace("-", "").isalnum():
            return None
        path = self.prompts_dir / f"{key}.{locale}.wav"
        return path if path.is_file() else None

    async def render(self, say: Say, fmt: AudioFormat) -> bytes:
        path = self.recorded_path(say.prompt_key, say.locale) if say.prompt_key else None
        voice = voice_for(say.locale)
        cache_key = ("file", str(path), "", fmt) if path else ("tts", say.text, voice, fmt)
        cached = self._cache.get(cache_key)
        if cached is not None:
            self._cache.move_to_end(cache_key)
            return cached
        make: Callable[[], Clip] = (
            (lambda: read_wav(path)) if path else (lambda: self.tts.synthesize(say.text, voice))
        )
        loop = asyncio.get_running_loop()
        audio = await loop.run_in_executor(None, lambda: convert(make(), fmt))
        self._cache[cache_key] = audio
        while len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return audio


PROMPTS = web.AppKey("prompts", Prompts)
