"""`POST /v1/recognize`: a whole recording in the body, its transcript as JSON.

The body is a file (`audio/wav`, `audio/flac`, or anything else soundfile reads) or raw telephone
audio: `audio/pcmu`, `audio/pcma` or `audio/l16` (16-bit little-endian; `;endianness=big` for
RFC 2586 senders) with a `rate` parameter (default 8000). Query parameters: `tenant`, and
`hotword=PHRASE[:BOOST]` as often as needed. Bodies over `IVR_MAX_BODY_BYTES` get 413.
With `IVR_API_AUTH=required` the request needs an API key that may act on `tenant`.
"""

from __future__ import annotations

import asyncio

import numpy as np
import numpy.typing as npt
from aiohttp import web
from aiohttp.helpers import parse_mimetype

from ivr.admin.apiauth import api_authorize
from ivr.api.hotwords import hotwords_from_strings, resolve_hotwords
from ivr.api.results import transcript_json
from ivr.api.service import RECOGNIZER
from recognizer.audio import AudioFormat, decode_bytes, read_audio
from recognizer.errors import AudioFormatError, RecognizerError

routes = web.RouteTableDef()

RAW_TYPES = {"audio/pcmu": "pcmu", "audio/pcma": "pcma", "audio/l16": "l16"}
FILE_TYPES = {
    "audio/wav",
    "audio/x-wav",
    "audio/wave",
    "audio/vnd.wave",
    "audio/flac",
    "audio/x-flac",
    "audio/ogg",
    "application/octet-stream",
}


class UnsupportedMediaType(RecognizerError):
    http_status = 415


def _decode_body(
    body: bytes, content_type: str, params: dict[str, str]
) -> tuple[npt.NDArray[np.float32], int]:
    """Body bytes -> (float mono samples, their rate); runs in an executor (big files)."""
    if content_type in RAW_TYPES:
        try:
            rate = int(params.get("rate", "8000"))
        except ValueError:
            raise AudioFormatError(f"rate parameter {params['rate']!r} is not a number") from None
        audio_format = AudioFormat.parse(RAW_TYPES[content_type], rate)
        if audio_format.encoding == "l16" and params.get("endianness", "").lower() == "big":
            if len(body) % 2:
                raise AudioFormatError(f"odd-length L16 body ({len(body)} bytes)")
            body = np.frombuffer(body, dtype=">i2").astype("<i2").tobytes()
        return decode_bytes(body, audio_format.encoding), audio_format.sample_rate
    return read_audio(body, "request body")


@routes.post("/v1/recognize")
async def recognize(request: web.Request) -> web.Response:
    await api_authorize(request, request.query.get("tenant") or None)
    content_type = request.content_type.lower()
    if content_type not in RAW_TYPES and content_type not in FILE_TYPES:
        raise UnsupportedMediaType(
            f"unsupported Content-Type {content_type!r}: send audio/wav, audio/flac, or raw "
            "audio/pcmu, audio/pcma or audio/l16 with ;rate=8000"
        )
    explicit = hotwords_from_strings(request.query.getall("hotword", []))
    tenant = request.query.get("tenant") or None
    hotwords = await resolve_hotwords(request.app, tenant, explicit)
    body = await request.read()
    if not body:
        raise AudioFormatError("the request body is empty: send the audio as the body")
    mimetype = parse_mimetype(request.headers.get("Content-Type", ""))
    params = {k.lower(): v for k, v in mimetype.parameters.items()}
    loop = asyncio.get_running_loop()
    samples, rate = await loop.run_in_executor(None, _decode_body, body, content_type, params)
    recognizer = request.app[RECOGNIZER].recognizer
    transcript = await recognizer.transcribe(samples, rate, hotwords)
    return web.json_response(transcript_json(transcript))
