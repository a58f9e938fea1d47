#!/usr/bin/env bash
# Backup, restore and rekey at size: a server database of 10,000 secrets with 10
# versions each (100,000 sealed versions, loaded through the API with
# `secrets import --batch`), backed up and restored into a new database of
# each kind; wall time and peak memory (GNU time's maximum resident set) of
# each step, and the file's size. PostgreSQL comes from scripts/postgres.sh.
#
#   bench/backup.sh [--secrets N] [--versions N]
#
# Environment: SECRETFILL_BIN (default .build/release/secretfill if built,
# else .build/debug/secretfill, which the report marks). Prints markdown.
set -euo pipefail
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
SECRETS=10000
VERSIONS=10
while [ $# -gt 0 ]; do
  case "$1" in
    --secrets) SECRETS=$2; shift 2 ;;
    --versions) VERSIONS=$2; shift 2 ;;
    *) echo "bench/backup.sh: unknown argument $1" >&2; exit 64 ;;
  esac
done
BIN=${SECRETFILL_BIN:-}
if [ -z "$BIN" ]; then
  if [ -x "$ROOT/.build/release/secretfill" ]; then BIN=$ROOT/.build/release/secretfill; else BIN=$ROOT/.build/debug/secretfill; fi
fi
WORK=$(mktemp -d /tmp/secretfill-backup-bench.XXXXXX)
PG_DIR=$(mktemp -d /tmp/secretfill-pg.XXXXXX)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  bash "$ROOT/scripts/postgres.sh" stop "$PG_DIR" >/dev/null 2>&1 || true
  rm -rf "$WORK" "$PG_DIR"
}
trap cleanup EXIT
for name in $(env | sed -n 's/^\(SECRETFILL_[A-Z_]*\)=.*/\1/p'); do unset "$name"; done
export HOME=$WORK XDG_CONFIG_HOME=$WORK/config
"$BIN" init --key-only >/dev/null
PG=$(bash "$ROOT/scripts/postgres.sh" start "$PG_DIR")
psql "$PG" -q -c "CREATE DATABASE source" -c "CREATE DATABASE target"
SOURCE=${PG%/*}/source
TARGET=${PG%/*}/target

TOKEN=$("$BIN" keys create admin --grant admin --database "$SOURCE" 2>/dev/null)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN" serve --database "$SOURCE" --listen 127.0.0.1:$PORT 2>"$WORK/serve.log" &
SERVER_PID=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
for version in $(seq "$VERSIONS"); do
  python3 -c "
import sys
for i in range($SECRETS): print(f'name_{i:05d}=value-{i}-version-$version-' + 'x' * 40)" > "$WORK/import.env"
  SECRETFILL_TOKEN=$TOKEN "$BIN" secrets import team "$WORK/import.env" --batch --server "http://127.0.0.1:$PORT" >/dev/null
done
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=

measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >/dev/null
  read -r seconds kilobytes < "$WORK/time"
  printf '| %s | %s s | %s MiB |\n' "$label" "$seconds" "$((kilobytes / 1024))"
}
echo "Backup and restore of $SECRETS secrets × $VERSIONS versions ($(basename "$BIN") at $BIN$( [[ $BIN == *debug* ]] && echo ', a debug build: not representative'))."
echo "Load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| step | wall time | peak memory (RSS) |"
echo "|---|---:|---:|"
measure "backup of PostgreSQL" "$BIN" backup --database "$SOURCE" --out "$WORK/team.backup"
measure "restore into PostgreSQL" "$BIN" restore --database "$TARGET" "$WORK/team.backup"
measure "restore into SQLite" "$BIN" restore --database "sqlite:$WORK/target.db" "$WORK/team.backup"
measure "backup of SQLite" "$BIN" backup --database "sqlite:$WORK/target.db" --out "$WORK/again.backup"
# Issue 27: the data key rotated (every value and kept version re-encrypted,
# 500 per transaction), and the store key changed (one transaction), on each kind.
measure "rekey --data on PostgreSQL" "$BIN" rekey --database "$SOURCE" --data
measure "rekey --data on SQLite" "$BIN" rekey --database "sqlite:$WORK/target.db" --data
measure "rekey --new-key-file on PostgreSQL" "$BIN" rekey --database "$SOURCE" --new-key-file "$WORK/new.key" --generate
echo
echo "The file: $(($(stat -c %s "$WORK/team.backup") / 1024 / 1024)) MiB, $(wc -l < "$WORK/team.backup") lines. Load average after: $(cut -d' ' -f1-3 /proc/loadavg)."
