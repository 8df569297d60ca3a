"""Graph and meaning checks of a schema-valid flow, each problem at its `file:line`.

Unknown targets, states nothing reaches, states with no way out, slots and back-end values
read before anything can fill them, prompt keys and locales that are missing, template names
that cannot exist, and keys that two menu choices share.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dialogs import templates
from dialogs.errors import FlowInvalid, Problem
from dialogs.listening import escalation, prompt_list
from dialogs.loader import LoadedFlow, Loc, flow_files, load_flow
from dialogs.schema import (
    LISTENING,
    CollectState,
    DecideState,
    Flow,
    HangupState,
    HttpState,
    MenuState,
    MessageState,
    PromptRef,
    Prompts,
    ReturnState,
    SubflowState,
    TransferState,
)


@dataclass(frozen=True)
class Edge:
    target: str
    loc: Loc
    fills: str | None = None
    """The slot (`slot:x`) or back-end value (`var:x`) filled when the call takes this edge."""


@dataclass
class Checker:
    loaded: LoadedFlow
    known_flows: dict[str, Flow | None] | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def flow(self) -> Flow:
        return self.loaded.flow

    def add(self, loc: Loc, message: str) -> None:
        line = self.loaded.lines.line(loc)
        self.problems.append(Problem(str(self.loaded.path), line, message))


def edges(flow: Flow) -> dict[str, list[Edge]]:
    """Every transition out of every state, with where in the file it is written."""
    out: dict[str, list[Edge]] = {}
    for name, node in flow.states.items():
        here: Loc = ("states", name)
        found: list[Edge] = []
        if isinstance(node, (MessageState, SubflowState)):
            found.append(Edge(node.next, (*here, "next")))
        elif isinstance(node, CollectState):
            found.append(Edge(node.next, (*here, "next"), fills=f"slot:{node.slot}"))
        elif isinstance(node, MenuState):
            found += [Edge(i.goto, (*here, "intents", k, "goto")) for k, i in node.intents.items()]
        elif isinstance(node, DecideState):
            found += [Edge(c.goto, (*here, "cases", i, "goto")) for i, c in enumerate(node.cases)]
            found.append(Edge(node.otherwise, (*here, "otherwise")))
        elif isinstance(node, HttpState):
            saved = [f"var:{v}" for v in node.save]
            found.append(Edge(node.on_success, (*here, "on_success")))
            found += [Edge(node.on_success, (*here, "save"), fills=s) for s in saved]
            found.append(Edge(node.on_error, (*here, "on_error")))
            if node.on_timeout:
                found.append(Edge(node.on_timeout, (*here, "on_timeout")))
        if isinstance(node, LISTENING):
            found += _escalation_edges(flow, name, node)
        out[name] = found
    return out


def _escalation_edges(flow: Flow, name: str, node: MenuState | CollectState) -> list[Edge]:
    here: Loc = ("states", name)
    found = []
    for kind in ("no_input", "no_match"):
        own = getattr(node, kind)
        if own is not None and own.goto:
            found.append(Edge(own.goto, (*here, kind, "goto")))
        elif getattr(flow.defaults, kind).goto:
            found.append(Edge(getattr(flow.defaults, kind).goto, ("defaults", kind, "goto")))
        elif flow.defaults.escalate_to:
            found.append(Edge(flow.defaults.escalate_to, ("defaults", "escalate_to")))
    if node.global_intents:
        found += [
            Edge(i.goto, ("global_intents", k, "goto")) for k, i in flow.global_intents.items()
        ]
    return found


def _exits(flow: Flow, name: str) -> bool:
    node = flow.states[name]
    if isinstance(node, (TransferState, HangupState, ReturnState)):
        return True
    if isinstance(node, LISTENING):  # without an escalation target, the engine hangs up
        return any(escalation(flow, node, k).goto is None for k in ("no_input", "no_match"))
    return False


def reachable(graph: dict[str, list[Edge]], starts: Iterable[str]) -> set[str]:
    seen = set()
    queue = deque(s for s in starts if s in graph)
    while queue:
        name = queue.popleft()
        if name in seen:
            continue
        seen.add(name)
        queue.extend(e.target for e in graph[name] if e.target in graph)
    return seen


def check_graph(c: Checker, graph: dict[str, list[Edge]]) -> None:
    flow = c.flow
    if flow.start not in flow.states:
        c.add(("start",), f"start state {flow.start!r} is not under states:")
    before = len(c.problems)
    for name, out in graph.items():
        for edge in out:
            if edge.target not in flow.states:
                c.add(edge.loc, f"state {name!r} goes to {edge.target!r}, which is not a state"
                      + _suggest(edge.target, flow.states))  # fmt: skip
    target = flow.defaults.escalate_to
    if target and target not in flow.states:
        c.add(("defaults", "escalate_to"), f"defaults.escalate_to names {target!r}, which is "
              "not a state")  # fmt: skip
    if len(c.problems) == before and flow.start in flow.states:
        # Reachability follows from the targets: with one unknown, it would only add noise.
        check_reachability(c, graph)


def check_reachability(c: Checker, graph: dict[str, list[Edge]]) -> None:
    flow = c.flow
    reached = reachable(graph, [flow.start])
    for name in flow.states:
        if name not in reached:
            c.add(("states", name), f"state {name!r} is unreachable from start {flow.start!r}")
    reverse: dict[str, list[Edge]] = {n: [] for n in flow.states}
    for name, out in graph.items():
        for edge in out:
            if edge.target in reverse:
                reverse[edge.target].append(Edge(name, edge.loc))
    can_exit = reachable(reverse, [n for n in flow.states if _exits(flow, n)])
    for name in flow.states:
        if name in reached and name not in can_exit:
            c.add(("states", name), f"dead end: no path from state {name!r} to a transfer, "
                  "hangup or return (the call could never end)")  # fmt: skip


def _suggest(name: str, known: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _templates_of(flow: Flow, name: str) -> Iterator[tuple[Loc, str, bool, bool]]:
    """(location, source, is-condition, seen-after-own-slot-filled) for a state's templates."""
    node = flow.states[name]
    here: Loc = ("states", name)
    say: Prompts | None = getattr(node, "say", None)
    for loc, text in _prompt_sources(flow, say, (*here, "say")):
        yield loc, text, False, False
    if isinstance(node, LISTENING):
        yield from _listening_templates(flow, name, node)
    if isinstance(node, DecideState):
        for i, case in enumerate(node.cases):
            yield (*here, "cases", i, "when"), case.when, True, False
    if isinstance(node, HttpState):
        yield (*here, "path"), node.path, False, False
        for key, value in (node.json_body or {}).items():
            yield (*here, "json", key), value, False, False


def _listening_templates(
    flow: Flow, name: str, node: MenuState | CollectState
) -> Iterator[tuple[Loc, str, bool, bool]]:
    here: Loc = ("states", name)
    if node.confirm is not None:
        for loc, text in _prompt_sources(flow, node.confirm.say, (*here, "confirm", "say")):
            yield loc, text, False, True
    for kind in ("no_input", "no_match"):
        own = getattr(node, kind)
        where: Loc = (*here, kind, "reprompts")
        if own is None or not own.reprompts:
            own, where = getattr(flow.defaults, kind), ("defaults", kind, "reprompts")
        for i, prompt in enumerate(own.reprompts):
            for loc, text in _prompt_sources(flow, prompt, (*where, i)):
                yield loc, text, False, False


def _prompt_sources(flow: Flow, prompts: Prompts | None, loc: Loc) -> Iterator[tuple[Loc, str]]:
    many = isinstance(prompts, tuple)
    for i, prompt in enumerate(prompt_list(prompts)):
        at: Loc = (*loc, i) if many else loc
        if isinstance(prompt, str):
            yield at, prompt
        elif isinstance(prompt, PromptRef):
            for locale, text in flow.prompts.get(prompt.prompt, {}).items():
                yield ("prompts", prompt.prompt, locale), text
        else:
            for locale, text in prompt.items():
                yield (*at, locale), text


def check_prompts(c: Checker) -> None:
    flow = c.flow
    for name, node in flow.states.items():
        prompts: list[tuple[Loc, Prompts | None]] = [
            (("states", name, "say"), getattr(node, "say", None))
        ]
        if isinstance(node, LISTENING) and node.confirm is not None:
            prompts.append((("states", name, "confirm", "say"), node.confirm.say))
        for loc, value in prompts:
            many = isinstance(value, tuple)
            for i, prompt in enumerate(prompt_list(value)):
                _check_prompt(c, prompt, (*loc, i) if many else loc)
    for key, texts in flow.prompts.items():
        _check_locales(c, set(texts), ("prompts", key), f"prompt {key!r}")


def _check_prompt(c: Checker, prompt: object, loc: Loc) -> None:
    flow = c.flow
    if isinstance(prompt, PromptRef):
        if prompt.prompt not in flow.prompts:
            c.add(loc, f"prompt key {prompt.prompt!r} is not under prompts:"
                  + _suggest(prompt.prompt, flow.prompts))  # fmt: skip
    elif isinstance(prompt, str):
        if len(flow.locales) > 1:
            c.add(loc, f"plain text prompt in a flow with locales {list(flow.locales)}: give "
                  "the text per locale ({en-US: ..., fr-FR: ...})")  # fmt: skip
    elif isinstance(prompt, dict):
        _check_locales(c, set(prompt), loc, "prompt")


def _check_locales(c: Checker, have: set[str], loc: Loc, what: str) -> None:
    for locale in c.flow.locales:
        if locale not in have:
            c.add(loc, f"{what} has no text for locale {locale} (listed in locales:)")
    for locale in sorted(have - set(c.flow.locales)):
        c.add((*loc, locale), f"{what} has locale {locale}, which is not in locales:")


def check_references(c: Checker, graph: dict[str, list[Edge]]) -> None:
    """Template names must exist, and slots/back-end values must be fillable before use."""
    flow = c.flow
    slots, saved = _fillable(flow)
    filled_after: dict[str, set[str]] = {}
    for out in graph.values():
        for edge in out:
            if edge.fills:
                filled_after.setdefault(edge.fills, set()).update(reachable(graph, [edge.target]))
    for name, node in flow.states.items():
        sub = (
            c.known_flows.get(node.flow)
            if isinstance(node, SubflowState) and c.known_flows
            else None
        )
        if isinstance(node, SubflowState) and sub is not None:
            sub_slots, sub_vars = _fillable(sub)
            slots, saved = slots | sub_slots, saved | sub_vars
            for fill in [f"slot:{s}" for s in sub_slots] + [f"var:{v}" for v in sub_vars]:
                filled_after.setdefault(fill, set()).update(reachable(graph, [node.next]))
        for loc, source, condition, own_filled in _templates_of(flow, name):
            try:
                refs = templates.references(source, expression=condition)
            except templates.TemplateProblem as exc:
                c.add(loc, str(exc))
                continue
            for ref in refs:
                _check_reference(c, ref, loc, name, slots, saved, filled_after, own_filled)


def _fillable(flow: Flow) -> tuple[set[str], set[str]]:
    """Slots some state collects, and back-end values some http state saves."""
    slots = {n.slot for n in flow.states.values() if isinstance(n, CollectState)}
    saved = {v for n in flow.states.values() if isinstance(n, HttpState) for v in n.save}
    return slots, saved


def _check_reference(
    c: Checker,
    ref: templates.Reference,
    loc: Loc,
    state: str,
    slots: set[str],
    saved: set[str],
    filled_after: dict[str, set[str]],
    own_filled: bool,
) -> None:
    flow = c.flow
    if ref.root not in templates.ROOTS:
        c.add(loc, f"template reads {ref.root!r}, which does not exist; use slots.<name>, "
              "vars.<name>, call.<field>, intent or attempt")  # fmt: skip
        return
    if ref.name is None:
        return
    if ref.root == "call" and ref.name not in templates.CALL_FIELDS:
        c.add(loc, f"call.{ref.name} does not exist; call has "
              + ", ".join(sorted(templates.CALL_FIELDS)))  # fmt: skip
    elif ref.root == "slots":
        node = flow.states[state]
        own = own_filled and isinstance(node, CollectState) and node.slot == ref.name
        if ref.name not in flow.slots and ref.name not in slots:
            c.add(loc, f"slots.{ref.name} is not declared under slots:")
        elif not own and state not in filled_after.get(f"slot:{ref.name}", set()):
            c.add(loc, f"slots.{ref.name} is used in state {state!r} before any state can "
                  f"fill it (collect {ref.name!r} on the way here)")  # fmt: skip
    elif ref.root == "vars" and ref.name not in flow.variables:
        if ref.name not in saved:
            c.add(loc, f"vars.{ref.name} is neither under variables: nor saved by an http state")
        elif state not in filled_after.get(f"var:{ref.name}", set()):
            c.add(loc, f"vars.{ref.name} is used in state {state!r} before the http state "
                  "that saves it can run")  # fmt: skip


def check_states(c: Checker) -> None:
    flow = c.flow
    for name, node in flow.states.items():
        here: Loc = ("states", name)
        if isinstance(node, CollectState) and node.slot not in flow.slots:
            c.add((*here, "slot"), f"slot {node.slot!r} is not declared under slots:"
                  + _suggest(node.slot, flow.slots))  # fmt: skip
        if isinstance(node, HttpState) and node.backend not in flow.backends:
            c.add((*here, "backend"), f"backend {node.backend!r} is not under backends:")
        known = c.known_flows
        if isinstance(node, SubflowState) and known is not None and node.flow not in known:
            c.add((*here, "flow"), f"sub-flow {node.flow!r} is not a flow file beside this one")
        if isinstance(node, MenuState):
            codes: dict[str, str] = {}
            intents = dict(node.intents)
            if node.global_intents:
                intents.update({k: v for k, v in flow.global_intents.items() if k not in intents})
            for key, intent in intents.items():
                if intent.dtmf and intent.dtmf in codes:
                    c.add((*here, "intents", key, "dtmf"), f"key {intent.dtmf} is used by both "
                          f"{codes[intent.dtmf]!r} and {key!r}")  # fmt: skip
                elif intent.dtmf:
                    codes[intent.dtmf] = key


def validate_loaded(
    loaded: LoadedFlow, known_flows: dict[str, Flow | None] | None = None
) -> list[Problem]:
    """Every graph and meaning problem of one schema-valid flow, sorted by line."""
    c = Checker(loaded, known_flows)
    graph = edges(loaded.flow)
    check_graph(c, graph)
    check_states(c)
    check_prompts(c)
    check_references(c, graph)
    unique = {(p.line, p.message): p for p in c.problems}
    return sorted(unique.values(), key=lambda p: (p.line, p.message))


def validate_paths(paths: list[Path]) -> tuple[dict[str, LoadedFlow], list[Problem]]:
    """Load and check flow files; sub-flows are looked up among the files beside each one."""
    loaded: dict[Path, LoadedFlow] = {}
    problems: list[Problem] = []
    for path in flow_files(paths):
        try:
            loaded[path] = load_flow(path)
        except FlowInvalid as exc:
            problems.extend(exc.problems)
    valid: dict[str, LoadedFlow] = {}
    for path, flow in loaded.items():
        siblings = {p.stem: p for p in path.parent.glob("*.y*ml") if ".test." not in p.name}
        known = {stem: loaded[p].flow if p in loaded else None for stem, p in siblings.items()}
        found = validate_loaded(flow, known)
        problems.extend(found)
        if not found:
            valid[flow.name] = flow
    return valid, problems
