"""The beam search in worker processes: same results as in-process, and a dead worker is
replaced without failing the utterance."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np

from recognizer.audio import resample_to_model_rate
from recognizer.decodepool import DecodePool
from recognizer.decoding import Decoder
from recognizer.phrases import Hotword
from recognizer.transcribe import Recognizer, RecognizerOptions
from tests.recognizer.conftest import Speak
from tests.recognizer.speech import with_silence


async def _log_probs(model_dir: Path, speak: Speak, text: str) -> np.ndarray:
    recognizer = await Recognizer.open(model_dir, RecognizerOptions(decode_processes=0))
    try:
        audio = with_silence(speak(text))
        return await recognizer.log_probs(resample_to_model_rate(audio, 8000))
    finally:
        await recognizer.close()


async def test_workers_decode_exactly_as_the_server_process_does(
    model_dir: Path, speak: Speak
) -> None:
    log_probs = await _log_probs(model_dir, speak, "transfer me to billing please")
    decoder = Decoder(model_dir)
    hotwords = (Hotword("billing", 12.0), Hotword("moravec", 15.0))
    pool = DecodePool(decoder, model_dir, processes=2, threads=1)
    try:
        await pool.warm_up()
        for words in ((), hotwords):
            in_process = decoder.decode(log_probs, words)
            assert await pool.decode(log_probs, words) == in_process
    finally:
        pool.close()
        decoder.close()


async def test_a_killed_worker_is_replaced_and_the_utterance_still_decoded(
    model_dir: Path, speak: Speak
) -> None:
    log_probs = await _log_probs(model_dir, speak, "yes please")
    decoder = Decoder(model_dir)
    pool = DecodePool(decoder, model_dir, processes=1, threads=1)
    try:
        await pool.warm_up()
        expected = decoder.decode(log_probs)
        workers = pool._workers
        assert workers is not None
        for pid in list(workers._processes):  # the worker processes of the executor
            os.kill(pid, signal.SIGKILL)
        assert await pool.decode(log_probs, ()) == expected
        assert pool._workers is not workers
        assert await pool.decode(log_probs, ()) == expected
    finally:
        pool.close()
        decoder.close()
