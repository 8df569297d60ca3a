"""Admin API bodies: requests validated here (normalizing phrases), responses described here,
and both turned into the OpenAPI document's schemas."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from dialogs.callstate import HistoryEntry
from hotwords.errors import InvalidPhrase
from hotwords.normalize import DEFAULT_ALPHABET, normalize_phrase
from recognizer.phrases import BOOST_MAX, BOOST_MIN

TENANT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
MAX_TAGS = 16
DEFAULT_BOOST = 10.0

TenantId = Annotated[str, Field(pattern=TENANT_PATTERN, description="Tenant id.")]
Tag = Annotated[str, Field(pattern=TAG_PATTERN)]


@dataclass(frozen=True)
class PhraseRules:
    """Validation context: the limits and alphabet in force (from settings and the model)."""

    max_chars: int
    alphabet: frozenset[str] = DEFAULT_ALPHABET


class Body(BaseModel):
    # Strict: `"boost": false` or `"retention_days": "7"` is a mistake to report, not coerce.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TenantIn(Body):
    id: TenantId
    retention_days: int | None = Field(
        None, ge=1, le=36500, description="Keep this tenant's transcripts this many days."
    )


class TenantUpdate(Body):
    retention_days: int | None = Field(
        ge=1, le=36500, description="New retention in days; null returns to the default."
    )


class HotwordIn(Body):
    phrase: str = Field(
        min_length=1, max_length=1000, description="Words to favour; normalized on write."
    )
    boost: float = Field(DEFAULT_BOOST, ge=BOOST_MIN, le=BOOST_MAX, allow_inf_nan=False)
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)

    @field_validator("phrase")
    @classmethod
    def _normalize(cls, value: str, info: ValidationInfo) -> str:
        rules = info.context if isinstance(info.context, PhraseRules) else PhraseRules(64)
        try:
            return normalize_phrase(value, max_chars=rules.max_chars, alphabet=rules.alphabet)
        except InvalidPhrase as exc:
            raise ValueError(str(exc)) from None

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


class HotwordsIn(Body):
    hotwords: list[HotwordIn] = Field(max_length=100_000)

    @field_validator("hotwords")
    @classmethod
    def _no_duplicates(cls, value: list[HotwordIn]) -> list[HotwordIn]:
        seen: dict[str, int] = {}
        for index, item in enumerate(value):
            if item.phrase in seen:
                raise ValueError(
                    f"item {index} repeats phrase {item.phrase!r} of item {seen[item.phrase]} "
                    "(after normalization)"
                )
            seen[item.phrase] = index
        return value


class HotwordImport(HotwordsIn):
    """An import: the hot words, optionally with an export's `tenant` and `version`."""

    tenant: str | None = None
    version: int | None = None


class KeyIn(Body):
    kind: Literal["admin", "tenant"]
    tenant: TenantId | None = Field(None, description="Required for tenant keys.")
    name: str | None = Field(None, max_length=100, description="A note to recognize the key.")


# --- responses ---
class Tenant(BaseModel):
    id: str
    created_at: str
    retention_days: int | None
    version: int
    hotwords: int


class TenantList(BaseModel):
    tenants: list[Tenant]


class TenantDeleted(BaseModel):
    tenant: str
    version: int
    deleted_hotwords: int
    revoked_keys: list[str]


class Hotword(BaseModel):
    id: str
    phrase: str
    boost: float
    tags: list[str]
    created_at: str
    updated_at: str


class HotwordList(BaseModel):
    tenant: str
    version: int
    hotwords: list[Hotword]


class HotwordWritten(BaseModel):
    tenant: str
    version: int
    created: bool
    hotword: Hotword


class WriteSummary(BaseModel):
    tenant: str
    version: int
    before: int
    after: int


class ExportedHotword(BaseModel):
    phrase: str
    boost: float
    tags: list[str]


class HotwordExport(BaseModel):
    """The portable form: import accepts it back as it is."""

    tenant: str
    version: int
    hotwords: list[ExportedHotword]


class ActivePhrase(BaseModel):
    phrase: str
    boost: float


class ActiveHotwords(BaseModel):
    tenant: str
    version: int
    phrases: list[ActivePhrase]


class Key(BaseModel):
    id: str
    kind: Literal["admin", "tenant"]
    tenant: str | None
    name: str | None
    created_at: str


class KeyCreated(Key):
    secret: str = Field(description="The bearer token; shown only in this answer.")


class KeyList(BaseModel):
    keys: list[Key]


class AuditEntry(BaseModel):
    seq: int
    ts: str
    actor: str
    action: str
    tenant: str | None
    details: dict[str, Any]
    prev: str
    hash: str


class AuditPage(BaseModel):
    tenant: str | None
    total: int
    offset: int
    limit: int
    next_offset: int | None
    entries: list[AuditEntry]


class CallOutcome(BaseModel):
    disposition: str
    transfer_target: str | None
    final_state: str | None
    turns: int


class CallRecord(BaseModel):
    """What is stored about one call; sensitive slot values are `***` when `redacted`."""

    call_id: str
    tenant: str
    flow: str
    finished: bool = Field(description="False while the call is still in progress.")
    redacted: bool = Field(description="Sensitive values masked (IVR_REDACT_SENSITIVE).")
    outcome: CallOutcome | None = Field(description="How the call ended; null while live.")
    state: str | None = Field(description="The flow state of a live call; null once finished.")
    slots: dict[str, str]
    history: list[HistoryEntry]


class Error(BaseModel):
    model_config = ConfigDict(extra="allow")
    error: str
    status: int
    request_id: str | None = None
    field: str | None = None
