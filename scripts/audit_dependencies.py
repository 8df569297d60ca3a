"""pip-audit over the installed environment, with written-down exceptions and honest offline mode.

Fails on any known vulnerability whose id is not in `.pip-audit-ignore` (one id a line, each
with a `# reason`). When no advisory database answers (no network, or a registry mirror without
PyPI's JSON API), pip-audit skips every package and would report "no known vulnerabilities":
this script says NOT AUDITED instead, and exits 0, because nothing could be checked either way.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

IGNORE_FILE = Path(__file__).resolve().parent.parent / ".pip-audit-ignore"


def ignored_ids(path: Path) -> dict[str, str]:
    """Vulnerability ids and their reasons; an entry without a reason is an error."""
    found: dict[str, str] = {}
    if not path.exists():
        return found
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        vuln_id, _, reason = line.partition("#")
        if not reason.strip():
            sys.exit(f"{path}:{number}: {vuln_id.strip()} needs a reason after '#'")
        found[vuln_id.strip()] = reason.strip()
    return found


def evaluate(report: dict[str, Any] | None, ignore: dict[str, str]) -> tuple[list[str], bool]:
    """Lines to print and whether the check fails, from pip-audit's JSON report."""
    audited = [d for d in (report or {}).get("dependencies", []) if "vulns" in d]
    if not audited:
        return ["pip-audit: NOT AUDITED (no advisory database reachable)"], False
    lines = []
    unlisted = 0
    for dep in audited:
        for vuln in dep["vulns"]:
            if vuln["id"] in ignore or set(vuln.get("aliases", [])) & set(ignore):
                continue
            unlisted += 1
            fix = ", ".join(vuln.get("fix_versions", [])) or "no fixed release"
            lines.append(
                f"pip-audit: {dep['name']} {dep['version']}: {vuln['id']} (fixed in: {fix})"
            )
    skipped = len(report["dependencies"]) - len(audited) if report else 0
    lines.append(
        f"pip-audit: {len(audited)} packages audited, {skipped} skipped, {unlisted} unlisted "
        f"vulnerabilities, {len(ignore)} listed in {IGNORE_FILE.name}"
    )
    return lines, unlisted > 0


def main() -> int:
    ignore = ignored_ids(IGNORE_FILE)
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--local",
        "--skip-editable",
        "--progress-spinner",
        "off",
        "--format",
        "json",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        report = None
    lines, failed = evaluate(report, ignore)
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
