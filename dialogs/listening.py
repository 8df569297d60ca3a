"""How a state's settings become what the call does: prompts per locale, the `Listen` action
(speech hints, DTMF), and the no-input/no-match rule, each state overriding the flow defaults."""

from __future__ import annotations

from dataclasses import dataclass

from dialogs.actions import DtmfSpec, Listen
from dialogs.schema import (
    CollectState,
    Escalation,
    Flow,
    Hint,
    MenuState,
    Prompt,
    PromptRef,
    Prompts,
)
from recognizer.phrases import Hotword, merge_hotwords

YES_NO_HINTS = (Hint(phrase="yes", boost=8), Hint(phrase="no", boost=8))


def prompt_list(prompts: Prompts | None) -> list[Prompt]:
    if prompts is None:
        return []
    if isinstance(prompts, tuple):
        return list(prompts)
    return [prompts]


def prompts_of(flow: Flow, prompts: Prompts | None, locale: str) -> list[tuple[str, str | None]]:
    """(template text, recorded-prompt key) for each prompt, in the call's locale."""
    out: list[tuple[str, str | None]] = []
    for prompt in prompt_list(prompts):
        if isinstance(prompt, str):
            out.append((prompt, None))
        elif isinstance(prompt, PromptRef):
            texts = flow.prompts.get(prompt.prompt, {})
            out.append((texts.get(locale) or next(iter(texts.values()), ""), prompt.prompt))
        else:
            out.append((prompt.get(locale) or next(iter(prompt.values()), ""), None))
    return out


def _hotwords(hints: tuple[Hint, ...]) -> tuple[Hotword, ...]:
    return tuple(Hotword(h.phrase.lower(), h.boost) for h in hints)


def _dtmf(flow: Flow, node: MenuState | CollectState, low: int, high: int) -> DtmfSpec:
    spec = node.dtmf or flow.defaults.dtmf
    finish = spec.finish_key if high > 1 else None
    return DtmfSpec(high, low, finish, spec.inter_digit_timeout_ms)


def _no_input_ms(flow: Flow, node: MenuState | CollectState) -> int:
    return node.no_input_ms or flow.defaults.no_input_ms


def listen_for(flow: Flow, node: MenuState | CollectState) -> Listen:
    """The `Listen` action of a menu or collect state."""
    hints = merge_hotwords(_hotwords(flow.defaults.hints), _hotwords(node.hints))
    dtmf: DtmfSpec | None
    if isinstance(node, MenuState):
        codes = [i.dtmf for i in node.intents.values() if i.dtmf]
        if node.global_intents:
            codes += [i.dtmf for i in flow.global_intents.values() if i.dtmf]
        lengths = [len(c) for c in codes]
        dtmf = _dtmf(flow, node, min(lengths), max(lengths)) if codes else None
    else:
        slot = flow.slots[node.slot]
        if slot.type == "digits":
            low = slot.length or slot.min_length or 1
            dtmf = _dtmf(flow, node, low, slot.length or slot.max_length or 32)
        elif slot.type in ("yes_no", "choice"):
            dtmf = _dtmf(flow, node, 1, 1)
        elif slot.type in ("number", "amount"):
            dtmf = _dtmf(flow, node, 1, 12)
        else:
            dtmf = None
    return Listen(
        speech=True, dtmf=dtmf, hints=hints, no_input_ms=_no_input_ms(flow, node),
        end_silence_ms=node.end_silence_ms or flow.defaults.end_silence_ms,
        max_utterance_ms=node.max_utterance_ms or flow.defaults.max_utterance_ms,
    )  # fmt: skip


def confirm_listen(flow: Flow, node: MenuState | CollectState) -> Listen:
    """Listening for yes/no (or keys 1/2) to confirm what was understood."""
    extra = node.confirm.hints if node.confirm is not None else ()
    hints = merge_hotwords(_hotwords(YES_NO_HINTS), _hotwords(extra))
    return Listen(
        speech=True, dtmf=_dtmf(flow, node, 1, 1), hints=hints,
        no_input_ms=_no_input_ms(flow, node),
    )  # fmt: skip


@dataclass(frozen=True)
class Rule:
    """No-input or no-match handling after the state's overrides are applied."""

    reprompts: tuple[Prompt, ...]
    max_attempts: int
    goto: str | None


def escalation(flow: Flow, node: MenuState | CollectState, kind: str) -> Rule:
    defaults: Escalation = getattr(flow.defaults, kind)
    own: Escalation | None = getattr(node, kind)
    reprompts = own.reprompts if own is not None and own.reprompts else defaults.reprompts
    max_attempts = (
        (own.max_attempts if own is not None else None)
        or node.max_attempts
        or defaults.max_attempts
        or flow.defaults.max_attempts
    )
    goto = (own.goto if own is not None else None) or defaults.goto or flow.defaults.escalate_to
    return Rule(reprompts, max_attempts, goto)
