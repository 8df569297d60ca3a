"""The dialogs package's exceptions: one base (`FlowError`), each subclass with its HTTP status
and the file, line, call or key that lets a person fix what went wrong."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a flow file, printed as `file:line: message`."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class FlowError(Exception):
    """Base of every dialogs error; `ivr/errors.py` answers with `http_status`."""

    http_status = 500

    @property
    def details(self) -> dict[str, Any]:
        return {}


class FlowInvalid(FlowError):
    """A flow file failed to parse or validate; `problems` lists each with its line."""

    http_status = 422

    def __init__(self, path: Path | str, problems: list[Problem]) -> None:
        self.path = str(path)
        self.problems = problems
        shown = "; ".join(str(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"invalid flow {self.path}: {shown}{more}")

    @property
    def details(self) -> dict[str, Any]:
        return {"problems": [str(p) for p in self.problems]}


class FlowNotFound(FlowError):
    http_status = 404


class FlowRuntimeError(FlowError):
    """A flow did something at run time the validator could not rule out (a loop, say)."""

    http_status = 500


class CallNotFound(FlowError):
    """No dialog context for this call: never started, finished, erased or expired."""

    http_status = 404


class CallExists(FlowError):
    http_status = 409


class StaleEvent(FlowError):
    """The event answers another turn than the call's current one (duplicate or out of order)."""

    http_status = 409

    def __init__(self, call_id: str, got: int, current: int) -> None:
        self.got = got
        self.current = current
        kind = "duplicate or late" if got < current else "out-of-order"
        super().__init__(
            f"{kind} event for call {call_id}: it answers turn {got}, the call is at turn "
            f"{current}; send the event with turn={current}"
        )

    @property
    def details(self) -> dict[str, Any]:
        return {"turn": self.current}


class ConcurrentUpdate(FlowError):
    """Another replica answered this call's turn first (the compare-and-set lost)."""

    http_status = 409


class SealingError(FlowError):
    """Stored call data could not be encrypted or decrypted (bad or missing key)."""

    http_status = 500
