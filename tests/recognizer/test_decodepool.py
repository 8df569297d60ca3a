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


def test_workers_exit_when_their_server_is_killed(model_dir: Path, tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from recognizer.decodepool import DecodePool\n"
        "from recognizer.decoding import Decoder\n"
        "async def main():\n"
        "    d = Decoder(Path(sys.argv[1]))\n"
        "    pool = DecodePool(d, Path(sys.argv[1]), processes=1, threads=1)\n"
        "    await pool.warm_up()\n"
        "    print(*pool._workers._processes, flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", script, str(model_dir)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        worker = int(server.stdout.readline().split()[0])
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and Path(f"/proc/{worker}").exists():
            status = Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if status == "Z":  # exited, waiting for init to reap it
                break
            time.sleep(0.2)
        alive = Path(f"/proc/{worker}").exists()
        state = (
            Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if alive
            else "gone"
        )
        assert state in ("gone", "Z"), f"decode worker {worker} outlived its server ({state})"
    finally:
        if server.poll() is None:
            server.kill()
