# Sourced by bench/server.sh and bench/server-ab.sh: the load both measure.
#
# load_secrets URL WRITER_TOKEN SCRATCH_DIR
#   Writes 10,000 team secrets, s00000 to s09999, through the server's
#   POST /v1/secrets/set, 250 per request (a request must finish within the
#   server's 5 s database deadline on a busy machine). On a refusal it prints
#   which chunk and returns 1.
load_secrets() {
  local url=$1 writer=$2 scratch=$3 chunk
  for chunk in $(seq 0 39); do
    python3 - "$chunk" >"$scratch/set.json" <<'PY'
import json, sys
c = int(sys.argv[1])
print(json.dumps({"scope": "team", "id": None,
                  "secrets": [{"name": f"s{i:05d}", "value": f"value-{i}-" + "x" * 40} for i in range(c * 250, c * 250 + 250)]}))
PY
    curl -sf -H "Authorization: Bearer $writer" -H 'Content-Type: application/json' --data-binary @"$scratch/set.json" "$url/v1/secrets/set" >/dev/null \
      || { rm -f "$scratch/set.json"; echo "chunk $chunk of 40 was not accepted"; return 1; }
  done
  rm -f "$scratch/set.json"
}
