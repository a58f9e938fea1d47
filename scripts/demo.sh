#!/usr/bin/env bash
# Renders the example Paperspace spec against the demo store in Fixtures/demo.
# The key below is a DEMO KEY, committed on purpose so anyone can run this:
# never seal real secrets with it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --disable-local-rpath --product secretfill >&2
export SECRETFILL_KEY="$(cat Fixtures/demo/DEMO-KEY-not-a-secret.txt)"   # DEMO KEY
export SECRETFILL_STORE=Fixtures/demo/store.json
exec .build/release/secretfill render Fixtures/paperspace-deployment.yaml --project pr-demo "$@"
