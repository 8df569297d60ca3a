"""Hot reload: a changed flow file is served to new calls, a broken one is refused while the
last valid version keeps serving, and calls in progress finish on their own version."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ivr.flows import DIALOGS
from ivr.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "dialogs" / "examples"
KEY = "a:" + base64.b64encode(bytes(range(32))).decode()


def replace(path: Path, text: str) -> None:
    """Write the way deploy tools do: a new file renamed over the old one."""
    fresh = path.with_suffix(".tmp")
    fresh.write_text(text)
    os.replace(fresh, path)


async def until(predicate: Callable[[], bool], what: str) -> None:
    """Wait for the watcher (it polls about every second) to see a change."""
    for _ in range(200):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_hot_reload_keeps_calls_on_their_version(
    start_app: Any, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(EXAMPLES, flows)
    client = await start_app(
        make_settings(
            flows_dir=flows, data_keys=KEY, flows_reload=True, default_flow="bank_balance"
        )
    )
    service = client.app[DIALOGS]
    path = flows / "bank_balance.yaml"
    first = await service.start(call_id="old", tenant="t", flow="bank_balance", caller=None,
                                called=None)  # fmt: skip
    version = service.registry.current["bank_balance"].digest

    text = path.read_text()
    replace(path, text.replace("    next: ask_account\n", "    next: ask_acount\n", 1))
    await until(lambda: "bank_balance" in service.registry.errors, "the broken file refused")
    assert service.registry.current["bank_balance"].digest == version
    listing = await (await client.get("/v1/flows")).json()
    assert "state 'greet' goes to 'ask_acount'" in listing["refused"]["bank_balance"][0]
    ready = await (await client.get("/readyz")).json()
    assert "flows" not in ready.get("problems", {})  # still serving the last valid version

    replace(path, text.replace("Please say or type your 8-digit", "Say or type your 8-digit"))
    await until(lambda: service.registry.current["bank_balance"].digest != version, "reload")
    assert "bank_balance" not in service.registry.errors
    new = await service.start(call_id="new", tenant="t", flow="bank_balance", caller=None,
                              called=None)  # fmt: skip
    assert new.actions[1].text.startswith("Say or type")
    from dialogs.actions import NoInput

    again = await service.handle("old", NoInput(), turn=first.turn)
    assert again.actions[0].text.startswith("I didn't hear")
    reprompt = await service.handle("old", NoInput(), turn=again.turn)
    assert reprompt.state == "ask_account"
    metrics = await (await client.get("/metrics")).text()
    assert 'ivr_dialog_flow_reloads_total{result="refused"} 1.0' in metrics
