#!/usr/bin/env bash
# Installs what the tests need, builds (reusing scripts/demo.sh's build), and
# runs the whole test suite with Swift Testing (the suite has no XCTest cases,
# so XCTest's empty "Executed 0 tests" report is turned off).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
bash scripts/browser.sh
bash scripts/build.sh --tests
swift test --skip-build --disable-xctest "$@"
