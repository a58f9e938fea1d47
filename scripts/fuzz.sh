#!/usr/bin/env bash
# Fuzzes with libFuzzer and AddressSanitizer.
# Usage: scripts/fuzz.sh [render|store] [SECONDS] [extra libFuzzer flags]
#   render (default): the YAML reader, reference finder and renderer (Fuzz/FuzzRender.swift)
#   store:            the store file reader and the dotenv/JSON import parsers (Fuzz/FuzzStoreFile.swift)
# Corpus: .build-fuzz/corpus-TARGET (seeded from Fixtures/); crashes: .build-fuzz/crashes-TARGET.
# Every crash found becomes a fixture under Fixtures/fuzz/ and a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
target=render
case "${1:-}" in render|store) target=$1; shift ;; esac
seconds="${1:-60}"; shift || true
out=.build-fuzz
mkdir -p "$out/corpus-$target" "$out/crashes-$target"
common=(
  Sources/SecretFill/Diagnostics.swift
  Sources/SecretFill/Store/SecretName.swift
  Sources/SecretFill/Store/SecretValue.swift
  Sources/SecretFill/Store/SecretInputError.swift
  Sources/SecretFill/Store/Scope.swift
  Sources/SecretFill/IO/IOError.swift
  Sources/SecretFill/IO/FileIO.swift
  Sources/SecretFill/IO/JSONText.swift
)
if [ "$target" = store ]; then
  sources=("${common[@]}"
    Sources/SecretFill/Store/StoreError.swift
    Sources/SecretFill/Store/StoreDocument.swift
    Sources/SecretFill/Store/StoreFileIndex.swift
    Sources/SecretFill/Store/SecretImport.swift
    Fuzz/FuzzStoreFile.swift)
  seeds=(Fixtures/demo/store.json)
else
  sources=("${common[@]}"
    Sources/SecretFill/YAML/*.swift
    Sources/SecretFill/Scan/*.swift
    Sources/SecretFill/Render/YAMLDoubleQuoted.swift
    Sources/SecretFill/Render/SpecRenderer.swift
    Fuzz/FuzzRender.swift)
  seeds=(Fixtures/*.yaml Fixtures/golden/*.yaml)
fi
swiftc -O -g -sanitize=fuzzer,address -parse-as-library -module-name SecretFillFuzz \
  -I Sources/CYAML -Xcc -I/usr/include -lyaml "${sources[@]}" -o "$out/fuzz-$target"
cp "${seeds[@]}" "$out/corpus-$target/" 2>/dev/null || true
[ -d "Fixtures/fuzz/$target" ] && cp "Fixtures/fuzz/$target"/* "$out/corpus-$target/" 2>/dev/null || true
"$out/fuzz-$target" "$out/corpus-$target" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$out/crashes-$target/" -print_final_stats=1 "$@"
