"""The flow file format (version 1): one flow per YAML file, its states under `states:`.

Pydantic models at the edge; the engine reads them as immutable values (`frozen=True`). The
JSON Schema for editors is generated from these models (`ivr flows schema`, and the shipped
`dialogs/flow.schema.json` that a test keeps equal to it).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")
SCHEMA_VERSION = 1


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PromptRef(Model):
    """A recorded prompt from the flow's `prompts:` library (its text is the TTS fallback)."""

    prompt: str = Field(pattern=NAME)


PromptText = dict[str, str]
"""Text per locale (`{en-US: "...", fr-FR: "..."}`), each a sandboxed Jinja2 template."""

Prompt = Annotated[str | PromptRef | PromptText, Field(union_mode="left_to_right")]
"""Inline text (the flow's first locale), a recorded prompt `{prompt: key}`, or text per locale."""

Prompts = Annotated[
    str | PromptRef | PromptText | tuple[Prompt, ...], Field(union_mode="left_to_right")
]
"""One prompt or a list of them, played in order."""


class Hint(Model):
    """A hot word for the recognizer while this state listens (boost 0-20)."""

    phrase: str = Field(min_length=1, max_length=64)
    boost: float = Field(10.0, ge=0, le=20)


class Escalation(Model):
    """What to do when the caller says nothing (no_input) or nothing usable (no_match)."""

    reprompts: tuple[Prompt, ...] = Field(
        (), description="Played on attempt 1, 2, ...; the last one repeats."
    )
    max_attempts: int | None = Field(None, ge=1, le=10)
    goto: str | None = Field(None, pattern=NAME, description="State after max_attempts.")


class Dtmf(Model):
    finish_key: Literal["#", "*"] | None = "#"
    inter_digit_timeout_ms: int = Field(3000, ge=500, le=30000)


class Defaults(Model):
    """Global settings that each listening state may override."""

    barge_in: bool = True
    no_input_ms: int = Field(5000, ge=500, le=60000)
    end_silence_ms: int | None = Field(
        None, ge=100, le=10000, description="Silence that ends an utterance (service default)."
    )
    max_utterance_ms: int | None = Field(None, ge=1000, le=120000)
    max_attempts: int = Field(3, ge=1, le=10)
    escalate_to: str | None = Field(None, pattern=NAME, description="State after max tries.")
    no_input: Escalation = Escalation()
    no_match: Escalation = Escalation()
    min_confidence: float = Field(0.0, ge=0, le=1, description="Lower speech is a no-match.")
    dtmf: Dtmf = Dtmf()
    hints: tuple[Hint, ...] = ()


class Choice(Model):
    value: str = Field(min_length=1)
    synonyms: tuple[str, ...] = ()
    dtmf: str | None = Field(None, pattern=r"^[0-9*#]$")


class Slot(Model):
    """A typed value the flow collects; `sensitive` ones are masked in logs and API answers."""

    type: Literal["digits", "yes_no", "number", "amount", "date", "time", "choice", "text"]
    sensitive: bool = False
    length: int | None = Field(None, ge=1, le=64)
    min_length: int | None = Field(None, ge=1, le=64)
    max_length: int | None = Field(None, ge=1, le=64)
    min: float | None = None
    max: float | None = None
    choices: tuple[Choice, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Slot:
        lengths = (self.length, self.min_length, self.max_length)
        if self.type != "digits" and any(v is not None for v in lengths):
            raise ValueError("length/min_length/max_length apply to digits slots only")
        if self.length is not None and (self.min_length or self.max_length):
            raise ValueError("give either length or min_length/max_length, not both")
        if self.min_length and self.max_length and self.min_length > self.max_length:
            raise ValueError("min_length is greater than max_length")
        if self.type == "choice" and not self.choices:
            raise ValueError("a choice slot needs `choices:`")
        if self.type != "choice" and self.choices:
            raise ValueError("`choices:` apply to choice slots only")
        return self


class Intent(Model):
    """One thing the caller may ask for: example phrases, keywords, a key to press."""

    phrases: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    dtmf: str | None = Field(None, pattern=r"^[0-9*#]{1,4}$")
    goto: str = Field(pattern=NAME)

    @model_validator(mode="after")
    def _something(self) -> Intent:
        if not (self.phrases or self.keywords or self.dtmf):
            raise ValueError("an intent needs phrases, keywords or dtmf")
        return self


class Confirm(Model):
    """Ask yes/no before accepting what was understood; `no` asks again."""

    say: Prompts
    hints: tuple[Hint, ...] = ()


class Condition(Model):
    when: str = Field(min_length=1, description="Jinja2 expression over slots/vars/call.")
    goto: str = Field(pattern=NAME)


class Listening(Model):
    """Fields shared by the states that wait for the caller (menu, collect)."""

    say: Prompts
    barge_in: bool | None = None
    no_input_ms: int | None = Field(None, ge=500, le=60000)
    end_silence_ms: int | None = Field(None, ge=100, le=10000)
    max_utterance_ms: int | None = Field(None, ge=1000, le=120000)
    max_attempts: int | None = Field(None, ge=1, le=10)
    no_input: Escalation | None = None
    no_match: Escalation | None = None
    min_confidence: float | None = Field(None, ge=0, le=1)
    dtmf: Dtmf | None = None
    hints: tuple[Hint, ...] = ()
    confirm: Confirm | None = None
    global_intents: bool = True


class MessageState(Model):
    type: Literal["message"]
    say: Prompts
    barge_in: bool | None = None
    next: str = Field(pattern=NAME)


class MenuState(Listening):
    """Route by intent: what the caller said or pressed picks the next state."""

    type: Literal["menu"]
    intents: dict[Annotated[str, Field(pattern=NAME)], Intent] = Field(min_length=1)


class CollectState(Listening):
    """Fill one slot declared under the flow's `slots:`, then go to `next`."""

    type: Literal["collect"]
    slot: str = Field(pattern=NAME)
    next: str = Field(pattern=NAME)


class DecideState(Model):
    """Conditional transitions on context values: the first true `when` wins."""

    type: Literal["decide"]
    cases: tuple[Condition, ...] = Field(min_length=1)
    otherwise: str = Field(pattern=NAME)


class HttpState(Model):
    """Call a business back end; the service performs it, the engine only asks for it."""

    type: Literal["http"]
    backend: str = Field(pattern=NAME)
    method: Literal["GET", "POST", "PUT"] = "GET"
    path: str = Field(min_length=1, description="Template appended to the backend's base_url.")
    json_body: dict[str, str] | None = Field(None, alias="json")
    timeout_s: float | None = Field(None, gt=0, le=30)
    save: dict[Annotated[str, Field(pattern=NAME)], str] = Field(
        default_factory=dict, description="vars name -> dotted path in the JSON response."
    )
    say: Prompts | None = None
    on_success: str = Field(pattern=NAME)
    on_error: str = Field(pattern=NAME)
    on_timeout: str | None = Field(None, pattern=NAME, description="Defaults to on_error.")


class TransferState(Model):
    type: Literal["transfer"]
    target: str = Field(pattern=r"^(\+[1-9][0-9]{6,14}|sips?:[^\s]+)$")
    say: Prompts | None = None


class HangupState(Model):
    type: Literal["hangup"]
    say: Prompts | None = None
    reason: str = "completed"


class SubflowState(Model):
    """Run another flow (by file stem) from its start; its `return` state comes back here."""

    type: Literal["subflow"]
    flow: str = Field(pattern=NAME)
    next: str = Field(pattern=NAME)


class ReturnState(Model):
    type: Literal["return"]
    say: Prompts | None = None


State = Annotated[
    MessageState
    | MenuState
    | CollectState
    | DecideState
    | HttpState
    | TransferState
    | HangupState
    | SubflowState
    | ReturnState,
    Field(discriminator="type"),
]
LISTENING = (MenuState, CollectState)


class Backend(Model):
    base_url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(3.0, gt=0, le=30)
    headers: dict[str, str] = Field(default_factory=dict)


class Flow(Model):
    """One call flow: where it starts, what it collects, and its states."""

    version: Literal[1]
    description: str = ""
    locales: tuple[str, ...] = Field(("en-US",), min_length=1)
    timezone: str = Field("UTC", description="Time zone of `call.hour` and `call.weekday`.")
    start: str = Field(pattern=NAME)
    defaults: Defaults = Defaults()
    prompts: dict[Annotated[str, Field(pattern=NAME)], PromptText] = Field(default_factory=dict)
    variables: dict[Annotated[str, Field(pattern=NAME)], str | int | float | bool] = Field(
        default_factory=dict
    )
    slots: dict[Annotated[str, Field(pattern=NAME)], Slot] = Field(default_factory=dict)
    global_intents: dict[Annotated[str, Field(pattern=NAME)], Intent] = Field(default_factory=dict)
    backends: dict[Annotated[str, Field(pattern=NAME)], Backend] = Field(default_factory=dict)
    states: dict[Annotated[str, Field(pattern=NAME)], State] = Field(min_length=1)

    @field_validator("locales")
    @classmethod
    def _locales(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for locale in value:
            if not LOCALE.match(locale):
                raise ValueError(f"{locale!r} is not a locale such as en-US")
        return value


def flow_json_schema() -> dict[str, Any]:
    """The JSON Schema of a flow file (draft 2020-12), for editors and CI linters."""
    schema = Flow.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://github.com/ivr-voice/ivr/dialogs/flow.schema.json"
    schema["title"] = "IVR call flow (version 1)"
    return schema
