#!/usr/bin/env bash
# Installs oidc-provider-mock 0.3.4 (from PyPI, into its own virtual
# environment under .build/tools/, so the system's Python packages are left
# alone) and prints the path of its program. Safe to run again: it installs
# only once. The single sign-on browser tests
# (Tests/CLITests/SingleSignOnBrowserTests.swift) start it on a loopback port
# as the identity provider; scripts/test.sh sets SECRETFILL_OIDC_PROVIDER_MOCK.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${SECRETFILL_TOOLS:-$PWD/.build/tools}/oidc-provider-mock
if ! [ -x "$VENV/bin/oidc-provider-mock" ]; then
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$VENV"
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q 'oidc-provider-mock==0.3.4' >&2
fi
"$VENV/bin/oidc-provider-mock" --help >/dev/null 2>&1
echo "$VENV/bin/oidc-provider-mock"
