#!/usr/bin/env bash
# Memory-safety checks:
#  1. the whole test suite under AddressSanitizer (its own build folder);
#  2. valgrind over the release binary on every fixture: no definite leaks
#     and no invalid reads or writes at the libyaml boundary.
# Usage: scripts/sanitize.sh [asan|valgrind|all]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
bash scripts/setup.sh --tests

if [ "$what" = asan ] || [ "$what" = all ]; then
  swift build --build-tests --sanitize=address --scratch-path .build-asan
  # The test runner itself is not leak-checked (XCTest/Testing keep globals);
  # the secretfill processes the CLI tests start are, with their own defaults.
  SECRETFILL_SANITIZER=address ASAN_OPTIONS=detect_leaks=0 swift test --skip-build --sanitize=address --scratch-path .build-asan
fi

if [ "$what" = valgrind ] || [ "$what" = all ]; then
  command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
  swift build -c release --disable-local-rpath --product secretfill
  # valgrind 3.19 cannot read the DWARF 5 that Swift emits: check a copy without it.
  bin=$(mktemp -d)/secretfill
  objcopy --strip-debug .build/release/secretfill "$bin"
  export SECRETFILL_KEY="$(cat Fixtures/demo/DEMO-KEY-not-a-secret.txt)" SECRETFILL_STORE=Fixtures/demo/store.json
  status=0
  # Error paths too: a parse that stops mid-stream must still free the parser.
  broken=$(mktemp --suffix=.yaml)
  printf 'env:\n- {name: A, value: secret:hf_token}\n- {name: B, value: "unclosed\n' > "$broken"
  for spec in Fixtures/*.yaml "$broken"; do
    for args in "render $spec --project pr-demo --cluster demo-cluster" "check $spec" "env $spec --select api --format json" \
                "render $spec --project nope"; do
      log=$(mktemp)
      # shellcheck disable=SC2086
      valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
        "$bin" $args >/dev/null 2>"$log" || code=$?
      code=${code:-0}
      if [ "$code" = 99 ] || ! grep -q "definitely lost: 0 bytes\|no leaks are possible" "$log"; then
        echo "valgrind: problem with: secretfill $args"; grep -E "lost|Invalid|ERROR SUMMARY" "$log"; status=1
      else
        echo "valgrind: clean: secretfill $args ($(grep -o 'ERROR SUMMARY: [0-9]* errors' "$log"))"
      fi
      unset code
      rm -f "$log"
    done
  done
  exit $status
fi
