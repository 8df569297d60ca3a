"""Property-based fuzzing: flow YAML never crashes the loader or validator (a clear
`file:line` problem or a valid flow), and no caller input crashes the engine.

`HYPOTHESIS_PROFILE=deep` runs many more examples than CI's fixed count."""

from __future__ import annotations

import datetime as dt
import os
import random
from typing import Any

import yaml
from flowfiles import EXAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialogs.actions import Digits, Event, NoInput, Speech
from dialogs.engine import CallEnded, advance, begin
from dialogs.errors import FlowInvalid
from dialogs.loader import LoadedFlow, flow_digest, parse_flow
from dialogs.registry import FlowSet
from dialogs.validate import validate_loaded

# The machine running CI is shared: slowness is not a failure here (speed lives in bench/).
RELAXED = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("deep", max_examples=5000, deadline=None, suppress_health_check=RELAXED)
settings.register_profile("ci", max_examples=150, deadline=None, suppress_health_check=RELAXED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

EXAMPLE_TEXTS = [p.read_text() for p in sorted(EXAMPLES.glob("*.yaml")) if ".test." not in p.name]
WORDS = ["version", "states", "start", "type", "say", "next", "menu", "collect", "slot",
         "intents", "goto", "prompt", "hangup", "transfer", "target", "decide", "cases", "when",
         "{{ slots.x }}", "{% for %}", "1", "yes", "no", "null", "[", "]", "{", "}", "-", ":",
         "&a", "*a", "!!python/object", "\t", "\n", "  "]  # fmt: skip


def check(text: str) -> None:
    """Loading and validating either succeeds or raises FlowInvalid with lines in the file."""
    try:
        flow, lines = parse_flow(text, "fuzz.yaml")
    except FlowInvalid as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.file == "fuzz.yaml" and problem.line >= 1 and problem.message
        return
    loaded = LoadedFlow("fuzz", __import__("pathlib").Path("fuzz.yaml"), text, flow, lines,
                        flow_digest(text))  # fmt: skip
    for problem in validate_loaded(loaded, {}):
        assert problem.line >= 1 and problem.message


@given(st.text(max_size=400))
def test_any_text(text: str) -> None:
    check(text)


@given(st.lists(st.sampled_from(WORDS), max_size=60))
def test_flow_like_tokens(tokens: list[str]) -> None:
    check(" ".join(tokens))


@given(st.sampled_from(EXAMPLE_TEXTS), st.randoms(use_true_random=False), st.integers(1, 6))
def test_mutated_examples(text: str, rnd: random.Random, edits: int) -> None:
    lines = text.splitlines()
    for _ in range(edits):
        i = rnd.randrange(len(lines))
        choice = rnd.randrange(4)
        if choice == 0:
            del lines[i]
        elif choice == 1:
            lines.insert(i, lines[rnd.randrange(len(lines))])
        elif choice == 2:
            lines[i] = lines[i].replace(rnd.choice(["goto", "type", "say", ":", " "]),
                                        rnd.choice(WORDS), 1)  # fmt: skip
        else:
            lines[i] = " " * rnd.randrange(8) + lines[i].lstrip()
    check("\n".join(lines))


json_values: Any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10) | st.sampled_from(WORDS),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(WORDS) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=30,
)


@given(st.dictionaries(st.sampled_from(WORDS), json_values, max_size=6))
def test_structured_documents(doc: dict[str, Any]) -> None:
    check(yaml.safe_dump({"version": 1, **doc}))


def flows() -> FlowSet:
    found = FlowSet()
    for path in sorted(EXAMPLES.glob("*.yaml")):
        if ".test." not in path.name:
            text = path.read_text()
            flow, lines = parse_flow(text, str(path))
            found.add(LoadedFlow(path.stem, path, text, flow, lines, flow_digest(text)))
    return found


FLOWS = flows()
SAID = ["yes", "no", "billing", "agent", "one two three four", "five six seven eight", "another",
        "done", ""]  # fmt: skip
events = st.one_of(
    st.builds(Speech, st.sampled_from(SAID) | st.text(max_size=40), st.floats(0, 1)),
    st.builds(Digits, st.from_regex(r"[0-9*#]{1,10}", fullmatch=True)),
    st.just(NoInput()),
)


@given(st.sampled_from(["customer_service", "bank_balance"]), st.lists(events, max_size=12),
       st.integers(0, 6))  # fmt: skip
def test_no_caller_input_crashes_the_engine(flow: str, script: list[Event], day: int) -> None:
    now = dt.datetime(2026, 1, 5 + day, 15, tzinfo=dt.UTC)
    step = begin(FLOWS, flow, call_id="f", tenant="t", caller=None, called=None, now=now)
    state = step.state
    for event in script:
        if state.phase == "http":
            break  # back-end answers are the driver's job; covered by the flow tests
        try:
            step = advance(FLOWS, state, event)
        except CallEnded:
            assert state.ended
            break
        state = step.state
        assert state.state in FLOWS.resolve(flow, None).flow.states
