"""`ivr serve`: run the app until SIGINT/SIGTERM, draining calls in progress on the way out."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import sys

import click
from aiohttp import web

from ivr import logs
from ivr.app import create_app
from ivr.health import READINESS
from ivr.numbers import NumberMapError
from ivr.settings import Settings, SettingsError, load_settings

log = logging.getLogger(__name__)


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls_cert_file is None and settings.tls_key_file is None:
        return None
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        raise SettingsError("IVR_TLS_CERT_FILE and IVR_TLS_KEY_FILE must be set together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(settings.tls_cert_file), str(settings.tls_key_file))
    return context


async def serve_app(app: web.Application, settings: Settings) -> None:
    """Serve `app` until SIGINT/SIGTERM, then drain: `/readyz` turns 503 (the listener stays
    open so load balancers and probes see it), `Readiness.admit()` refuses new calls, and calls
    in progress get `drain_timeout_s` to finish. A second signal stops waiting."""
    # An idle keep-alive connection is closed after 75 s (aiohttp's own default is an hour).
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=5, keepalive_timeout=75
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, ssl_context=_ssl_context(settings))
    await site.start()
    log.info("serving", extra={"host": settings.host, "port": settings.port})
    signals = asyncio.Queue[int]()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, signals.put_nowait, signum)
    try:
        await signals.get()
        readiness = app[READINESS]
        readiness.draining = True
        log.info(
            "draining", extra={"active": readiness.active, "timeout_s": settings.drain_timeout_s}
        )
        drained = asyncio.ensure_future(readiness.wait_idle(settings.drain_timeout_s))
        again = asyncio.ensure_future(signals.get())
        await asyncio.wait({drained, again}, return_when=asyncio.FIRST_COMPLETED)
        again.cancel()
        if not drained.done() or not drained.result():
            drained.cancel()
            log.warning("drain cut short", extra={"still_active": readiness.active})
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await runner.cleanup()
    log.info("stopped")


async def run(settings: Settings) -> None:
    """Serve the app built from `settings` until a stop signal, draining on the way out."""
    await serve_app(create_app(settings), settings)


@click.command()
def serve() -> None:
    """Run the service with settings from IVR_* variables and .env (see the README)."""
    try:
        settings = load_settings()
        _ssl_context(settings)
    except (SettingsError, OSError, ssl.SSLError) as exc:
        click.echo(f"ivr serve: {exc}", err=True)
        sys.exit(2)
    logs.configure(settings.log_level)
    try:
        asyncio.run(run(settings))
    except (NumberMapError, OSError) as exc:
        # A bad number map or a port already in use: say which, without a traceback.
        click.echo(f"ivr serve: cannot start: {exc}", err=True)
        sys.exit(2)
