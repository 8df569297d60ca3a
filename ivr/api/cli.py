"""`ivr transcribe`: transcribe audio files with the model, through the same code as the API.

With `--json`, one JSON object per line per file (`file`, `text`, `confidence`, `duration_s`,
`words`); a file that cannot be read gets `{"file": ..., "error": ...}` and the others still go
through. The exit status is 1 when any file failed. `--tenant` reads that tenant's hot words
from the store (`IVR_REDIS_URL`); `--hotword` phrases are added and win on conflict.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any, Literal

import click
from redis.exceptions import RedisError

from ivr.settings import Settings, SettingsError, load_settings
from recognizer.phrases import Hotword, merge_hotwords


async def _run(
    files: tuple[Path, ...],
    hotword_texts: tuple[str, ...],
    tenant: str | None,
    engine: Literal["onnx", "torchscript"] | None,
    as_json: bool,
) -> int:
    from ivr.api.hotwords import hotwords_from_strings
    from ivr.api.results import transcript_json
    from ivr.api.service import recognizer_options
    from recognizer.audio import read_audio
    from recognizer.errors import RecognizerError
    from recognizer.transcribe import Recognizer

    overrides: dict[str, Any] = {"engine": engine} if engine else {}
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        hotwords = hotwords_from_strings(hotword_texts)
    except RecognizerError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        recognizer = await Recognizer.open(settings.model_dir, recognizer_options(settings))
    except RecognizerError as exc:
        raise click.ClickException(f"{exc} (IVR_MODEL_DIR={settings.model_dir})") from None
    if tenant:
        hotwords = merge_hotwords(await _tenant_hotwords(settings, tenant), hotwords)
    failed = 0
    try:
        for path in files:
            try:
                samples, rate = await asyncio.to_thread(read_audio, path)
                transcript = await recognizer.transcribe(samples, rate, hotwords)
            except RecognizerError as exc:
                failed += 1
                if as_json:
                    click.echo(json.dumps({"file": str(path), "error": str(exc)}))
                else:
                    click.echo(f"{path}: error: {exc}", err=True)
                continue
            if as_json:
                click.echo(json.dumps({"file": str(path), **transcript_json(transcript)}))
            else:
                click.echo(f"{path}: {transcript.text}")
    finally:
        await recognizer.close()
    return 1 if failed else 0


async def _tenant_hotwords(settings: Settings, tenant: str) -> tuple[Hotword, ...]:
    """The tenant's phrases from the store the service uses (`IVR_REDIS_URL`)."""
    if not settings.redis_url:
        click.echo(
            f"note: IVR_REDIS_URL is not set, so tenant {tenant!r} has no stored hot words; "
            "using --hotword only",
            err=True,
        )
        return ()
    from hotwords.store import HotwordStore
    from ivr.store import open_store

    store = open_store(settings)
    try:
        snapshot = await HotwordStore(store.redis, settings.hotwords_max_per_tenant).snapshot(
            tenant
        )
    except (OSError, RedisError) as exc:
        raise click.ClickException(f"cannot read tenant {tenant!r} hot words: {exc}") from None
    finally:
        await store.close()
    if not snapshot.exists:
        raise click.UsageError(f"unknown tenant {tenant!r}")
    return tuple(Hotword(h.phrase, h.boost) for h in snapshot.hotwords)


@click.command("transcribe")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per file.")
@click.option("--tenant", help="Tenant whose hot words apply (needs the service's store).")
@click.option(
    "--hotword",
    "hotwords",
    multiple=True,
    metavar="PHRASE[:BOOST]",
    help="A phrase to favour, boost 0-20 (default 10); repeat for more.",
)
@click.option(
    "--engine",
    type=click.Choice(["onnx", "torchscript"]),
    default=None,
    help="Acoustic model engine (default IVR_ENGINE, onnx).",
)
def transcribe(
    files: tuple[Path, ...],
    as_json: bool,
    tenant: str | None,
    hotwords: tuple[str, ...],
    engine: Literal["onnx", "torchscript"] | None,
) -> None:
    """Transcribe audio FILEs (any format soundfile reads) with the model in IVR_MODEL_DIR."""
    status = asyncio.run(_run(files, hotwords, tenant, engine, as_json))
    sys.exit(status)
