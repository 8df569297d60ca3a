"""Reading flow YAML: problems come back at the right `file:line`."""

from __future__ import annotations

import pytest

from dialogs.errors import FlowInvalid
from dialogs.loader import parse_flow

GOOD = """\
version: 1
start: hello
states:
  hello:
    type: hangup
    say: "Hi"
"""


def problems(text: str) -> list[str]:
    with pytest.raises(FlowInvalid) as caught:
        parse_flow(text, "f.yaml")
    return [str(p) for p in caught.value.problems]


def test_a_minimal_flow_loads() -> None:
    flow, lines = parse_flow(GOOD, "f.yaml")
    assert flow.start == "hello"
    assert lines.line(("states", "hello", "say")) == 6


def test_unknown_field_is_reported_on_its_line() -> None:
    text = GOOD.replace('    say: "Hi"', '    say: "Hi"\n    sya: "typo"')
    assert problems(text) == [
        "f.yaml:7: states.hello.hangup.sya: unknown field (check its spelling and indentation)"
    ]


def test_wrong_state_type_names_the_choices() -> None:
    found = problems(GOOD.replace("type: hangup", "type: hang_up"))
    assert len(found) == 1 and found[0].startswith("f.yaml:5: ")
    assert "message, menu, collect" in found[0]


def test_yaml_syntax_error_has_its_line() -> None:
    found = problems(GOOD + "  broken: [unclosed\n")
    assert found[0].startswith("f.yaml:") and "YAML syntax" in found[0]


def test_duplicate_keys_are_refused() -> None:
    found = problems(GOOD + "  hello:\n    type: hangup\n")
    assert found == ["f.yaml:7: duplicate key 'hello' (the earlier one would be lost)"]


def test_aliases_are_refused() -> None:
    text = GOOD.replace('say: "Hi"', "say: &x Hi") + "  bye:\n    type: hangup\n    say: *x\n"
    assert problems(text) == ["f.yaml:9: YAML aliases (*name) are not allowed"]


def test_yes_and_no_stay_words() -> None:
    text = GOOD + "slots:\n  yes:\n    type: text\n"
    flow, _ = parse_flow(text, "f.yaml")
    assert list(flow.slots) == ["yes"]


def test_version_must_be_one() -> None:
    assert problems(GOOD.replace("version: 1", "version: 2")) == [
        "f.yaml:1: version: must be 1 (got 2); this is format 1"
    ]
