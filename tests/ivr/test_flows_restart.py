"""A call survives its process: SIGKILL `ivr serve` between two turns, and a fresh process
continues the conversation from Redis in the right state."""

from __future__ import annotations

import base64
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "dialogs" / "examples"
KEY = "k1:" + base64.b64encode(bytes(range(32))).decode()


def post(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def always_open(folder: Path) -> Path:
    """The example router with office hours around the clock, so the test never meets the
    after-hours branch whatever the time it runs."""
    folder.mkdir()
    text = (EXAMPLES / "customer_service.yaml").read_text()
    text = text.replace("call.weekday in ['sat', 'sun']", "false")
    text = text.replace("opens_at: 9", "opens_at: 0").replace("closes_at: 17", "closes_at: 24")
    (folder / "customer_service.yaml").write_text(text)
    return folder


def test_killed_service_continues_the_call_in_a_fresh_process(
    start_service: Callable[..., Any], redis_url: str, tmp_path: Path
) -> None:
    flows = always_open(tmp_path / "flows")
    env = {"IVR_REDIS_URL": redis_url, "IVR_DATA_KEYS": KEY, "IVR_FLOWS_DIR": str(flows)}
    first = start_service(**env)
    status, turn = post(f"{first.url}/v1/dialogs", {"call_id": "k-1", "caller": "+15550009999"})
    assert status == 201 and turn["state"] == "main_menu"
    status, turn = post(
        f"{first.url}/v1/dialogs/k-1/events",
        {"turn": turn["turn"], "type": "speech", "text": "I need tech support", "confidence": 0.9},
    )
    assert status == 200 and turn["turn"] == 2
    assert "You'd like support, is that right?" in turn["actions"][0]["text"]

    first.stop()  # SIGKILL: no drain, no goodbye
    assert first.process.returncode == -9

    # A new version of the flow is deployed while the call waits; the call keeps its version.
    path = flows / "customer_service.yaml"
    path.write_text(path.read_text().replace("Connecting you to technical support.", "New text."))
    second = start_service(**env)
    status, stale = post(f"{second.url}/v1/dialogs/k-1/events", {"turn": 1, "type": "no_input"})
    assert status == 409 and stale["turn"] == 2
    status, turn = post(
        f"{second.url}/v1/dialogs/k-1/events", {"turn": 2, "type": "speech", "text": "yes"}
    )
    assert status == 200, turn
    assert turn["state"] == "support" and turn["ended"] is True
    assert turn["actions"][-1] == {"type": "transfer", "target": "sip:support@pbx.example.com"}
    assert turn["actions"][0]["text"] == "Connecting you to technical support."

    status, new = post(f"{second.url}/v1/dialogs", {"call_id": "k-2"})
    status, new = post(f"{second.url}/v1/dialogs/k-2/events", {"turn": 1, "type": "digits",
                                                               "digits": "3"})  # fmt: skip
    status, new = post(f"{second.url}/v1/dialogs/k-2/events", {"turn": 2, "type": "digits",
                                                               "digits": "1"})  # fmt: skip
    assert new["actions"][0]["text"] == "New text."


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_sighup_rereads_flows(start_service: Callable[..., Any], tmp_path: Path) -> None:
    flows = always_open(tmp_path / "flows")
    service = start_service(IVR_FLOWS_DIR=str(flows), IVR_DATA_KEYS=KEY)
    before = get(f"{service.url}/v1/flows")["flows"][0]["version"]
    # Same size, same mtime: only SIGHUP, not the change poller, can notice this edit.
    path = flows / "customer_service.yaml"
    stat = path.stat()
    text = path.read_text()
    edited = text.replace("Connecting you to sales.", "Connecting you to SALES.")
    assert len(edited) == len(text) and edited != text
    path.write_text(edited)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    time.sleep(1.5)  # two poll rounds: the poller must not see it
    assert get(f"{service.url}/v1/flows")["flows"][0]["version"] == before
    service.signal(signal.SIGHUP)
    for _ in range(100):
        if get(f"{service.url}/v1/flows")["flows"][0]["version"] != before:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("SIGHUP did not reload the flow")
    assert service.process.poll() is None  # SIGHUP did not end the process
