"""Placeholder until the dialogs area lands: `setup(app)` loads flows and the dialog service."""

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add the flow registry and dialog service to the app."""
