"""Fixtures of the dialogs tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flowfiles import EXAMPLES


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    """A writable copy of the example flows and their conversation tests."""
    target = tmp_path / "flows"
    shutil.copytree(EXAMPLES, target)
    return target
