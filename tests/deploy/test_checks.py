"""The static checks catch what they are there for (scripts/checks.sh runs them on the repo)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.deploy.deployfiles import REPO


def audit_script() -> ModuleType:
    path = REPO / "scripts" / "audit_dependencies.py"
    spec = importlib.util.spec_from_file_location("audit_dependencies", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REPORT = {
    "dependencies": [
        {"name": "aiohttp", "version": "3.14.5", "vulns": []},
        {
            "name": "jinja2",
            "version": "3.1.6",
            "vulns": [{"id": "GHSA-aaaa-bbbb-cccc", "aliases": ["CVE-2099-1"], "fix_versions": []}],
        },
        {"name": "kenlm", "skip_reason": "Dependency not found on PyPI"},
    ]
}


def test_pip_audit_fails_on_a_vulnerability_not_written_down() -> None:
    lines, failed = audit_script().evaluate(REPORT, {})
    assert failed
    assert "jinja2 3.1.6: GHSA-aaaa-bbbb-cccc" in "\n".join(lines)


def test_pip_audit_accepts_a_vulnerability_listed_with_its_reason() -> None:
    _, failed = audit_script().evaluate(REPORT, {"CVE-2099-1": "templates are ours, not callers'"})
    assert not failed


def test_pip_audit_says_not_audited_when_no_database_answered() -> None:
    offline = {"dependencies": [{"name": "aiohttp", "skip_reason": "not found"}]}
    lines, failed = audit_script().evaluate(offline, {})
    assert lines == ["pip-audit: NOT AUDITED (no advisory database reachable)"]
    assert not failed


def test_pip_audit_ignore_entries_need_a_reason(tmp_path: Path) -> None:
    listed = tmp_path / "ignore"
    listed.write_text("GHSA-aaaa-bbbb-cccc\n")
    with pytest.raises(SystemExit, match="needs a reason"):
        audit_script().ignored_ids(listed)


def test_strict_manifest_validation_rejects_a_misspelled_field() -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(REPO / "k8s" / "overlays" / "cpu")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    broken = rendered.replace("readOnlyRootFilesystem:", "readOnlyRootFilesytem:", 1)
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "kubernetes-validate"),
            "--strict",
            "--quiet",
            "-k",
            "1.37.0",
            "-",
        ],
        input=broken,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "readOnlyRootFilesytem" in result.stdout + result.stderr


def bandit_script() -> ModuleType:
    path = REPO / "scripts" / "bandit_check.py"
    spec = importlib.util.spec_from_file_location("bandit_check", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bandit_fails_on_a_finding_and_accepts_the_ruff_review_mark(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "jitter.py").write_text(
        "import random\n"
        "import xml.etree.ElementTree as ET\n\n"
        "def backoff() -> float:\n"
        "    return random.uniform(0, 1)  # noqa: S311 (jitter, not a secret)\n\n"
        "def parse(text: str) -> object:\n"
        "    return ET.fromstring(text)\n"
    )
    lines, failed = bandit_script().check(tmp_path, ("pkg",))
    assert failed
    findings = [line for line in lines if line.startswith("pkg/")]
    assert len(findings) == 1 and "B314" in findings[0]
    assert lines[-1] == "bandit: 1 findings to fix, 1 reviewed with `# noqa: S...`"
