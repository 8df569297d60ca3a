"""Telephony gateways: Twilio Media Streams, jambonz/mod_audio_fork and Asterisk AudioSocket,
each a thin translator into one call session (`ivr/calls.py`). See docs/gateways.md."""

from aiohttp import web


def setup(app: web.Application) -> None:
    """Call admission, number map, prompts, the gateway routes and the AudioSocket server."""
    from ivr.gateways import asterisk, jambonz_http, outcomes, twilio_http
    from ivr.gateways.services import open_gateways

    open_gateways(app)
    app.router.add_routes(twilio_http.routes)
    app.router.add_routes(jambonz_http.routes)
    app.router.add_routes(asterisk.routes)
    app.router.add_routes(outcomes.routes)
    app.cleanup_ctx.append(asterisk.audiosocket_context)
