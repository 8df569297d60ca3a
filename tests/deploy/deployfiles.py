"""The Dockerfile, compose file and manifests as data, read the way Docker, compose and
kustomize read them, so the deployment tests run what the container runs."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Stage:
    """One `FROM ... AS name` stage: its environment and entrypoint, as Docker resolves them."""

    name: str
    base: str
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    user: str | None = None
    healthcheck: str | None = None
    volumes: list[str] = field(default_factory=list)
    instructions: list[tuple[str, str]] = field(default_factory=list)


def _logical_lines(text: str) -> list[str]:
    """Dockerfile lines with `\\` continuations joined and comments dropped."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current:
        lines.append(current)
    return lines


def parse_dockerfile(path: Path) -> dict[str, Stage]:
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    for line in _logical_lines(path.read_text()):
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        rest = rest.strip()
        if instruction == "FROM":
            words = rest.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(stages))
            stage = Stage(name=name, base=words[0])
            stages[name] = stage
            continue
        if stage is None:
            continue
        stage.instructions.append((instruction, rest))
        if instruction == "ENV":
            for word in shlex.split(rest):
                key, _, value = word.partition("=")
                stage.env[key] = value
        elif instruction == "ENTRYPOINT":
            stage.entrypoint = json.loads(rest)
        elif instruction == "CMD":
            stage.cmd = json.loads(rest)
        elif instruction == "USER":
            stage.user = rest
        elif instruction == "HEALTHCHECK":
            stage.healthcheck = rest
        elif instruction == "VOLUME":
            stage.volumes.extend(json.loads(rest))
    return stages


def render_overlay(name: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(REPO / "k8s" / "overlays" / name)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def env_file(path: Path) -> dict[str, str]:
    """`KEY=VALUE` lines of a compose env file; comments and blank lines skipped."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def container_env(stage: Stage, compose_service: dict[str, Any]) -> dict[str, str]:
    """The environment the container sees: the image's ENV, then the service's env file (the
    example shipped beside compose.yaml), then compose's `environment`, which wins."""
    env = {k: v for k, v in stage.env.items() if k not in {"PATH", "PYTHONPATH"}}
    env.update(env_file(REPO / "compose" / "ivr.env.example"))
    env.update({str(k): str(v) for k, v in compose_service.get("environment", {}).items()})
    return env


def readyz(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def require_ready(url: str, timeout: float = 120) -> dict[str, Any]:
    """Wait for `/readyz` 200 (the model may still be loading when `/healthz` first answers).
    Skips when the only thing missing is a model that is not in this checkout yet."""
    deadline = time.monotonic() + timeout
    status, body = readyz(url)
    while status != 200 and time.monotonic() < deadline:
        problems = body.get("problems", {})
        if set(problems) == {"model"} and not (REPO / "recognizer/models/default").exists():
            pytest.skip(f"no model in recognizer/models/default yet: {problems['model']}")
        time.sleep(0.2)
        status, body = readyz(url)
    assert status == 200, body
    return body
