#!/usr/bin/env bash
# Builds secretfill once for both README commands: the demo and the tests use
# the same debug build in .build/, so whichever runs second reuses the first's
# products. Progress goes to stderr, quietly: errors only, plus one line saying
# what is happening. On 2 cores a first build of secretfill alone takes about
# 6 minutes (swift-crypto's C code); the tests add secretfill-team, with
# SwiftNIO, Hummingbird and the database drivers, several minutes more.
# Usage: scripts/build.sh [--tests]
set -euo pipefail
cd "$(dirname "$0")/.."
args=(--product secretfill)
what="secretfill"
if [ "${1:-}" = "--tests" ]; then args=(--build-tests); what="secretfill and its tests"; fi
if [ ! -x .build/debug/secretfill ]; then
  echo "Building $what (a first build takes minutes: about 6 for secretfill on 2 cores; later ones reuse it)..." >&2
elif [ "${1:-}" = "--tests" ] && [ ! -x .build/debug/secretfill-team ]; then
  echo "Building secretfill-team and the tests (the server's packages: several minutes the first time)..." >&2
fi
if ! swift build --quiet "${args[@]}" >&2; then
  echo "build failed: see the errors above" >&2
  exit 1
fi
