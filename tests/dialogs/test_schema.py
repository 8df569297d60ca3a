"""The flow format: the shipped JSON Schema and the pydantic models agree."""

from __future__ import annotations

import json
from pathlib import Path

from dialogs.schema import flow_json_schema

SHIPPED = Path(__file__).resolve().parents[2] / "dialogs" / "flow.schema.json"


def test_shipped_json_schema_is_the_generated_one() -> None:
    assert json.loads(SHIPPED.read_text()) == json.loads(json.dumps(flow_json_schema()))


def test_json_schema_names_every_state_type() -> None:
    text = json.dumps(flow_json_schema())
    for kind in ("message", "menu", "collect", "decide", "http", "transfer", "hangup", "subflow"):
        assert f'"const": "{kind}"' in text
