"""bandit over the packages, counting a finding as reviewed when ruff's same check was silenced
on that line (`# noqa: S311 (reason)`: ruff's flake8-bandit codes are bandit's numbers).

One review mark per finding instead of two (`# noqa` for ruff and `# nosec` for bandit); bandit
still catches what ruff has no rule for. Skips with reasons are in bandit.yaml.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("ivr", "recognizer", "dialogs", "hotwords")
NOQA = re.compile(r"#\s*noqa:\s*(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*)")


def noqa_codes(path: Path, lines: list[int]) -> set[str]:
    """The ruff codes silenced on any line of the finding (bandit gives its line range)."""
    source = path.read_text().splitlines()
    codes: set[str] = set()
    for number in lines:
        if 0 < number <= len(source):
            match = NOQA.search(source[number - 1])
            if match:
                codes.update(re.findall(r"[A-Z]+[0-9]+", match.group("codes")))
    return codes


def check(root: Path, packages: tuple[str, ...]) -> tuple[list[str], bool]:
    """Lines to print and whether the check fails, for bandit over `packages` under `root`."""
    command = [
        sys.executable,
        "-m",
        "bandit",
        "-c",
        str(REPO / "bandit.yaml"),
        "-q",
        "-f",
        "json",
        "-r",
        *packages,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=root)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        return [result.stdout + result.stderr], True
    lines = [f"bandit: could not scan {e['filename']}: {e['reason']}" for e in report["errors"]]
    unreviewed = reviewed = 0
    for finding in report["results"]:
        ruff_code = "S" + finding["test_id"][1:]
        span = finding.get("line_range") or [finding["line_number"]]
        if ruff_code in noqa_codes(root / finding["filename"], span):
            reviewed += 1
            continue
        unreviewed += 1
        lines.append(
            f"{finding['filename']}:{finding['line_number']}: {finding['test_id']} "
            f"[{finding['issue_severity']}] {finding['issue_text']}"
        )
    lines.append(f"bandit: {unreviewed} findings to fix, {reviewed} reviewed with `# noqa: S...`")
    return lines, bool(unreviewed or report["errors"])


def main() -> int:
    lines, failed = check(REPO, PACKAGES)
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
