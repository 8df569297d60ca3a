"""The called-number map: tenant and flow per number, per-tenant Twilio tokens, defaults."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ivr.numbers import DEFAULT_TENANT, NumberMapError, load_number_map, normalize
from ivr.settings import Settings

MAP = """
tenants:
  acme: {twilio_auth_token: acme-token}
  globex: {}
numbers:
  "+1 (555) 123-0000": {tenant: acme, flow: billing}
  "+15551230001": {tenant: globex}
"""


def test_numbers_route_to_their_tenant_and_flow(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    (tmp_path / "numbers.yaml").write_text(MAP)
    numbers = load_number_map(
        make_settings(number_map_file=tmp_path / "numbers.yaml", twilio_auth_token="default-token")
    )
    assert numbers.route("tel:+15551230000").tenant == "acme"
    assert numbers.route("+15551230000").flow == "billing"
    assert numbers.route("+15551230001").flow == "customer_service"
    unmapped = numbers.route("+19999999999")
    assert (unmapped.tenant, unmapped.flow) == (DEFAULT_TENANT, "customer_service")
    assert numbers.twilio_token("acme") == "acme-token"
    assert numbers.twilio_token("globex") == "default-token"


def test_a_number_naming_an_unknown_tenant_is_refused(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    (tmp_path / "numbers.yaml").write_text('numbers: {"+1": {tenant: nobody}}')
    with pytest.raises(NumberMapError, match="nobody"):
        load_number_map(make_settings(number_map_file=tmp_path / "numbers.yaml"))


def test_a_broken_file_names_the_problem(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    (tmp_path / "numbers.yaml").write_text("numbers: [1, 2")
    with pytest.raises(NumberMapError, match=r"numbers\.yaml"):
        load_number_map(make_settings(number_map_file=tmp_path / "numbers.yaml"))


def test_normalize_strips_formatting_and_uri_schemes() -> None:
    assert normalize(" +1 (555) 123-0000 ") == "+15551230000"
    assert normalize("sip:+15551230000@pbx.example.com") == "+15551230000"
