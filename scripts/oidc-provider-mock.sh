#!/usr/bin/env bash
# Installs oidc-provider-mock 0.3.4 (from PyPI, into its own virtual
# environment under .build/tools/, so the system's Python packages are left
# alone) and prints the path of its program. Safe to run again: it installs
# only once. The single sign-on browser tests
# (Tests/CLITests/SingleSignOnBrowserTests.swift) start it on a loopback port
# as the identity provider; scripts/test.sh sets SECRETFILL_OIDC_PROVIDER_MOCK.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python-venv.sh
VENV=${SECRETFILL_TOOLS:-$PWD/.build/tools}/oidc-provider-mock
if ! [ -x "$VENV/bin/oidc-provider-mock" ]; then
  fresh_venv "$VENV"
  "$VENV/bin/pip" install -q 'oidc-provider-mock==0.3.4' >&2
fi
"$VENV/bin/oidc-provider-mock" --help >/dev/null 2>&1
echo "$VENV/bin/oidc-provider-mock"
