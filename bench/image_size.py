"""What goes into the CPU image, measured on the installed environment (no Docker needed).

    python -m bench.image_size            # table of the runtime closure, model and code
    python -m bench.image_size --json     # the same as JSON

The image's dependency layer is the closure of `[project].dependencies` (no extras: no torch,
no dev tools); this walks that closure through the installed distributions' metadata and adds
up the files each one installed. The base image is not measured here (no Docker engine): its
size is the published one, given as a constant below.
"""

from __future__ import annotations

import argparse
import json
import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker

REPO = Path(__file__).resolve().parent.parent
# python:3.11-slim-bookworm, uncompressed, as `docker image ls` reports it (amd64).
BASE_IMAGE_MB = 130.0
CODE_PACKAGES = ("ivr", "recognizer", "dialogs", "hotwords")
REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class Part:
    name: str
    bytes: int


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [str(r) for r in project["dependencies"]]


def closure(requirements: list[str]) -> set[str]:
    """Installed distributions needed by `requirements`, extras of the roots included."""
    seen: set[str] = set()
    todo: list[tuple[str, set[str]]] = []
    for req in requirements:
        match = REQUIREMENT_NAME.match(req)
        if match:
            extras = set(re.findall(r"\[([^\]]+)\]", req)[0].split(",")) if "[" in req else set()
            todo.append((match.group(1), {e.strip() for e in extras}))
    while todo:
        name, extras = todo.pop()
        key = canonical(name)
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(key)
        for req in dist.requires or []:
            spec, _, marker = req.partition(";")
            if marker.strip() and not any(
                Marker(marker).evaluate({"extra": extra}) for extra in extras | {""}
            ):
                continue
            match = REQUIREMENT_NAME.match(spec)
            if match:
                sub = set(re.findall(r"\[([^\]]+)\]", spec)[0].split(",")) if "[" in spec else set()
                todo.append((match.group(1), {e.strip() for e in sub}))
    return seen


def distribution_bytes(name: str) -> int:
    dist = metadata.distribution(name)
    total = 0
    for file in dist.files or []:
        path = Path(str(dist.locate_file(file)))
        if path.is_file() and "__pycache__" not in path.parts:
            total += path.stat().st_size
    return total


def tree_bytes(root: Path, skip: tuple[str, ...] = ()) -> int:
    if not root.exists():
        return 0
    return sum(
        p.stat().st_size
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not any(s in p.parts for s in skip)
    )


def measure() -> dict[str, object]:
    deps = sorted(
        (Part(name, distribution_bytes(name)) for name in closure(runtime_requirements())),
        key=lambda part: -part.bytes,
    )
    models = REPO / "recognizer" / "models"
    model_bytes = (
        sum(
            p.stat().st_size
            for p in models.rglob("*")
            if p.is_file() and not p.name.endswith((".torchscript.pt", ".ckpt"))
        )
        if models.exists()
        else 0
    )
    code_bytes = sum(
        tree_bytes(REPO / package, skip=("models", "training")) for package in CODE_PACKAGES
    )
    deps_bytes = sum(part.bytes for part in deps)
    mb = 1024 * 1024
    return {
        "dependencies_mb": round(deps_bytes / mb, 1),
        "model_mb": round(model_bytes / mb, 1),
        "code_mb": round(code_bytes / mb, 2),
        "base_image_mb": BASE_IMAGE_MB,
        "estimated_cpu_image_mb": round(
            BASE_IMAGE_MB + (deps_bytes + model_bytes + code_bytes) / mb, 1
        ),
        "largest_dependencies_mb": {p.name: round(p.bytes / mb, 1) for p in deps[:12]},
        "dependency_count": len(deps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    report = measure()
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for name, size in value.items():
                print(f"  {name:28} {size:8.1f} MB")
        else:
            print(f"{key:28} {value}")


if __name__ == "__main__":
    main()
