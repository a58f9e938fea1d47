#!/usr/bin/env bash
# Installs the real Paperspace `gradient` CLI, version 2.0.6 (from PyPI, into
# its own virtual environment under .build/tools/, so the system's Python
# packages are left alone) and prints the path of its `gradient` program.
# Safe to run again: it installs only once. The gradient tests
# (Tests/CLITests/GradientCLITests.swift) run it against a live
# `secretfill serve`; scripts/test.sh sets SECRETFILL_GRADIENT.
#
# gradient 2.0.6 pins PyYAML 5.4.1, whose source build needs Cython below 3
# and no build isolation on Python 3.11; and with click 8.2 or newer every
# `gradient secrets` command fails before sending anything, so click stays
# below 8.2.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python-venv.sh
VENV=${SECRETFILL_TOOLS:-$PWD/.build/tools}/gradient
if ! [ -x "$VENV/bin/gradient" ]; then
  fresh_venv "$VENV"
  "$VENV/bin/pip" install -q 'cython<3' wheel 'setuptools<70' >&2
  "$VENV/bin/pip" install -q --no-build-isolation 'pyyaml==5.4.1' >&2
  "$VENV/bin/pip" install -q 'gradient==2.0.6' 'click<8.2' >&2
fi
"$VENV/bin/gradient" version >/dev/null
echo "$VENV/bin/gradient"
