"""Fixtures of the deployment tests: the Dockerfile, compose file and rendered overlays."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.deploy.deployfiles import REPO, Stage, parse_dockerfile, render_overlay


@pytest.fixture(scope="session")
def dockerfile() -> dict[str, Stage]:
    return parse_dockerfile(REPO / "Dockerfile")


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """compose/compose.yaml with its YAML anchors and merge keys resolved."""
    loaded = yaml.safe_load((REPO / "compose" / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="session")
def overlays() -> dict[str, list[dict[str, Any]]]:
    """Both overlays rendered by `kubectl kustomize`, as the cluster would receive them."""
    return {name: render_overlay(name) for name in ("cpu", "gpu")}
