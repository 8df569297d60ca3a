"""Prompt templates and transition conditions: Jinja2 in its sandbox, over the call's values.

A template sees `slots.<name>`, `vars.<name>`, `call.<field>`, `intent` and `attempt`, nothing
else: no attribute of Python objects, no file, no import. The validator asks this module which
names a template reads, to catch a variable that can never exist before a call does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

log = logging.getLogger(__name__)
CALL_FIELDS = frozenset(
    {"call_id", "tenant", "caller", "called", "locale", "hour", "minute", "weekday", "date"}
)
ROOTS = frozenset({"slots", "vars", "call", "intent", "attempt"})
MAX_TEMPLATE_CHARS = 4000
MAX_OUTPUT_CHARS = 2000


def spell_digits(value: object) -> str:
    """`1234` -> `1 2 3 4`: read back a number digit by digit."""
    return " ".join(str(value))


def last_digits(value: object, keep: int = 4) -> str:
    text = str(value)
    return text[-keep:] if len(text) > keep else text


MAX_REPEAT = 1000
MAX_EXPONENT = 64
FORBIDDEN_BLOCKS = (nodes.For, nodes.Macro, nodes.CallBlock, nodes.FilterBlock, nodes.Assign,
                    nodes.AssignBlock, nodes.Import, nodes.FromImport, nodes.Include,
                    nodes.Extends)  # fmt: skip


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's sandbox, plus bounds on `*` and `**` so `{{ 'a' * 10**9 }}` cannot eat memory."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponent above {MAX_EXPONENT}")
            return left**right
        for count, other in ((left, right), (right, left)):
            sized = isinstance(other, (str, list, tuple))
            if sized and isinstance(count, int) and count * max(len(other), 1) > MAX_REPEAT:
                raise SecurityError(f"repetition longer than {MAX_REPEAT}")
        return left * right


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    env = BoundedSandbox(autoescape=False, keep_trailing_newline=False)
    env.filters["digits"] = spell_digits
    env.filters["last"] = last_digits
    return env


class TemplateProblem(ValueError):
    """A template that does not compile; the message says where in it."""


@dataclass(frozen=True)
class Reference:
    """A name a template reads: `slots.account` is Reference("slots", "account")."""

    root: str
    name: str | None


def _parse(source: str) -> nodes.Template:
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateProblem(f"template longer than {MAX_TEMPLATE_CHARS} characters")
    try:
        tree = environment().parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"template syntax: {exc.message}") from None
    # Prompts fill in values; loops, macros and assignments have no place in them (and a
    # loop is the one way a template could keep a turn busy).
    for block in tree.find_all(FORBIDDEN_BLOCKS):
        raise TemplateProblem(
            f"{type(block).__name__.lower()} blocks are not allowed in prompts; use "
            "{{ value }}, filters and {% if %}"
        )
    return tree


def _parse_expression(source: str) -> nodes.Template:
    check(source, expression=True)
    return _parse("{{ (" + source + ") }}")


def references(source: str, *, expression: bool = False) -> list[Reference]:
    """Names read by a template (or a condition when `expression`), in order of appearance."""
    tree = _parse_expression(source) if expression else _parse(source)
    found: list[Reference] = []
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    attribute_roots: set[int] = set()
    for access in tree.find_all((nodes.Getattr, nodes.Getitem)):
        target = access.node  # type: ignore[attr-defined]
        if isinstance(target, nodes.Name) and target.ctx == "load":
            attribute_roots.add(id(target))
            name: str | None = None
            if isinstance(access, nodes.Getattr):
                name = access.attr
            elif isinstance(access, nodes.Getitem):
                key = access.arg
                if isinstance(key, nodes.Const) and isinstance(key.value, str):
                    name = key.value
            found.append(Reference(target.name, name))
    for node in tree.find_all(nodes.Name):
        if node.ctx == "load" and id(node) not in attribute_roots and node.name not in assigned:
            found.append(Reference(node.name, None))
    return found


@lru_cache(maxsize=2048)
def _compiled(source: str) -> Any:
    return environment().from_string(source)


@lru_cache(maxsize=1024)
def _compiled_expression(source: str) -> Any:
    return environment().compile_expression(source)


def render(source: str, namespace: Mapping[str, Any]) -> str:
    """Fill a prompt template; output is cut at a bound so a template cannot flood TTS.

    A template that fails at run time (a value of the wrong type) says nothing rather than
    ending the call; the failure is logged with the template, never with the values."""
    if "{" not in source:
        return source
    try:
        _parse(source)
        text = str(_compiled(source).render(**namespace))
    except Exception as exc:  # one broken prompt must not drop the call
        log.warning(
            "prompt template failed", extra={"template": source, "error": type(exc).__name__}
        )
        return ""
    return text[:MAX_OUTPUT_CHARS]


def evaluate(expression: str, namespace: Mapping[str, Any]) -> bool:
    """Evaluate a `when:` condition; errors (comparing text with a number, ...) count as false."""
    try:
        return bool(_compiled_expression(expression)(**namespace))
    except Exception:  # a condition that cannot be evaluated is not true; the engine logs it
        return False


def check(source: str, *, expression: bool = False) -> None:
    """Raise `TemplateProblem` if the template or condition does not compile."""
    if expression:
        try:
            environment().compile_expression(source)
        except TemplateSyntaxError as exc:
            raise TemplateProblem(f"condition syntax: {exc.message}") from None
    else:
        _parse(source)
