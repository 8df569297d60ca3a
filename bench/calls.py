"""Load test: N concurrent simulated Twilio calls through a flow, at real pace, on loopback.

Starts `ivr serve` (its own port, the in-process store unless --redis-url, the flows in
bench/flows, a throwaway Twilio token) unless --url is given, then places --calls calls at
once (spread over --ramp-s), each a scripted multi-turn conversation voiced by espeak-ng voices
the model was not trained on. Reports task success (the call ends transferred to the expected
target), p50/p95 latency and the server's CPU:

- caller side: end of the caller's speech (last loud frame sent) to the first byte of the next
  prompt: includes the recognizer's end-of-utterance silence (IVR_END_SILENCE_MS);
- server side: `ivr_calls_response_latency_seconds`, the endpoint (or last key) to the first
  prompt byte sent: the part this service adds once the caller is known to be done.

    python bench/calls.py --calls 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ivr.gateways.callers import TwilioCaller  # noqa: E402
from ivr.gateways.simulator import Step, run_script, speech_clip  # noqa: E402

CONVERSATIONS: tuple[tuple[str, tuple[Step, ...], str], ...] = (
    ("billing", (Step("say", "billing"), Step("say", "yes")), "sip:billing@pbx.example.com"),
    (
        "sales",
        (Step("say", "I want to buy something"), Step("say", "yes")),
        "sip:sales@pbx.example.com",
    ),
    ("support keys", (Step("press", "3"), Step("say", "yes")), "sip:support@pbx.example.com"),
    ("agent", (Step("say", "talk to a person"),), "+15550100200"),
)
KEYS_ONLY = (("agent by key", (Step("press", "0"),), "+15550100200"),)
"""--keys-only: the pipeline without speech recognition (what the gateways alone cost)."""
VOICES = ("en-gb-scotland", "en-us-nyc+f3", "en-gb-x-gbclan+m7", "en+Alex", "en-029+f4")
"""espeak-ng voices and variants outside the model's training voices."""


@dataclass
class Result:
    name: str
    voice: str
    success: bool
    disposition: str | None
    latencies: list[float]
    error: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    token: str, args: argparse.Namespace, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    env.update(
        PYTHONPATH=str(REPO),
        IVR_PORT=str(port),
        IVR_HOST="127.0.0.1",
        IVR_TWILIO_AUTH_TOKEN=token,
        IVR_AUDIOSOCKET_PORT="0",
        IVR_FLOWS_DIR=str(args.flows_dir),
        IVR_DEFAULT_FLOW="customer_service",
        IVR_MAX_CALLS=str(max(100, args.calls * 2)),
        IVR_MAX_CALLS_PER_TENANT=str(max(50, args.calls * 2)),
        IVR_LOG_LEVEL="WARNING",
    )
    if args.redis_url:
        env["IVR_REDIS_URL"] = args.redis_url
    if args.model_dir:
        env["IVR_MODEL_DIR"] = str(args.model_dir)
    if args.end_silence_ms:
        env["IVR_END_SILENCE_MS"] = str(args.end_silence_ms)
    process = subprocess.Popen(
        [sys.executable, "-m", "ivr", "serve"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"ivr serve exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"ivr serve not ready after 300 s: {log.read_text()[-2000:]}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def histogram_quantiles(text: str, name: str) -> dict[str, float]:
    """Upper bucket bounds holding the median and the 95th percentile of a histogram."""
    buckets: list[tuple[float, float]] = []
    for line in text.splitlines():
        if line.startswith(name + "_bucket"):
            bound = line.split('le="')[1].split('"')[0]
            le = float("inf") if bound == "+Inf" else float(bound)
            buckets.append((le, float(line.split()[-1])))
    total = buckets[-1][1] if buckets else 0.0

    def quantile(q: float) -> float:
        for bound, count in buckets:
            if total and count >= q * total:
                return bound
        return float("nan")

    return {"count": total, "p50_le": quantile(0.5), "p95_le": quantile(0.95)}


def server_metrics(url: str) -> dict[str, dict[str, float]]:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    names = (
        "ivr_calls_response_latency_seconds",
        "ivr_calls_speech_end_latency_seconds",
        "ivr_calls_dialog_seconds",
        "ivr_calls_prompt_render_seconds",
        "ivr_recognizer_final_latency_seconds",
    )
    return {name: histogram_quantiles(text, name) for name in names}


async def one_call(
    conversations: tuple[tuple[str, tuple[Step, ...], str], ...],
    index: int,
    url: str,
    token: str,
    clips: dict[tuple[str, str], np.ndarray[Any, Any]],
    delay: float,
) -> Result:
    name, steps, target = conversations[index % len(conversations)]
    voice = VOICES[index % len(VOICES)]
    await asyncio.sleep(delay)
    caller = TwilioCaller(url, token, caller=f"+1555{index:07d}")
    try:
        report = await run_script(
            caller,
            list(steps),
            voice=voice,
            speak=lambda text, v, rate: clips[(text, v)],
            prompt_limit_s=30,
            end_limit_s=30,
        )
    except Exception as exc:  # a failed call is a data point, not the end of the run
        await caller.close()
        return Result(name, voice, False, None, [], repr(exc))
    latencies = [t.latency_s for t in report.turns if t.latency_s is not None]
    got = report.outcome.get("transfer_target")
    return Result(name, voice, got == target, str(got), latencies)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    token = args.auth_token or secrets.token_hex(16)
    process = None
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url
        if url is None:
            process, url = start_server(token, args, Path(tmp) / "server.log")
        try:
            loop = asyncio.get_running_loop()
            conversations = KEYS_ONLY if args.keys_only else CONVERSATIONS
            clips = {}
            for text in {
                s.value for _, steps, _ in CONVERSATIONS for s in steps if s.kind == "say"
            }:
                for voice in VOICES:
                    clips[(text, voice)] = await loop.run_in_executor(
                        None, speech_clip, text, voice, 8000
                    )
            cpu_before = cpu_seconds(process.pid) if process else 0.0
            started = time.monotonic()
            results = await asyncio.gather(
                *(
                    one_call(
                        conversations, i, url, token, clips, args.ramp_s * i / max(1, args.calls)
                    )
                    for i in range(args.calls)
                )
            )
            wall = time.monotonic() - started
            cpu = (cpu_seconds(process.pid) - cpu_before) if process else float("nan")
            server = server_metrics(url)
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=60)
    latencies = sorted(x for r in results for x in r.latencies)
    ok = sum(r.success for r in results)
    summary = {
        "calls": args.calls,
        "success_rate": ok / len(results),
        "caller_latency_turns": len(latencies),
        "caller_latency_p50_s": float(np.percentile(latencies, 50)) if latencies else None,
        "caller_latency_p95_s": float(np.percentile(latencies, 95)) if latencies else None,
        "server": server,
        "server_cpu_s": cpu,
        "server_cpu_cores": cpu / wall if process else None,
        "wall_s": wall,
        "failures": [r.__dict__ for r in results if not r.success][:10],
    }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--ramp-s", type=float, default=5.0, help="Spread call starts over this.")
    parser.add_argument("--url", default=None, help="A running server (else one is started).")
    parser.add_argument("--auth-token", default=None, help="Its Twilio token (with --url).")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--end-silence-ms", type=int, default=None, help="IVR_END_SILENCE_MS.")
    parser.add_argument("--keys-only", action="store_true", help="Callers press keys, no speech.")
    parser.add_argument(
        "--model-dir", type=Path, default=None, help="IVR_MODEL_DIR for the server."
    )
    parser.add_argument("--flows-dir", type=Path, default=REPO / "bench" / "flows")
    parser.add_argument("--json", type=Path, default=None, help="Also write the summary here.")
    args = parser.parse_args()
    summary = asyncio.run(run(args))
    text = json.dumps(summary, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
