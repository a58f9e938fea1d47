#!/usr/bin/env bash
# A/B of team-server builds: bench/server.sh's resolve load on several
# binaries at once, interleaved, so that the machine's drift (single rounds
# move by ±15% on a shared 2-core machine) falls on every build alike.
#
#   bench/server-ab.sh [--seconds N] [--rounds N] [--instructions N] BIN 'SERVE ARGS' [BIN 'SERVE ARGS' ...]
#
# Each BIN (a `secretfill` with its `secretfill-team` beside it, of any
# version) gets its own throwaway PostgreSQL (scripts/postgres.sh), loaded
# through its own server as bench/server.sh loads one: 10,000 names in 40
# sets of 250, then ANALYZE. SERVE ARGS are added to its `serve` (a build
# with a rate limiter needs `--rate-limit 1000000`, as bench/server.sh
# gives, to measure the same work; '' for none). Then, for each round, one
# wrk run of `POST /v1/resolve` (10 of the names, 16 connections) per build,
# each round starting one build further along the list (so that no build
# always runs first), then bench/server.sh's pgbench floor (an audit insert
# and the 10-row select, 16 clients) on the first build's database.
#
# Prints one line per run: requests/s, p99, and the server's and its
# PostgreSQL's CPU per request (user + system from /proc). Exits non-zero
# when a step fails or a request errs.
#
# --instructions N (after the rounds; --rounds 0 for it alone): each build's
# server is started again under valgrind's callgrind (needs `valgrind`;
# a copy of the binaries without debug information, which valgrind cannot
# read), sent 300 resolves to warm it, then N resolves over 8 connections,
# and prints the instructions it ran per resolve. Unlike CPU time, that count
# hardly moves with the machine's load (runs of one build agree within 1%,
# where its CPU per resolve moves by a quarter). It leaves out the kernel's work (the socket writes) and
# PostgreSQL's, and under valgrind the server runs one thread at a time, so
# resolves batch less than under wrk. Used for BENCHMARKS.md's "No slower
# than when issue 22 was filed" (a release build of the commit the issue was
# measured at, `git worktree add DIR a42758b`, beside later ones).
set -euo pipefail
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
# shellcheck source=bench/load-secrets.sh
. "$BENCH/load-secrets.sh"
SECONDS_PER_RUN=6
ROUNDS=4
INSTRUCTIONS=0
die() { printf '[server-ab] ERROR: %s\n' "$*" >&2; exit 1; }
BINS=() ARGS=()
while (($#)); do
  case $1 in
    --seconds) SECONDS_PER_RUN=${2:?--seconds needs a number}; shift 2 ;;
    --rounds) ROUNDS=${2:?--rounds needs a number}; shift 2 ;;
    --instructions) INSTRUCTIONS=${2:?--instructions needs a number of resolves}; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) echo "bench/server-ab.sh: unknown option: $1" >&2; exit 2 ;;
    *) (($# >= 2)) || { echo "bench/server-ab.sh: $1 needs its serve arguments after it ('' for none)" >&2; exit 2; }
       BINS+=("$1") ARGS+=("$2"); shift 2 ;;
  esac
done
[[ $SECONDS_PER_RUN =~ ^[1-9][0-9]*$ ]] || { echo "bench/server-ab.sh: --seconds must be a positive integer" >&2; exit 2; }
[[ $ROUNDS =~ ^[0-9]+$ ]] || { echo "bench/server-ab.sh: --rounds must be a whole number" >&2; exit 2; }
[[ $INSTRUCTIONS =~ ^[0-9]+$ ]] || { echo "bench/server-ab.sh: --instructions must be a whole number" >&2; exit 2; }
((ROUNDS + INSTRUCTIONS)) || { echo "bench/server-ab.sh: --rounds 0 needs --instructions N" >&2; exit 2; }
((INSTRUCTIONS == 0)) || command -v valgrind >/dev/null || die "--instructions needs valgrind (apt-get install -y valgrind)"
((${#BINS[@]})) || { echo "bench/server-ab.sh: give at least one BIN 'SERVE ARGS' (see --help)" >&2; exit 2; }
for bin in "${BINS[@]}"; do
  [ -x "$bin" ] || die "$bin is not an executable secretfill"
  [ -x "$(dirname "$bin")/secretfill-team" ] || die "no secretfill-team beside $bin"
done
for tool in wrk curl python3 psql; do command -v $tool >/dev/null || die "$tool is needed (bench/server.sh installs it)"; done
command -v pgbench >/dev/null || PATH=$PATH:$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1)
command -v pgbench >/dev/null || die "pgbench is needed (postgresql-contrib; bench/server.sh installs it)"

OUT=$BENCH/out/server-ab
rm -rf "$OUT"; mkdir -p "$OUT"
SERVERS=() CLUSTERS=()
cleanup() {
  local pid cluster
  for pid in "${SERVERS[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.5
  for cluster in "${CLUSTERS[@]}"; do bash "$ROOT/scripts/postgres.sh" stop "$cluster" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
HZ=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# CPU ticks of a PostgreSQL cluster: its postmaster and every process it started.
pg_ticks() {
  local postmaster total child
  postmaster=$(head -1 "${CLUSTERS[$1]}/pgdata/postmaster.pid")
  total=$(ticks "$postmaster")
  for child in $(pgrep -P "$postmaster"); do total=$((total + $(ticks "$child"))); done
  echo "$total"
}

NAMES=$(python3 -c 'print(",".join(chr(34) + f"s{i:05d}" + chr(34) for i in range(4000, 4010)))')
for index in "${!BINS[@]}"; do
  bin=${BINS[$index]}
  # Under /tmp, as bench/server.sh's: PostgreSQL runs as an unprivileged user when this runs as root.
  CLUSTERS+=("$(mktemp -d /tmp/secretfill-ab-pg.XXXXXX)")
  db=$(bash "$ROOT/scripts/postgres.sh" start "${CLUSTERS[$index]}")
  echo "$db" >"$OUT/db$index"
  (
    export HOME=$OUT/home$index XDG_CONFIG_HOME=$OUT/home$index/config SECRETFILL_STORE=$OUT/store$index.json
    mkdir -p "$HOME"
    SECRETFILL_KEY=$(python3 -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())')
    export SECRETFILL_KEY
    (umask 077; echo "$SECRETFILL_KEY" >"$OUT/key$index")
    unset SECRETFILL_SERVER SECRETFILL_TOKEN SECRETFILL_PROJECT SECRETFILL_CLUSTER SECRETFILL_EXECUTOR_HOOK
    "$bin" keys create admin --grant admin --database "$db" >"$OUT/admin$index" 2>"$OUT/keys$index.err" \
      || die "keys create with $bin failed: $(cat "$OUT/keys$index.err")"
    # shellcheck disable=SC2086
    "$bin" serve --database "$db" --listen 127.0.0.1:0 --log-level warning ${ARGS[$index]} 2>"$OUT/serve$index.log" &
    echo $! >"$OUT/pid$index"
  )
  SERVERS+=("$(cat "$OUT/pid$index")")
  url=
  for _ in $(seq 1 300); do
    url=$(grep -o 'serving on http://[0-9.:]*' "$OUT/serve$index.log" | head -1 | sed 's/serving on //') || true
    [ -n "$url" ] && curl -sf "$url/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  [ -n "$url" ] && curl -sf "$url/healthz" >/dev/null 2>&1 || die "$bin's server did not come up: $(cat "$OUT/serve$index.log")"
  echo "$url" >"$OUT/url$index"
  admin=$(cat "$OUT/admin$index")
  writer=$(HOME=$OUT/home$index SECRETFILL_SERVER=$url SECRETFILL_TOKEN=$admin "$bin" keys create writer --grant team:write 2>/dev/null)
  reader=$(HOME=$OUT/home$index SECRETFILL_SERVER=$url SECRETFILL_TOKEN=$admin "$bin" keys create reader --grant team:read 2>/dev/null)
  failed=$(load_secrets "$url" "$writer" "$OUT") || die "loading the secrets into $bin's server failed: $failed"
  psql "$db" -qc 'ANALYZE' >/dev/null
  (umask 077; echo "$reader" >"$OUT/reader$index"; cat >"$OUT/resolve$index.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"project": null, "cluster": null, "names": [$NAMES]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $reader"
LUA
  )
  curl -sf -H "Authorization: Bearer $reader" -H 'Content-Type: application/json' --data "{\"names\": [$NAMES]}" "$url/v1/resolve" \
    | python3 -c 'import json, sys; d = json.load(sys.stdin); assert len(d["secrets"]) == 10' \
    || die "$bin's server does not answer the 10 secrets"
  printf '[server-ab] %d: %s %s on %s\n' "$index" "$bin" "${ARGS[$index]}" "$url" >&2
done

# bench/server.sh's floor, on the first build's database.
SQLNAMES=$(python3 -c "print(','.join(\"'\" + f's{i:05d}' + \"'\" for i in range(4000, 4010)))")
AUDIT_NAMES=$(python3 -c "print(','.join(f's{i:05d}' for i in range(4000, 4010)))")
cat >"$OUT/floor.sql" <<SQL
INSERT INTO audit_log (time, key_name, action, scope, names, client, outcome) VALUES ((extract(epoch from clock_timestamp()) * 1000)::bigint, 'reader', 'read', 'team', '$AUDIT_NAMES', '127.0.0.1', 'ok');
SELECT s.scope_kind, s.scope_id, s.name, s.current_version, v.sealed FROM secrets s JOIN secret_versions v ON v.scope_kind = s.scope_kind AND v.scope_id = s.scope_id AND v.name = s.name AND v.version = s.current_version WHERE s.deleted = 0 AND s.name IN ($SQLNAMES) AND ((s.scope_kind = 'team' AND s.scope_id = ''));
SQL

((ROUNDS)) && for index in "${!BINS[@]}"; do wrk -t2 -c16 -d2s -s "$OUT/resolve$index.lua" "$(cat "$OUT/url$index")/v1/resolve" >/dev/null; done
((ROUNDS == 0)) || pgbench -n -M prepared -c 16 -j 2 -T 2 -f "$OUT/floor.sql" "$(cat "$OUT/db0")" >/dev/null 2>&1 || die "pgbench failed"
for round in $(seq 1 "$ROUNDS"); do
  for step in "${!BINS[@]}"; do
    index=$(((step + round - 1) % ${#BINS[@]}))
    pid=$(cat "$OUT/pid$index")
    server0=$(ticks "$pid") pg0=$(pg_ticks "$index")
    wrk -t2 -c16 -d"${SECONDS_PER_RUN}s" --latency -s "$OUT/resolve$index.lua" "$(cat "$OUT/url$index")/v1/resolve" >"$OUT/wrk.$round.$index.txt"
    server1=$(ticks "$pid") pg1=$(pg_ticks "$index")
    requests=$(awk '/requests in/ { print $1 }' "$OUT/wrk.$round.$index.txt")
    ! grep -qE 'Non-2xx|Socket errors' "$OUT/wrk.$round.$index.txt" || die "requests failed: $(grep -E 'Non-2xx|Socket errors' "$OUT/wrk.$round.$index.txt")"
    printf 'round %d build %d: %s requests/s, p99 %s, server %d µs, PostgreSQL %d µs of CPU per request\n' "$round" "$index" \
      "$(awk '/Requests\/sec/ { print $2 }' "$OUT/wrk.$round.$index.txt")" "$(awk '$1 == "99%" { print $2 }' "$OUT/wrk.$round.$index.txt")" \
      $(((server1 - server0) * 1000000 / HZ / requests)) $(((pg1 - pg0) * 1000000 / HZ / requests)) | tee -a "$OUT/result.txt"
  done
  printf 'round %d floor: %s transactions/s\n' "$round" \
    "$(pgbench -n -M prepared -c 16 -j 2 -T "$SECONDS_PER_RUN" -f "$OUT/floor.sql" "$(cat "$OUT/db0")" 2>&1 | awk '/^tps/ { printf "%d", $3 }')" | tee -a "$OUT/result.txt"
done

((INSTRUCTIONS)) || exit 0
# Resolves over 8 keep-alive connections, all answered 200.
cat >"$OUT/resolves.py" <<'PY'
import http.client, json, sys, threading
url, token, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
host, port = url.split("//")[1].split(":")
body = json.dumps({"names": [f"s{i:05d}" for i in range(4000, 4010)]})
failed = []
def send(n):
    connection = http.client.HTTPConnection(host, int(port), timeout=300)
    for _ in range(n):
        connection.request("POST", "/v1/resolve", body=body, headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
        answer = connection.getresponse()
        answer.read()
        if answer.status != 200: failed.append(answer.status)
threads = [threading.Thread(target=send, args=(count // 8 + (1 if i < count % 8 else 0),)) for i in range(8)]
for thread in threads: thread.start()
for thread in threads: thread.join()
sys.exit(f"{len(failed)} resolves failed: {sorted(set(failed))}" if failed else 0)
PY
for index in "${!BINS[@]}"; do
  pid=$(cat "$OUT/pid$index")
  kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  copy=$OUT/stripped$index
  mkdir -p "$copy"
  cp "${BINS[$index]}" "$(dirname "${BINS[$index]}")/secretfill-team" "$copy/"
  strip --strip-debug "$copy/secretfill" "$copy/secretfill-team"
  (
    export HOME=$OUT/home$index XDG_CONFIG_HOME=$OUT/home$index/config SECRETFILL_STORE=$OUT/store$index.json
    SECRETFILL_KEY=$(cat "$OUT/key$index")
    export SECRETFILL_KEY
    unset SECRETFILL_SERVER SECRETFILL_TOKEN SECRETFILL_PROJECT SECRETFILL_CLUSTER SECRETFILL_EXECUTOR_HOOK
    # shellcheck disable=SC2086
    valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$OUT/callgrind$index.%p" \
      "$copy/secretfill" serve --database "$(cat "$OUT/db$index")" --listen 127.0.0.1:0 --log-level warning ${ARGS[$index]} \
      2>"$OUT/valgrind$index.log" &
    echo $! >"$OUT/pid$index"
  )
  SERVERS+=("$(cat "$OUT/pid$index")")
  url=
  for _ in $(seq 1 600); do
    url=$(grep -o 'serving on http://[0-9.:]*' "$OUT/valgrind$index.log" | head -1 | sed 's/serving on //') || true
    [ -n "$url" ] && break
    sleep 0.2
  done
  [ -n "$url" ] || die "${BINS[$index]}'s server did not come up under valgrind: $(tail -5 "$OUT/valgrind$index.log")"
  python3 "$OUT/resolves.py" "$url" "$(cat "$OUT/reader$index")" 300 || die "warming ${BINS[$index]}'s server failed"
  callgrind_control -z "$(cat "$OUT/pid$index")" >/dev/null 2>&1
  python3 "$OUT/resolves.py" "$url" "$(cat "$OUT/reader$index")" "$INSTRUCTIONS" || die "resolves to ${BINS[$index]}'s server failed"
  callgrind_control -d "$(cat "$OUT/pid$index")" >/dev/null 2>&1
  dump=$(ls "$OUT/callgrind$index".*.1 2>/dev/null | head -1)
  [ -n "$dump" ] || die "callgrind wrote no dump for ${BINS[$index]}"
  total=$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")
  printf 'build %d: %d instructions per resolve (callgrind, %d resolves over 8 connections; %s)\n' "$index" \
    $((total / INSTRUCTIONS)) "$INSTRUCTIONS" "$dump" | tee -a "$OUT/result.txt"
  kill "$(cat "$OUT/pid$index")" 2>/dev/null || true
done

