#!/usr/bin/env bash
# Regenerates secretfill.1 from the command definitions with swift-argument-parser's
# generate-manual plugin (offline: it builds the debug binary and asks it for its help).
# The date is the last commit's, so an unchanged tree gives an unchanged page.
set -euo pipefail
cd "$(dirname "$0")/.."
date=$(git log -1 --format=%cs 2>/dev/null || date -u +%F)
swift package --disable-sandbox plugin generate-manual --configuration debug --date "$date" --authors "secretfill contributors"
cp .build/plugins/GenerateManual/outputs/secretfill/secretfill.1 secretfill.1
echo "wrote secretfill.1 (man ./secretfill.1)"
