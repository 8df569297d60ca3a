"""Draw a flow's state graph: Mermaid (for Markdown), Graphviz DOT, and SVG through `dot`."""

from __future__ import annotations

import shutil
import subprocess

from dialogs.loader import Loc
from dialogs.schema import (
    CollectState,
    DecideState,
    Flow,
    HangupState,
    HttpState,
    MenuState,
    ReturnState,
    SubflowState,
    TransferState,
)
from dialogs.validate import edges


class GraphvizMissing(RuntimeError):
    """`dot` is not installed; Mermaid and DOT output still work."""


def _label(loc: Loc) -> str:
    if loc[0] == "global_intents":
        return str(loc[1])
    if loc[0] == "defaults":
        return str(loc[1]).replace("escalate_to", "escalate")
    step = loc[2] if len(loc) > 2 else ""
    if step == "intents":
        return str(loc[3])
    if step in ("no_input", "no_match"):
        return str(step)
    if step in ("on_success", "on_error", "on_timeout"):
        return str(step)[3:]
    if step == "otherwise":
        return "otherwise"
    return ""


def _kind(flow: Flow, name: str) -> str:
    node = flow.states[name]
    if isinstance(node, CollectState):
        return f"collect {node.slot}"
    if isinstance(node, TransferState):
        return f"transfer {node.target}"
    if isinstance(node, SubflowState):
        return f"sub-flow {node.flow}"
    return node.type


def labelled_edges(flow: Flow) -> list[tuple[str, str, str]]:
    """(from, to, label) for every transition, each drawn once."""
    out: list[tuple[str, str, str]] = []
    for name, found in edges(flow).items():
        node = flow.states[name]
        for i, edge in enumerate(found):
            if edge.fills and edge.fills.startswith("var:"):
                continue
            label = _label(edge.loc)
            if isinstance(node, DecideState) and i < len(node.cases):
                label = node.cases[i].when
            triple = (name, edge.target, label)
            if triple not in out:
                out.append(triple)
    return out


def _shape(flow: Flow, name: str) -> tuple[str, str]:
    node = flow.states[name]
    if isinstance(node, DecideState):
        return "{", "}"
    if isinstance(node, (MenuState, CollectState)):
        return "([", "])"
    if isinstance(node, (TransferState, HangupState, ReturnState)):
        return "[[", "]]"
    if isinstance(node, HttpState):
        return "[/", "/]"
    return "[", "]"


def mermaid(flow: Flow) -> str:
    lines = ["flowchart TD", f"  __start(((start))) --> {flow.start}"]
    for name in flow.states:
        left, right = _shape(flow, name)
        lines.append(f'  {name}{left}"{name}<br/><small>{_kind(flow, name)}</small>"{right}')
    for source, target, label in labelled_edges(flow):
        text = label.replace('"', "'")
        lines.append(f'  {source} -->|"{text}"| {target}' if text else f"  {source} --> {target}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(flow: Flow, name: str = "flow") -> str:
    end = "doubleoctagon"
    shapes = {"decide": "diamond", "menu": "ellipse", "collect": "ellipse", "http": "box3d",
              "transfer": end, "hangup": end, "return": end}  # fmt: skip
    lines = [f"digraph {_quote(name)} {{", "  rankdir=TB;", "  node [fontname=Helvetica];",
             '  "__start" [shape=point];', f"  \"__start\" -> {_quote(flow.start)};"]  # fmt: skip
    for state, node in flow.states.items():
        shape = shapes.get(node.type, "box")
        label = f"{state}\\n{_kind(flow, state)}"
        lines.append(f'  {_quote(state)} [shape={shape}, label="{label.replace(chr(34), "")}"];')
    for source, target, label in labelled_edges(flow):
        lines.append(f"  {_quote(source)} -> {_quote(target)} [label={_quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def svg(dot_source: str) -> bytes:
    binary = shutil.which("dot")
    if binary is None:
        raise GraphvizMissing("Graphviz `dot` is not installed (apt install graphviz)")
    done = subprocess.run(
        [binary, "-Tsvg"], input=dot_source.encode(), capture_output=True, timeout=30, check=False
    )
    if done.returncode != 0:
        raise GraphvizMissing(f"dot failed: {done.stderr.decode(errors='replace')[:500]}")
    return done.stdout
