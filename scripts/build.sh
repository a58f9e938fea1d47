#!/usr/bin/env bash
# Builds secretfill once for both README commands: the demo and the tests use
# the same debug build in .build/, so whichever runs second reuses the first's
# products. Progress goes to stderr, quietly: errors only, plus one line saying
# what is happening (a first build on 2 cores takes about 8 minutes: SwiftNIO,
# Hummingbird, the database drivers and swift-crypto's C code).
# Usage: scripts/build.sh [--tests]
set -euo pipefail
cd "$(dirname "$0")/.."
args=(--product secretfill)
what="secretfill"
if [ "${1:-}" = "--tests" ]; then args=(--build-tests); what="secretfill and its tests"; fi
if [ ! -x .build/debug/secretfill ]; then
  echo "Building $what (the first build takes about 8 minutes on 2 cores; later ones reuse it)..." >&2
fi
if ! swift build --quiet "${args[@]}" >&2; then
  echo "build failed: see the errors above" >&2
  exit 1
fi
