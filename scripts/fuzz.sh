#!/usr/bin/env bash
# Fuzzes the YAML reader, reference finder and renderer with libFuzzer and
# AddressSanitizer. Usage: scripts/fuzz.sh [SECONDS] [extra libFuzzer flags]
# Corpus: .build-fuzz/corpus (seeded from Fixtures/); crashes: .build-fuzz/crashes.
# Every crash found becomes a fixture under Fixtures/fuzz/ and a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
seconds="${1:-60}"; shift || true
out=.build-fuzz
mkdir -p "$out/corpus" "$out/crashes"
sources=(
  Sources/SecretFill/Diagnostics.swift
  Sources/SecretFill/YAML/*.swift
  Sources/SecretFill/Spec/*.swift
  Sources/SecretFill/Render/YAMLDoubleQuoted.swift
  Sources/SecretFill/Render/SpecRenderer.swift
  Sources/SecretFill/Store/SecretName.swift
  Sources/SecretFill/Store/SecretValue.swift
  Sources/SecretFill/Store/SecretInputError.swift
  Sources/SecretFill/Store/Scope.swift
  Sources/SecretFill/IO/IOError.swift
  Sources/SecretFill/IO/FileIO.swift
  Fuzz/FuzzRender.swift
)
swiftc -O -g -sanitize=fuzzer,address -parse-as-library -module-name SecretFillFuzz \
  -I Sources/CYAML -Xcc -I/usr/include -lyaml "${sources[@]}" -o "$out/fuzz-render"
cp Fixtures/*.yaml Fixtures/golden/*.yaml "$out/corpus/" 2>/dev/null || true
[ -d Fixtures/fuzz ] && cp Fixtures/fuzz/* "$out/corpus/" 2>/dev/null || true
"$out/fuzz-render" "$out/corpus" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$out/crashes/" -print_final_stats=1 "$@"
