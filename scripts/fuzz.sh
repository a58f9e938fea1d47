#!/usr/bin/env bash
# Fuzzes with libFuzzer and AddressSanitizer.
# Usage: scripts/fuzz.sh [render|store|import] [SECONDS] [extra libFuzzer flags]
#        scripts/fuzz.sh --typecheck [render|store|import]   (only checks that the target compiles;
#        FuzzTargetTests runs this for every target, so a change that breaks a target fails the suite)
#   render (default): the YAML reader, reference finder and renderer (Fuzz/FuzzRender.swift)
#   store:            the store file reader and its whole-file MAC (Fuzz/FuzzStoreFile.swift)
#   import:           the dotenv/JSON import parsers and the ${…} expander (Fuzz/FuzzImport.swift)
# store links swift-crypto's objects from .build/debug, so it needs `swift build` first.
# Corpus: .build-fuzz/corpus-TARGET (seeded from Fixtures/); crashes: .build-fuzz/crashes-TARGET.
# Every crash found becomes a fixture under Fixtures/fuzz/ and a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
typecheck=0
if [ "${1:-}" = --typecheck ]; then typecheck=1; shift; else bash scripts/setup.sh; fi
target=render
case "${1:-}" in render|store|import) target=$1; shift ;; esac
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
  Sources/SecretFill/IO/TemporaryFileGuard.swift
  Sources/SecretFill/IO/FileKind.swift
  Sources/SecretFill/IO/JSONText.swift
)
crypto=()        # what the compiler needs to see swift-crypto
crypto_link=()   # and what the linker needs
if [ "$target" = store ]; then
  sources=("${common[@]}"
    Sources/SecretFill/Store/StoreError.swift
    Sources/SecretFill/Store/StoreKey.swift
    Sources/SecretFill/IO/HexText.swift
    Sources/SecretFill/Store/StoreDocument.swift
    Sources/SecretFill/Store/StoreCanonical.swift
    Sources/SecretFill/Store/StoreMAC.swift
    Sources/SecretFill/Store/StoreFileIndex.swift
    Fuzz/FuzzStoreFile.swift)
  seeds=(Fixtures/demo/store.json)
  [ -f .build/debug/Modules/Crypto.swiftmodule ] || swift build --product secretfill >&2
  c=.build/checkouts/swift-crypto/Sources
  mapfile -t objects < <(find .build/debug/Crypto.build .build/debug/CryptoBoringWrapper.build .build/debug/CCryptoBoringSSL.build \
    .build/debug/CCryptoBoringSSLShims.build .build/debug/CXKCP.build .build/debug/CXKCPShims.build -name '*.o')
  crypto=(-I .build/debug/Modules)
  crypto_link=(-lstdc++ "${objects[@]}")
  for m in CCryptoBoringSSL CCryptoBoringSSLShims CXKCP CXKCPShims; do crypto+=(-Xcc "-fmodule-map-file=$c/$m/include/module.modulemap"); done
elif [ "$target" = import ]; then
  sources=("${common[@]}"
    Sources/SecretFill/Store/StoreError.swift
    Sources/SecretFill/Store/StoreCanonical.swift
    Sources/SecretFill/Store/StoreFileIndex.swift
    Sources/SecretFill/Store/SecretImport.swift
    Sources/SecretFill/Store/StoreDocument.swift
    Fuzz/FuzzImport.swift)
  seeds=()
else
  sources=("${common[@]}"
    Sources/SecretFill/YAML/*.swift
    Sources/SecretFill/Scan/*.swift
    Sources/SecretFill/Render/YAMLDoubleQuoted.swift
    Sources/SecretFill/Render/SpecRenderer.swift
    Fuzz/FuzzRender.swift)
  seeds=(Fixtures/*.yaml Fixtures/golden/*.yaml)
fi
if [ "$typecheck" = 1 ]; then
  exec swiftc -typecheck -parse-as-library -module-name SecretFillFuzz -package-name secretfill \
    -I Sources/CYAML -Xcc -I/usr/include "${crypto[@]}" "${sources[@]}"
fi
swiftc -O -g -sanitize=fuzzer,address -parse-as-library -module-name SecretFillFuzz -package-name secretfill \
  -I Sources/CYAML -Xcc -I/usr/include -lyaml "${crypto[@]}" "${crypto_link[@]}" "${sources[@]}" -o "$out/fuzz-$target"
[ "${#seeds[@]}" -gt 0 ] && cp "${seeds[@]}" "$out/corpus-$target/" 2>/dev/null || true
[ -d "Fixtures/fuzz/$target" ] && cp "Fixtures/fuzz/$target"/* "$out/corpus-$target/" 2>/dev/null || true
"$out/fuzz-$target" "$out/corpus-$target" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$out/crashes-$target/" -print_final_stats=1 "$@"
