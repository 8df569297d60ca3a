#!/usr/bin/env bash
# Static checks beside the test suite; the deploy area fills this in.
set -euo pipefail
cd "$(dirname "$0")/.."
