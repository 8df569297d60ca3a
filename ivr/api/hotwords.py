"""Which hot words a request gets: its tenant's phrases plus the ones it names itself."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from ivr.admin import HOTWORDS
from recognizer.errors import HotwordFormatError
from recognizer.phrases import Hotword, check_boost, merge_hotwords, normalise_phrase, parse_hotword

MAX_EXPLICIT = 200


async def resolve_hotwords(
    app: web.Application, tenant: str | None, explicit: Iterable[Hotword]
) -> tuple[Hotword, ...]:
    """The tenant's hot words (the hot-words cache, fresh across replicas) merged with the
    request's own, whose boost wins on conflict."""
    tenant_words: tuple[Hotword, ...] = ()
    if tenant and HOTWORDS in app:
        tenant_words = (await app[HOTWORDS].get(tenant)).phrases
    return merge_hotwords(tenant_words, explicit)


def hotwords_from_strings(values: Iterable[str]) -> tuple[Hotword, ...]:
    """`PHRASE[:BOOST]` strings (query parameters, CLI options) -> hot words."""
    out = []
    for value in values:
        try:
            out.append(parse_hotword(value))
        except ValueError as exc:
            raise HotwordFormatError(f"{exc}; write hot words as PHRASE[:BOOST]") from None
    if len(out) > MAX_EXPLICIT:
        raise HotwordFormatError(f"at most {MAX_EXPLICIT} hot words per request")
    return tuple(out)


def hotword_from_fields(phrase: str, boost: float) -> Hotword:
    try:
        return Hotword(normalise_phrase(phrase), check_boost(boost))
    except ValueError as exc:
        raise HotwordFormatError(str(exc)) from None
