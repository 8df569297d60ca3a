"""The flows a process serves: loaded from a folder, checked, re-read when files change.

A file that fails to load or validate is refused and the last valid version keeps serving.
Every version ever served stays resolvable by its digest, so a call finishes on the version it
started with even after a reload (and another replica can fetch it: see `FlowSources`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from dialogs.errors import FlowInvalid, FlowNotFound, Problem
from dialogs.loader import LoadedFlow, flow_digest, flow_files, parse_flow
from dialogs.schema import Flow
from dialogs.validate import validate_loaded

log = logging.getLogger(__name__)
SETTLE_S = 0.3


class FlowSet:
    """Current flows by name, and every version by (name, digest)."""

    def __init__(self) -> None:
        self.current: dict[str, LoadedFlow] = {}
        self.versions: dict[tuple[str, str], LoadedFlow] = {}

    def add(self, loaded: LoadedFlow, *, current: bool = True) -> None:
        self.versions[(loaded.name, loaded.digest)] = loaded
        if current:
            self.current[loaded.name] = loaded

    def resolve(self, name: str, digest: str | None) -> LoadedFlow:
        if digest is not None:
            found = self.versions.get((name, digest))
            if found is None:
                raise FlowNotFound(f"flow {name!r} version {digest} is not loaded here")
            return found
        current = self.current.get(name)
        if current is None:
            known = ", ".join(sorted(self.current)) or "none"
            raise FlowNotFound(f"no flow named {name!r} (loaded: {known})")
        return current


def check_text(name: str, path: Path, text: str, known: dict[str, Flow | None]) -> LoadedFlow:
    """Parse and validate one flow's text, or raise `FlowInvalid` with every problem."""
    flow, lines = parse_flow(text, str(path))
    loaded = LoadedFlow(name, path, text, flow, lines, flow_digest(text))
    problems = validate_loaded(loaded, known)
    if problems:
        raise FlowInvalid(path, problems)
    return loaded


@dataclass
class ReloadReport:
    loaded: list[str] = field(default_factory=list)
    refused: list[Problem] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


class FlowRegistry(FlowSet):
    """The flows of one folder; `reload()` re-reads files whose size or mtime changed."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self._stamps: dict[Path, tuple[int, int]] = {}
        self.errors: dict[str, list[Problem]] = {}

    def _stamp(self, path: Path) -> tuple[int, int] | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    @staticmethod
    def _settled(stamp: tuple[int, int]) -> bool:
        """A file written less than SETTLE_S ago may be half-written: read it next time."""
        return time.time_ns() - stamp[0] >= SETTLE_S * 1e9

    def changed(self) -> bool:
        files = flow_files([self.folder]) if self.folder.is_dir() else []
        stamps = {p: self._stamp(p) for p in files}
        return stamps != self._stamps

    def reload(self, *, force: bool = False) -> ReloadReport:
        report = ReloadReport()
        files = flow_files([self.folder]) if self.folder.is_dir() else []
        texts: dict[Path, str] = {}
        for path in files:
            stamp = self._stamp(path)
            if stamp is None or (not force and self._stamps.get(path) == stamp):
                continue
            if not force and not self._settled(stamp):
                continue
            self._stamps[path] = stamp
            try:
                texts[path] = path.read_text("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                report.refused.append(Problem(str(path), 1, f"cannot read: {exc}"))
        known: dict[str, Flow | None] = {p.stem: None for p in files}
        known.update({name: lf.flow for name, lf in self.current.items()})
        for path, text in texts.items():
            self._load_one(path, text, known, report)
        for path in [p for p in self._stamps if p not in files]:
            del self._stamps[path]
            if self.current.pop(path.stem, None) is not None:
                report.removed.append(path.stem)
        return report

    def _load_one(
        self, path: Path, text: str, known: dict[str, Flow | None], report: ReloadReport
    ) -> None:
        name = path.stem
        previous = self.current.get(name)
        if previous is not None and previous.text == text:
            return
        try:
            loaded = check_text(name, path, text, known)
        except FlowInvalid as exc:
            self.errors[name] = exc.problems
            report.refused.extend(exc.problems)
            kept = f"keeping version {previous.digest}" if previous else "not serving it"
            log.error(
                "flow refused",
                extra={"flow": name, "problems": [str(p) for p in exc.problems], "kept": kept},
            )
            return
        self.errors.pop(name, None)
        self.add(loaded)
        known[name] = loaded.flow
        report.loaded.append(name)
        log.info("flow loaded", extra={"flow": name, "digest": loaded.digest})
