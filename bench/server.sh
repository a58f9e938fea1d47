#!/usr/bin/env bash
# Team-server benchmark: POST /v1/resolve of 10 names from a 10,000-secret
# PostgreSQL store at 16 concurrent connections (wrk), beside the database's
# own floor measured in the same run: pgbench doing the same database work per
# transaction (one indexed select of 10 rows, one audit insert), 16 clients, on
# analyzed tables. Also times a small remote `render` beside the local one.
#
#   bench/server.sh [--seconds N]     (default 15 s per load run)
#
# Environment: SECRETFILL_BIN (default .build-static/release/secretfill, else
# .build/release/secretfill, else .build/debug/secretfill). Writes
# bench/out/server.md and prints it.
set -euo pipefail
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
OUT=$BENCH/out/server
SECONDS_PER_RUN=15
[ "${1:-}" = "--seconds" ] && SECONDS_PER_RUN=${2:?}
BIN=${SECRETFILL_BIN:-}
for candidate in "$ROOT/.build-static/release/secretfill" "$ROOT/.build/release/secretfill" "$ROOT/.build/debug/secretfill"; do
  [ -z "$BIN" ] && [ -x "$candidate" ] && BIN=$candidate
done
[ -x "$BIN" ] || { echo "bench/server.sh: no secretfill binary (build first or set SECRETFILL_BIN)" >&2; exit 2; }
for tool in wrk pgbench curl hyperfine python3; do
  command -v $tool >/dev/null || { apt-get install -y -qq wrk postgresql-contrib curl hyperfine >/dev/null 2>&1 || true; break; }
done
command -v pgbench >/dev/null || PATH=$PATH:$(ls -d /usr/lib/postgresql/*/bin | tail -1)

rm -rf "$OUT"; mkdir -p "$OUT"
PG=$(mktemp -d /tmp/secretfill-bench-pg.XXXXXX)
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; bash "$ROOT/scripts/postgres.sh" stop "$PG"; }
trap cleanup EXIT
DB=$(bash "$ROOT/scripts/postgres.sh" start "$PG")
export HOME=$OUT/home XDG_CONFIG_HOME=$OUT/home/config SECRETFILL_STORE=$OUT/store.json
mkdir -p "$HOME"
SECRETFILL_KEY=$(python3 -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())')
export SECRETFILL_KEY
ADMIN=$("$BIN" keys create admin --grant admin --database "$DB" 2>/dev/null)

"$BIN" serve --database "$DB" --listen 127.0.0.1:0 --log-level warning 2>"$OUT/serve.log" &
SERVER_PID=$!
URL=
for _ in $(seq 1 200); do
  URL=$(grep -o 'serving on http://[0-9.:]*' "$OUT/serve.log" | head -1 | sed 's/serving on //') || true
  [ -n "$URL" ] && curl -sf "$URL/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
[ -n "$URL" ] || { cat "$OUT/serve.log" >&2; exit 2; }
export SECRETFILL_SERVER=$URL
WRITER=$(SECRETFILL_TOKEN=$ADMIN "$BIN" keys create writer --grant team:write 2>/dev/null)
READER=$(SECRETFILL_TOKEN=$ADMIN "$BIN" keys create reader --grant team:read 2>/dev/null)

# 10,000 secrets in 10 requests of 1,000.
for chunk in $(seq 0 9); do
  python3 - "$chunk" >"$OUT/set.json" <<'PY'
import json, sys
c = int(sys.argv[1])
print(json.dumps({"scope": "team", "id": None,
                  "secrets": [{"name": f"s{i:05d}", "value": f"value-{i}-" + "x" * 40} for i in range(c * 1000, c * 1000 + 1000)]}))
PY
  curl -sf -H "Authorization: Bearer $WRITER" -H 'Content-Type: application/json' --data-binary @"$OUT/set.json" "$URL/v1/secrets/set" >/dev/null
done
psql "$DB" -q -c 'ANALYZE' >/dev/null

NAMES=$(python3 -c 'print(",".join(chr(34) + f"s{i:05d}" + chr(34) for i in range(4000, 4010)))')
cat >"$OUT/resolve.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"project": null, "cluster": null, "names": [$NAMES]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $READER"
LUA
curl -sf -H "Authorization: Bearer $READER" -H 'Content-Type: application/json' \
  --data "{\"project\": null, \"cluster\": null, \"names\": [$NAMES]}" "$URL/v1/resolve" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["secrets"]) == 10, d.keys()'
wrk -t2 -c16 -d2s -s "$OUT/resolve.lua" "$URL/v1/resolve" >/dev/null   # warm-up
wrk -t2 -c16 -d${SECONDS_PER_RUN}s --latency -s "$OUT/resolve.lua" "$URL/v1/resolve" >"$OUT/wrk.txt"

SQLNAMES=$(python3 -c "print(','.join(\"'\" + f's{i:05d}' + \"'\" for i in range(4000, 4010)))")
cat >"$OUT/floor.sql" <<SQL
SELECT s.scope_kind, s.scope_id, s.name, s.current_version, v.sealed FROM secrets s JOIN secret_versions v ON v.scope_kind = s.scope_kind AND v.scope_id = s.scope_id AND v.name = s.name AND v.version = s.current_version WHERE s.deleted = 0 AND s.name IN ($SQLNAMES) AND ((s.scope_kind = 'team' AND s.scope_id = ''));
INSERT INTO audit_log (time, key_name, action, scope, names, client, outcome) VALUES (0, 'reader', 'read', 'team', 'x', '127.0.0.1', 'ok');
SQL
pgbench -n -c 16 -j 2 -T "$SECONDS_PER_RUN" -f "$OUT/floor.sql" "$DB" >"$OUT/pgbench.txt" 2>&1

# A small render, local and remote (the same secrets in both).
printf 'env:\n  - name: A\n    value: secret:s00001\n  - name: B\n    value: secret:s00002\n' >"$OUT/small.yaml"
env -u SECRETFILL_SERVER "$BIN" init >/dev/null 2>&1 || true
printf 's00001=value-1\ns00002=value-2\n' >"$OUT/small.env"
env -u SECRETFILL_SERVER "$BIN" secrets import team "$OUT/small.env" >/dev/null
SECRETFILL_TOKEN=$WRITER "$BIN" secrets import team "$OUT/small.env" >/dev/null
hyperfine -N --warmup 2 --runs 30 --export-json "$OUT/render.json" \
  -n local "env -u SECRETFILL_SERVER $BIN render $OUT/small.yaml" \
  -n remote "env SECRETFILL_TOKEN=$READER $BIN render $OUT/small.yaml" >/dev/null 2>&1 || echo '{"results": []}' >"$OUT/render.json"

python3 - "$OUT" "$SECONDS_PER_RUN" <<'PY' | tee "$OUT/server.md"
import json, re, sys, os
out, secs = sys.argv[1], sys.argv[2]
wrk = open(os.path.join(out, "wrk.txt")).read()
pgb = open(os.path.join(out, "pgbench.txt")).read()
def lat(label):
    m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s)" % label, wrk, re.M)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk)
tps = float(re.search(r"tps = ([\d.]+)", pgb).group(1))
pg_lat = re.search(r"latency average = ([\d.]+) ms", pgb)
r = json.load(open(os.path.join(out, "render.json"))).get("results", [])
times = {x["command"]: x["median"] * 1000 for x in r}
print("| measure | value |\n|---|---|")
print(f"| server: POST /v1/resolve, 10 of 10,000 names, 16 connections, {secs} s (wrk) | {rps:.0f} requests/s, p50 {lat('50'):.2f} ms, p99 {lat('99'):.2f} ms |")
print(f"| errors (non-2xx) | {non2xx.group(1) if non2xx else 0} |")
print(f"| floor: pgbench, same select + audit insert, 16 clients, {secs} s | {tps:.0f} transactions/s, average {pg_lat.group(1) if pg_lat else '?'} ms |")
print(f"| ratio server / floor | {rps / tps:.2f}x (target >= 0.5x; p99 target < 50 ms) |")
if times:
    print(f"| small render, local | {times.get('local', float('nan')):.1f} ms (median of 30) |")
    print(f"| small render, remote (one /v1/resolve) | {times.get('remote', float('nan')):.1f} ms (median of 30) |")
PY
