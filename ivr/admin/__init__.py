"""Placeholder until this area lands: `setup(app)` adds its resources and routes."""

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add this area's cleanup contexts and routes to the app."""
