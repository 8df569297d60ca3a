"""pip-audit over the installed environment, with written-down exceptions and an honest offline mode.

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


def main() -> int:
    ignore = ignored_ids(IGNORE_FILE)
    command = [
        sys.executable, "-m", "pip_audit", "--local", "--skip-editable",
        "--progress-spinner", "off", "--format", "json",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"pip-audit: NOT AUDITED (no advisory database reachable): {last}")
        return 0
    audited = [d for d in report.get("dependencies", []) if "vulns" in d]
    if not audited:
        print("pip-audit: NOT AUDITED (no advisory database reachable)")
        return 0
    findings = [
        (dep["name"], dep["version"], vuln["id"], vuln.get("fix_versions", []))
        for dep in audited
        for vuln in dep["vulns"]
        if vuln["id"] not in ignore and not set(vuln.get("aliases", [])) & set(ignore)
    ]
    for name, version, vuln_id, fixes in findings:
        fix = ", ".join(fixes) or "no fixed release"
        print(f"pip-audit: {name} {version}: {vuln_id} (fixed in: {fix})")
    skipped = len(report["dependencies"]) - len(audited)
    print(f"pip-audit: {len(audited)} packages audited, {skipped} skipped, "
          f"{len(findings)} unlisted vulnerabilities, {len(ignore)} listed in {IGNORE_FILE.name}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
