"""Capacity benchmark: N real-time telephone streams over `/v1/stream` into one server process.

Each simulated caller sends 20 ms mu-law frames at real pace (starts staggered over two
seconds), saying a few synthesized utterances separated by silence. The end-of-speech-to-final
latency of an utterance is the time from sending the frame at which the server's endpointer
decided (`endpoint_s` in the final) to receiving the final; partial latency likewise from the
partial's `time_s`. The server's CPU use (with its decode worker processes) comes from /proc:
`N/core` divides by the cores this machine has, `N/used` by the cores the server actually used.
Each load runs with dynamic batching and with batch size 1.

    python -m bench.capacity [--streams 10,20,40] [--seconds 20] [--modes dynamic,batch1]

Target (issue #6): >= 25 concurrent real-time streams per CPU core at p95 <= 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np
import soxr

from recognizer.audio import encode_mulaw, load_audio, to_int16

TARGET_PER_CORE = 25
TARGET_P95_S = 0.300
RATE = 8000
FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
SENTENCES = [
    "i would like to check my account balance",
    "i lost my credit card",
    "transfer me to billing please",
    "yes",
    "my account number is four two seven one",
    "i want to pay twenty five dollars",
    "no thank you",
    "can i speak to an agent",
]


def synthesize_calls(folder: Path) -> list[bytes]:
    """Mu-law 'calls': utterances with pauses, synthesized once with espeak-ng."""
    clips = []
    for i, text in enumerate(SENTENCES):
        path = folder / f"{i}.wav"
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
        audio = soxr.resample(load_audio(path), 16000, RATE)
        clips.append((0.7 * audio / max(1e-3, float(np.abs(audio).max()))).astype(np.float32))
    rng = np.random.default_rng(0)
    calls = []
    for c in range(8):
        parts = []
        for k in range(3):
            pause = 0.5 + rng.random()
            parts.append(0.002 * rng.standard_normal(int(pause * RATE)))
            parts.append(clips[(c + k * 3) % len(clips)])
        parts.append(0.002 * rng.standard_normal(int(1.2 * RATE)))
        calls.append(encode_mulaw(to_int16(np.concatenate(parts).astype(np.float32))))
    return calls


@dataclass
class Results:
    final_latency: list[float] = field(default_factory=list)
    partial_latency: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    finals: int = 0


async def caller(url: str, audio: bytes, delay: float, until: float, out: Results) -> None:
    await asyncio.sleep(delay)
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        config = {"type": "config", "encoding": "pcmu", "sample_rate": RATE}
        await ws.send_str(json.dumps({**config, "interim_results": True}))
        start = time.perf_counter()

        async def receive() -> None:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                event = json.loads(msg.data)
                now = time.perf_counter()
                if event["type"] == "final":
                    out.finals += 1
                    out.final_latency.append(now - (start + event["endpoint_s"]))
                elif event["type"] == "partial":
                    out.partial_latency.append(now - (start + event["time_s"]))
                elif event["type"] == "error":
                    out.errors.append(event["message"])

        receiver = asyncio.create_task(receive())
        frame = 0
        while time.perf_counter() < until:
            offset = (frame * FRAME_BYTES) % len(audio)
            chunk = audio[offset : offset + FRAME_BYTES]
            await ws.send_bytes(chunk)
            frame += 1
            wait = start + frame * 0.02 - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
        await ws.send_str(json.dumps({"type": "end"}))
        await asyncio.wait_for(receiver, 30)


def cpu_seconds(pid: int) -> float:
    """CPU time of the server and its decode worker processes (children, recursively)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = children.read_text().split() if children.exists() else []
    return own + sum(cpu_seconds(int(kid)) for kid in kids)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(batch: int, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "IVR_REDIS_URL"}
    env.update(IVR_PORT=str(port), IVR_AUDIOSOCKET_PORT="0", IVR_LOG_LEVEL="WARNING",
               IVR_BATCH_MAX_SIZE=str(batch), IVR_MAX_STREAMS="2000",
               PYTHONPATH=str(Path(__file__).resolve().parent.parent))  # fmt: skip
    log = (workdir / f"server-{port}.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "ivr", "serve"], env=env, stdout=log,
                              stderr=subprocess.STDOUT, cwd=workdir)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=1) as response:
                if response.status == 200:
                    return server, f"ws://127.0.0.1:{port}/v1/stream"
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit(f"server did not become ready; see {log.name}")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def load(url: str, calls: list[bytes], streams: int, seconds: float) -> Results:
    out = Results()
    rng = random.Random(streams)
    until = time.perf_counter() + 2.0 + seconds
    tasks = [
        caller(url, calls[i % len(calls)], rng.uniform(0, 2.0), until, out) for i in range(streams)
    ]
    for result in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(result, BaseException):
            out.errors.append(repr(result))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", default="5,10,20,40")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--modes", default="dynamic,batch1")
    parser.add_argument("--batch", type=int, default=16, help="max batch in dynamic mode")
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is needed to synthesize the callers")
    cores = len(os.sched_getaffinity(0))
    print(f"{'mode':<9}{'N':>5}{'finals':>7}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}"
          f"{'part95':>8}{'cpu %':>7}{'N/core':>8}{'N/used':>8}{'errors':>7}")  # fmt: skip
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        calls = synthesize_calls(workdir)
        for mode in args.modes.split(","):
            server, url = start_server(args.batch if mode == "dynamic" else 1, workdir)
            try:
                for n in [int(x) for x in args.streams.split(",")]:
                    cpu0, wall0 = cpu_seconds(server.pid), time.perf_counter()
                    out = asyncio.run(load(url, calls, n, args.seconds))
                    cpu = (cpu_seconds(server.pid) - cpu0) / (time.perf_counter() - wall0)
                    p95 = pct(out.final_latency, 95)
                    print(
                        f"{mode:<9}{n:>5}{out.finals:>7}{pct(out.final_latency, 50) * 1e3:>8.0f}"
                        f"{p95 * 1e3:>8.0f}{pct(out.final_latency, 99) * 1e3:>8.0f}"
                        f"{pct(out.partial_latency, 95) * 1e3:>8.0f}{cpu * 100:>7.0f}"
                        f"{n / cores:>8.1f}{n / max(cpu, 1e-3):>8.1f}{len(out.errors):>7}",
                        flush=True,
                    )
                    if p95 <= TARGET_P95_S and not out.errors:
                        best[mode] = max(best.get(mode, 0.0), n / cores)
            finally:
                server.terminate()
                server.wait(30)
    for mode, per_core in best.items():
        print(f"{mode}: largest N per core with p95 <= 300 ms: {per_core:.1f} "
              f"(target {TARGET_PER_CORE}, ratio {per_core / TARGET_PER_CORE:.2f})")  # fmt: skip
    print(f"({cores} cores visible to this process; the load generator shares them)")


if __name__ == "__main__":
    main()
