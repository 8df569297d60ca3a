"""Hostile bodies on the text-channel API: always a clear 4xx, never a 500, and the service
stays up (a real `ivr serve` process, so a crash would show)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEY = "k1:" + base64.b64encode(bytes(range(32))).decode()
FIELDS = ["turn", "type", "text", "digits", "confidence", "call_id", "tenant", "flow", "caller",
          "called", "locale", "disposition", "transfer_target"]  # fmt: skip
scalars = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=30) | st.sampled_from(["speech", "digits", "no_input", "12#", "billing"])
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda v: st.lists(v, max_size=3) | st.dictionaries(st.text(max_size=5), v, max_size=3),
    max_leaves=8,
)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), values, max_size=6),
    values,
    st.binary(max_size=60),
)
paths = st.sampled_from(["/v1/dialogs", "/v1/dialogs/fz/events", "/v1/dialogs/fz/finish"])


def send(url: str, body: Any) -> int:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        answer = json.loads(exc.read())
        assert answer["error"], answer  # a message that says what was wrong
        return int(exc.code)


def test_hostile_bodies_get_client_errors(
    start_service: Callable[..., Any], redis_url: str
) -> None:
    service = start_service(IVR_REDIS_URL=redis_url, IVR_DATA_KEYS=KEY)
    assert send(f"{service.url}/v1/dialogs", {"call_id": "fz"}) == 201

    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(paths, bodies)
    def hostile(path: str, body: Any) -> None:
        status = send(service.url + path, body)
        assert status < 500, (path, body)

    hostile()
    with urllib.request.urlopen(f"{service.url}/healthz", timeout=10) as response:
        assert response.status == 200
