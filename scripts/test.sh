#!/usr/bin/env bash
# Command 2 of the README: install everything the tests need on a fresh Debian machine with
# Python 3.11 (Debian packages included when missing), then run the quality gates and the suite.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(redis-server prometheus espeak-ng flite sox graphviz libsndfile1 pocketsphinx-en-us
  wordnet-base fortunes)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
VENV="${IVR_TEST_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
# torch first and pinned: only torch==2.13.0 takes the local CPU wheel (see shared STACK.md).
"$VENV/bin/pip" install -q "torch==2.13.0" "numpy==1.26.4"
"$VENV/bin/pip" install -q -e ".[dev,torch,train]"
export PATH="$PWD/$VENV/bin:$PATH"

echo "== ruff"; ruff check ivr recognizer dialogs hotwords bench tests
echo "== ruff format"; ruff format --check ivr recognizer dialogs hotwords bench tests
echo "== mypy"; mypy ivr recognizer dialogs hotwords bench
echo "== static checks (containers, manifests, workflows, security)"; bash scripts/checks.sh
echo "== pytest"
set +e
python -m pytest -q -p no:cacheprovider "$@"
status=$?
set -e
# pytest exits 5 when it collected no test: that is a failure of this script, not a pass.
exit $status
