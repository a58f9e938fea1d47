#!/usr/bin/env bash
# Installs schemathesis (from PyPI, into its own virtual environment under
# .build/tools/, so the system's Python packages are left alone) and prints
# the path of its `st` program. Safe to run again: it installs only once.
# The API document tests (Tests/CLITests/APIDocumentTests.swift) run it
# against a live `secretfill serve`; scripts/test.sh sets SECRETFILL_SCHEMATHESIS.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python-venv.sh
VENV=${SECRETFILL_TOOLS:-$PWD/.build/tools}/schemathesis
if ! [ -x "$VENV/bin/st" ]; then
  fresh_venv "$VENV"
  "$VENV/bin/pip" install -q 'schemathesis>=4,<5' openapi-spec-validator >&2
fi
"$VENV/bin/st" --version >/dev/null
echo "$VENV/bin/st"
