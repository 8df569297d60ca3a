"""The called-number map: which tenant and flow answer a number, and the tenant's Twilio token.

`IVR_NUMBER_MAP_FILE` (YAML or JSON):

    tenants:
      acme:
        twilio_auth_token: "..."     # optional; overrides IVR_TWILIO_AUTH_TOKEN
    numbers:
      "+15551230000": {tenant: acme, flow: billing}
      "+15551230001": {tenant: acme}  # the default flow

Numbers not in the map go to tenant `default` and `IVR_DEFAULT_FLOW`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from ivr.settings import Settings

DEFAULT_TENANT = "default"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class NumberMapError(Exception):
    """The number map file is missing or invalid; the message names the file and entry."""

    http_status = 500


class _Tenant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    twilio_auth_token: SecretStr | None = None


class _Number(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(pattern=_NAME)
    flow: str | None = Field(None, pattern=_NAME)


class _NumberFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenants: dict[str, _Tenant] = {}
    numbers: dict[str, _Number] = {}


@dataclass(frozen=True)
class Route:
    """Where a call to one number goes."""

    tenant: str
    flow: str


def normalize(number: str) -> str:
    """`+1 (555) 123-0000` and `tel:+15551230000` -> `+15551230000`; SIP URIs keep their user."""
    text = number.strip()
    for prefix in ("tel:", "sip:", "sips:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :].split("@", 1)[0]
    return re.sub(r"[\s().-]", "", text)


class NumberMap:
    def __init__(
        self,
        numbers: dict[str, Route],
        tokens: dict[str, str],
        default_flow: str,
        default_token: str | None,
    ) -> None:
        self._numbers = numbers
        self._tokens = tokens
        self.default_flow = default_flow
        self.default_token = default_token

    def route(self, called: str) -> Route:
        found = self._numbers.get(normalize(called))
        return found or Route(DEFAULT_TENANT, self.default_flow)

    def twilio_token(self, tenant: str) -> str | None:
        """The tenant's own token, else the default (`IVR_TWILIO_AUTH_TOKEN`)."""
        return self._tokens.get(tenant, self.default_token)


def load_number_map(settings: Settings) -> NumberMap:
    default_token = (
        settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else None
    )
    path = settings.number_map_file
    if path is None:
        return NumberMap({}, {}, settings.default_flow, default_token)
    parsed = _read(path)
    numbers: dict[str, Route] = {}
    for number, entry in parsed.numbers.items():
        if entry.tenant != DEFAULT_TENANT and entry.tenant not in parsed.tenants:
            raise NumberMapError(
                f"{path}: number {number!r} names tenant {entry.tenant!r}, which is not "
                "under `tenants:`; add it there"
            )
        numbers[normalize(number)] = Route(entry.tenant, entry.flow or settings.default_flow)
    tokens = {
        name: tenant.twilio_auth_token.get_secret_value()
        for name, tenant in parsed.tenants.items()
        if tenant.twilio_auth_token is not None
    }
    return NumberMap(numbers, tokens, settings.default_flow, default_token)


def _read(path: Path) -> _NumberFile:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise NumberMapError(f"cannot read IVR_NUMBER_MAP_FILE {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise NumberMapError(f"{path} is not valid YAML/JSON: {exc}") from None
    try:
        return _NumberFile.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise NumberMapError(f"{path}: {problems}") from None


NUMBERS = web.AppKey("numbers", NumberMap)
