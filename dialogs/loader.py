"""Read a flow file: YAML with the line of every key kept, then the pydantic schema.

Errors come back as `file:line: message` problems. PyYAML's composed nodes carry the marks;
each validation error's location (`states.menu.intents.billing.goto`) is looked up in them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dialogs.errors import FlowInvalid, Problem
from dialogs.schema import Flow

MAX_FLOW_BYTES = 1024 * 1024
Loc = tuple[str | int, ...]


class FlowYamlLoader(yaml.SafeLoader):
    """SafeLoader where only `true`/`false` are booleans: YAML 1.1 reads `yes`, `no`, `on` and
    `off` as booleans, and those are ordinary words in a voice menu (the "Norway problem")."""


FlowYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
FlowYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class LineIndex:
    """The line of each node in the document, by its path of keys and list indexes."""

    def __init__(self) -> None:
        self.lines: dict[Loc, int] = {}

    def add(self, loc: Loc, line: int) -> None:
        self.lines.setdefault(loc, line)

    def line(self, loc: Loc) -> int:
        """The line of the deepest known node on `loc`; unknown steps (union branch names,
        discriminator tags in pydantic locations) are skipped."""
        found: Loc = ()
        for step in loc:
            candidate = (*found, step)
            if candidate in self.lines:
                found = candidate
        return self.lines.get(found, 1)


@dataclass(frozen=True)
class LoadedFlow:
    """A valid flow with where it came from; `digest` names this exact version."""

    name: str
    path: Path
    text: str
    flow: Flow
    lines: LineIndex
    digest: str


def flow_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _index(node: yaml.Node, loc: Loc, index: LineIndex, problems: list[str]) -> None:
    index.add(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            line = key_node.start_mark.line + 1
            if key is None:
                problems.append(f"{line}: a key must be a plain word, not a list or mapping")
                continue
            if key in seen:
                problems.append(f"{line}: duplicate key {key!r} (the earlier one would be lost)")
            seen.add(key)
            index.add((*loc, key), line)
            _index(value_node, (*loc, key), index, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*loc, i), index, problems)


def _no_aliases(text: str) -> Iterator[int]:
    for event in yaml.parse(text, Loader=FlowYamlLoader):
        if isinstance(event, yaml.AliasEvent) and event.start_mark is not None:
            yield event.start_mark.line + 1


def read_yaml(text: str, file: str) -> tuple[Any, LineIndex]:
    """Parse YAML text into plain data and its line index, or raise `FlowInvalid`."""
    index = LineIndex()
    try:
        aliases = list(_no_aliases(text))
        if aliases:
            # Aliases can expand exponentially ("billion laughs"); flows never need them.
            raise FlowInvalid(
                file, [Problem(file, aliases[0], "YAML aliases (*name) are not allowed")]
            )
        node = yaml.compose(text, Loader=FlowYamlLoader)
        if node is None:
            raise FlowInvalid(
                file, [Problem(file, 1, "the file is empty; a flow starts with `version: 1`")]
            )
        structural: list[str] = []
        _index(node, (), index, structural)
        if structural:
            raise FlowInvalid(
                file,
                [Problem(file, int(p.split(":", 1)[0]), p.split(": ", 1)[1]) for p in structural],
            )
        loader = FlowYamlLoader(text)
        try:
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise FlowInvalid(file, [Problem(file, line, f"YAML syntax: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise FlowInvalid(file, [Problem(file, 1, f"YAML: {exc}")]) from None
    except RecursionError:
        raise FlowInvalid(file, [Problem(file, 1, "YAML nested too deeply")]) from None
    return data, index


def _message(error: Any) -> str:
    loc = ".".join(str(p) for p in error["loc"])
    msg = str(error["msg"])
    if error["type"] == "extra_forbidden":
        return f"{loc}: unknown field (check its spelling and indentation)"
    if error["type"] == "union_tag_invalid":
        tags = "message, menu, collect, decide, http, transfer, hangup, subflow, return"
        return f"{loc}: state type must be one of {tags}"
    if error["type"] == "union_tag_not_found":
        return f"{loc}: a state needs `type:` (message, menu, collect, decide, http, ...)"
    return f"{loc}: {msg}" if loc else msg


def parse_flow(text: str, file: str) -> tuple[Flow, LineIndex]:
    """Schema-check flow YAML text; problems carry `file:line`."""
    if len(text.encode()) > MAX_FLOW_BYTES:
        raise FlowInvalid(file, [Problem(file, 1, f"larger than {MAX_FLOW_BYTES} bytes")])
    data, index = read_yaml(text, file)
    if not isinstance(data, dict):
        raise FlowInvalid(file, [Problem(file, 1, "a flow file is a mapping (version:, states:)")])
    if data.get("version") != 1:
        line = index.line(("version",))
        got = data.get("version")
        raise FlowInvalid(
            file, [Problem(file, line, f"version: must be 1 (got {got!r}); this is format 1")]
        )
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        seen: set[tuple[int, str]] = set()
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            if error["type"] == "union_tag_invalid":
                loc = (*loc, "type")  # point at the `type:` line, not the state's name
            key = (index.line(loc), _message(error))
            if key not in seen:
                seen.add(key)
                problems.append(Problem(file, key[0], key[1]))
        raise FlowInvalid(file, problems) from None
    return flow, index


def load_flow(path: Path) -> LoadedFlow:
    """Read and schema-check one flow file (graph checks are `dialogs.validate`)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FlowInvalid(path, [Problem(str(path), 1, f"cannot read: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FlowInvalid(path, [Problem(str(path), 1, "not UTF-8 text")]) from None
    flow, lines = parse_flow(text, str(path))
    return LoadedFlow(path.stem, path, text, flow, lines, flow_digest(text))


def flow_files(paths: list[Path]) -> list[Path]:
    """Flow files among `paths` (folders searched), leaving out conversation tests."""
    found: list[Path] = []
    for path in paths:
        candidates = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))
        for candidate in candidates if path.is_dir() else [path]:
            if not candidate.name.endswith((".test.yaml", ".test.yml")):
                found.append(candidate)
    return found
