"""`ivr call`: place a simulated call against a running server and print the conversation.

The caller speaks the gateway's protocol (`callers.py`), waits for each prompt to finish, then
plays the next step at real pace: TTS-voiced speech (`--say`), keys (`--press`, as events or
in-band tones), a recording (`--wav`) or silence (`--silence`); `--barge` talks over the prompt.
It prints each prompt heard, each step, the latency from the end of the caller's input to the
first prompt byte, and at the end the outcome and the call's record (states per turn).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
import click
import numpy as np
import soundfile
import soxr

from ivr.gateways.callers import (
    FRAME_S,
    AudioSocketCaller,
    Caller,
    Heard,
    JambonzCaller,
    Pcm,
    TwilioCaller,
)
from ivr.gateways.dtmf import tones
from ivr.gateways.wire import DTMF_DIGITS
from ivr.prompts import Clip, EspeakTts, read_wav

StepKind = Literal["say", "barge", "press", "wav", "silence"]
SPEECH_LEVEL = 500
"""A frame with a sample above this is speech, for timing the end of the caller's input."""


@dataclass(frozen=True)
class Step:
    kind: StepKind
    value: str
    over_prompt: bool = False
    """Start while the prompt plays (barge-in); `barge` is `say` over the prompt."""


@dataclass
class TurnReport:
    step: Step
    input_ended: float
    latency_s: float | None = None


@dataclass
class CallReport:
    call_id: str
    turns: list[TurnReport] = field(default_factory=list)
    prompts_s: list[float] = field(default_factory=list)
    outcome: dict[str, Any] = field(default_factory=dict)
    ended_by_server: bool = False
    barge_ins: int = 0


class AudioSender:
    """Sends caller audio every 20 ms, real pace: queued clips, else silence (like a phone)."""

    def __init__(self, caller: Caller) -> None:
        self.caller = caller
        self.frame = int(caller.rate * FRAME_S)
        self._frames: list[tuple[Pcm, asyncio.Event | None]] = []
        self._last_speech = 0.0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        silence = np.zeros(self.frame, dtype=np.int16)
        next_at = time.monotonic()
        while not self.caller.ended.is_set():
            frame, done = self._frames.pop(0) if self._frames else (silence, None)
            with contextlib.suppress(Exception):
                await self.caller.send_audio(frame)
            if len(frame) and int(np.max(np.abs(frame.astype(np.int32)))) > SPEECH_LEVEL:
                self._last_speech = time.monotonic()
            if done is not None:
                done.set()
            next_at += FRAME_S
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def play(self, pcm: Pcm) -> float:
        """Queue a clip, wait until it is sent; returns when its last speech frame left."""
        done = asyncio.Event()
        padded = np.concatenate([pcm, np.zeros(-len(pcm) % self.frame, dtype=np.int16)])
        chunks = padded.reshape(-1, self.frame)
        for index, chunk in enumerate(chunks):
            self._frames.append((chunk, done if index == len(chunks) - 1 else None))
        ended = asyncio.create_task(self.caller.ended.wait())
        waiting = asyncio.create_task(done.wait())
        await asyncio.wait({ended, waiting}, return_when=asyncio.FIRST_COMPLETED)
        ended.cancel()
        waiting.cancel()
        return self._last_speech or time.monotonic()

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def speech_clip(text: str, voice: str, rate: int) -> Pcm:
    """TTS the caller's words (espeak-ng) at the gateway's rate."""
    return resample(EspeakTts().synthesize(text, voice), rate)


def resample(clip: Clip, rate: int) -> Pcm:
    if clip.sample_rate == rate:
        return clip.samples
    out = soxr.resample(clip.samples.astype(np.float32), clip.sample_rate, rate)
    return np.asarray(np.clip(np.round(out), -32768, 32767), dtype=np.int16)


async def wait_for_prompts(caller: Caller, since: float, quiet_s: float, limit_s: float) -> None:
    """Until a prompt heard after `since` has finished (quiet for `quiet_s`), or the call ends."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and not caller.ended.is_set():
        heard = caller.last_prompt_start_after(since) is not None
        if heard and caller.quiet_for() >= quiet_s:
            return
        await asyncio.sleep(0.05)


async def run_script(
    caller: Caller,
    steps: list[Step],
    *,
    voice: str = "en-us+m3",
    inband_keys: bool = False,
    quiet_s: float = 0.8,
    prompt_limit_s: float = 20.0,
    end_limit_s: float = 15.0,
    speak: Callable[[str, str, int], Pcm] | None = None,
    on_turn: Callable[[TurnReport], None] | None = None,
) -> CallReport:
    """Open the call, play the steps in turn, wait for the server to end it, fetch the outcome."""
    speak = speak or speech_clip
    try:
        await caller.open()
    except BaseException:
        await caller.close()
        raise
    report = CallReport(caller.call_id)
    sender = AudioSender(caller)
    loop = asyncio.get_running_loop()
    since = 0.0
    try:
        for step in steps:
            if step.kind == "barge" or step.over_prompt:
                await _wait_prompt_started(caller, since, prompt_limit_s)
            else:
                await wait_for_prompts(caller, since, quiet_s, prompt_limit_s)
            if caller.ended.is_set():
                break
            if on_turn is not None and report.turns:
                on_turn(report.turns[-1])
            ended = await _perform(step, caller, sender, voice, inband_keys, speak, loop)
            report.turns.append(TurnReport(step, ended))
            since = ended
        await wait_for_prompts(caller, since, quiet_s, end_limit_s)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(caller.ended.wait(), end_limit_s)
        report.ended_by_server = caller.ended.is_set()
        if not caller.ended.is_set():
            await caller.hang_up()
    finally:
        await sender.stop()
    for turn in report.turns:
        start = caller.last_prompt_start_after(turn.input_ended)
        turn.latency_s = None if start is None else start - turn.input_ended
    if on_turn is not None and report.turns:
        on_turn(report.turns[-1])
    report.prompts_s = [h.seconds for h in caller.heard]
    report.barge_ins = caller.cleared
    await asyncio.sleep(0.1)
    report.outcome = await caller.fetch_outcome()
    await caller.close()
    return report


async def _wait_prompt_started(caller: Caller, since: float, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and not caller.ended.is_set():
        if caller.last_prompt_start_after(since) is not None and caller.playing:
            await asyncio.sleep(0.3)  # let the prompt get going, then talk over it
            return
        await asyncio.sleep(0.02)


async def _perform(
    step: Step,
    caller: Caller,
    sender: AudioSender,
    voice: str,
    inband_keys: bool,
    speak: Callable[[str, str, int], Pcm],
    loop: asyncio.AbstractEventLoop,
) -> float:
    rate = caller.rate
    if step.kind in ("say", "barge"):
        pcm = await loop.run_in_executor(None, speak, step.value, voice, rate)
        return await sender.play(pcm)
    if step.kind == "wav":
        clip = await loop.run_in_executor(None, read_wav, Path(step.value))
        return await sender.play(resample(clip, rate))
    if step.kind == "silence":
        began = time.monotonic()  # a re-prompt during the silence answers it
        await sender.play(np.zeros(int(rate * float(step.value)), dtype=np.int16))
        return began
    if inband_keys:
        await sender.play(tones(step.value, rate, on_ms=100, off_ms=100))
        return time.monotonic()
    pressed = time.monotonic()
    for index, digit in enumerate(step.value):
        if index:
            await asyncio.sleep(0.15)
        await caller.send_key(digit)
        pressed = time.monotonic()
    return pressed


class _CallCommand(click.Command):
    """Keeps the raw arguments: `--say/--press/--wav/--silence/--barge` run in the order given."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["ivr_raw_args"] = list(args)
        return super().parse_args(ctx, args)


STEP_FLAGS: dict[str, StepKind] = {
    "--say": "say",
    "--press": "press",
    "--wav": "wav",
    "--silence": "silence",
    "--barge": "barge",
}


def steps_from_args(raw_args: list[str]) -> list[Step]:
    ordered: list[Step] = []
    it = iter(raw_args)
    for token in it:
        name, equals, inline = token.partition("=")
        if name in STEP_FLAGS:
            ordered.append(Step(STEP_FLAGS[name], inline if equals else next(it, "")))
    return ordered


async def transcribe_prompts(
    session: aiohttp.ClientSession, url: str, heard: list[Heard], rate: int
) -> list[str]:
    """What each prompt said, by the server's own recognizer (`POST /v1/recognize`)."""
    texts = []
    for prompt in heard:
        buffer = io.BytesIO()
        samples = np.concatenate(prompt.audio) if prompt.audio else np.zeros(0, dtype=np.int16)
        soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
        try:
            async with session.post(
                f"{url.rstrip('/')}/v1/recognize",
                data=buffer.getvalue(),
                headers={"Content-Type": "audio/wav"},
            ) as response:
                body = await response.json(content_type=None)
            texts.append(str(body.get("text", "")) if response.status == 200 else "")
        except (aiohttp.ClientError, ValueError):
            texts.append("")
    return texts


def _check_step(step: Step) -> None:
    if step.kind == "press" and (not step.value or set(step.value) - DTMF_DIGITS):
        raise click.BadParameter(
            f"{step.value!r} is not DTMF keys (0-9 * # A-D)", param_hint="--press"
        )
    if step.kind == "silence":
        try:
            float(step.value)
        except ValueError:
            raise click.BadParameter(
                f"{step.value!r} is not seconds", param_hint="--silence"
            ) from None
    if step.kind == "wav" and not Path(step.value).is_file():
        raise click.BadParameter(f"no file {step.value}", param_hint="--wav")


def _print_report(
    report: CallReport, record: dict[str, Any] | None, prompt_texts: list[str]
) -> None:
    for index, seconds in enumerate(report.prompts_s, 1):
        said = prompt_texts[index - 1] if index <= len(prompt_texts) else ""
        click.echo(f"  prompt {index}: {seconds:.2f} s" + (f' "{said}"' if said else ""))
    for turn in report.turns:
        latency = "-" if turn.latency_s is None else f"{turn.latency_s * 1000:.0f} ms"
        click.echo(f"  caller {turn.step.kind} {turn.step.value!r}: next prompt after {latency}")
    if record:
        for entry in record.get("turns", []):
            heard = f" heard {entry['heard']!r}" if entry.get("heard") else ""
            click.echo(
                f"  turn {entry['turn']}: state {entry['state']}, input {entry['input']}{heard}"
            )
        click.echo(f"outcome: {record.get('disposition')} {record.get('transfer_target') or ''}")
    click.echo(f"gateway answer: {report.outcome}")


@click.command(cls=_CallCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("url")
@click.option(
    "--protocol",
    type=click.Choice(["twilio", "jambonz", "audiosocket"]),
    default=None,
    help="Gateway to act as: twilio when a Twilio token is known, else jambonz.",
)
@click.option("--say", "say", multiple=True, help="Speak TEXT (TTS) after the prompt.")
@click.option("--barge", "barge", multiple=True, help="Speak TEXT over the prompt.")
@click.option("--press", "press", multiple=True, metavar="DIGITS", help="Press keys (0-9*#A-D).")
@click.option("--wav", "wav", multiple=True, metavar="FILE", help="Play a WAV file.")
@click.option("--silence", "silence", multiple=True, metavar="SECONDS", help="Stay silent.")
@click.option(
    "--voice", default="en-us+m3", show_default=True, help="espeak-ng voice of the caller."
)
@click.option("--inband", is_flag=True, help="Send keys as in-band tones, not protocol events.")
@click.option(
    "--auth-token", default=None, help="Twilio auth token (default IVR_TWILIO_AUTH_TOKEN)."
)
@click.option("--to", "called", default="+15552223333", show_default=True, help="Called number.")
@click.option("--from", "caller_id", default="+15550001111", show_default=True, help="Caller id.")
@click.option("--audiosocket-port", default=None, type=int, help="Default IVR_AUDIOSOCKET_PORT.")
@click.pass_context
def call(
    ctx: click.Context,
    /,
    url: str,
    protocol: str | None,
    voice: str,
    inband: bool,
    auth_token: str | None,
    called: str,
    caller_id: str,
    audiosocket_port: int | None,
    **_: Any,
) -> None:
    """Call the server at URL (e.g. http://127.0.0.1:8080) and print the conversation."""
    from ivr.settings import load_settings

    steps = steps_from_args(ctx.meta.get("ivr_raw_args", []))
    for step in steps:
        _check_step(step)
    settings = load_settings()
    token = auth_token or (
        settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else None
    )
    if protocol is None:
        protocol = "twilio" if token else "jambonz"
    if protocol == "twilio" and not token:
        raise click.UsageError("Twilio needs the auth token: --auth-token or IVR_TWILIO_AUTH_TOKEN")

    def make_caller() -> Caller:  # inside the event loop: the clients need it
        if protocol == "twilio":
            return TwilioCaller(
                url, token or "", caller=caller_id, called=called, public_url=settings.public_url
            )
        if protocol == "jambonz":
            return JambonzCaller(url, caller=caller_id, called=called)
        host = urlsplit(url).hostname or "127.0.0.1"
        return AudioSocketCaller(host, audiosocket_port or settings.audiosocket_port, url)

    def show(turn: TurnReport) -> None:
        latency = "-" if turn.latency_s is None else f"{turn.latency_s * 1000:.0f} ms"
        click.echo(f"caller {turn.step.kind}: {turn.step.value!r} (latency {latency})")

    async def main() -> None:
        click.echo(f"calling {url} over {protocol} as {caller_id} -> {called}")
        caller = make_caller()
        report = await run_script(caller, steps, voice=voice, inband_keys=inband)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url.rstrip('/')}/calls/{report.call_id}") as response:
                record = await response.json() if response.status == 200 else None
            texts = await transcribe_prompts(session, url, caller.heard, caller.rate)
        _print_report(report, record, texts)

    try:
        asyncio.run(main())
    except (OSError, aiohttp.ClientError, ConnectionError) as exc:
        raise click.ClickException(f"the call failed: {exc}") from None
