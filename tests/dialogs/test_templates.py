"""Prompt templates run in a bounded sandbox and name what they read."""

from __future__ import annotations

import pytest

from dialogs import templates
from dialogs.templates import Reference, TemplateProblem


def test_references_name_roots_and_fields() -> None:
    refs = templates.references("Hi {{ call.caller }}, {{ slots['pin'] | digits }} {{ intent }}")
    assert refs == [
        Reference("call", "caller"),
        Reference("slots", "pin"),
        Reference("intent", None),
    ]


def test_filters_read_digits_back() -> None:
    ns = {"slots": {"account": "12345678"}}
    assert templates.render("{{ slots.account | last(4) | digits }}", ns) == "5 6 7 8"


def test_python_internals_are_out_of_reach() -> None:
    assert templates.render("{{ slots.__class__.__mro__ }}", {"slots": {}}) == ""


def test_huge_repetition_is_refused_not_computed() -> None:
    assert templates.render("{{ 'a' * 10**9 }}", {}) == ""
    assert templates.render("{{ 'ab' * 3 }}", {}) == "ababab"
    assert templates.evaluate("2 ** 1000 > 1", {}) is False


def test_loops_are_not_allowed_in_prompts() -> None:
    with pytest.raises(TemplateProblem, match="for blocks are not allowed"):
        templates.check("{% for i in range(9) %}{{ i }}{% endfor %}")


def test_a_failing_prompt_says_nothing_instead_of_ending_the_call() -> None:
    assert templates.render("{{ slots.x + 1 }}", {"slots": {"x": "a"}}) == ""
