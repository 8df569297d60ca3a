"""Paths and keys shared by the dialogs tests (imported by name: tests/ has no packages)."""

from __future__ import annotations

import base64
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "dialogs" / "examples"
KEY_A = "a:" + base64.b64encode(bytes(range(32))).decode()
KEY_B = "b:" + base64.b64encode(bytes(range(32, 64))).decode()


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    """The line number of the nth line of `path` containing `needle`."""
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    return hits[nth - 1]


def break_file(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
