#!/usr/bin/env bash
# Tries pull mode on this machine with no credentials: starts the SYSPRO simulator and the
# service, then calls SYSPRO_PULL, SYSPRO_SCHEMA and SYSPRO_TABLES exactly as Snowflake would.
#   scripts/try.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --workspace --quiet
bin=target/release
secret="try-it-$(date +%s)-0123456789"
workdir="$(mktemp -d)"
cleanup() { kill "${sim_pid:-}" "${svc_pid:-}" 2>/dev/null || true; rm -rf "$workdir"; }
trap cleanup EXIT

"$bin/mlc-simulator" --listen 127.0.0.1:0 --page-cap 500 >"$workdir/sim.json" &
sim_pid=$!
for _ in $(seq 50); do [[ -s "$workdir/sim.json" ]] && break; sleep 0.1; done
field() { python3 -c "import json,sys; print(json.load(open('$workdir/sim.json'))['$1'])"; }

MLC_SERVER__SECRET="$secret" MLC_SERVER__LISTEN=127.0.0.1:0 \
MLC_SYSPRO__ODATA_URL="$(field odata_url)" MLC_SYSPRO__USER="$(field user)" MLC_SYSPRO__PASSWORD="$(field password)" \
  "$bin/ml-connector" serve >"$workdir/svc.out" 2>"$workdir/svc.log" &
svc_pid=$!
for _ in $(seq 50); do grep -q listening "$workdir/svc.out" 2>/dev/null && break; sleep 0.1; done
url="$(sed -n 's/^listening on //p' "$workdir/svc.out")"

call() { # call PATH JSON-ARGS
  curl -sS -X POST "$url$1" -H 'content-type: application/json' -H "sf-custom-mlc-secret: $secret" \
    -H 'sf-external-function-format: json' -H 'sf-external-function-format-version: 1.0' \
    -H "sf-external-function-query-batch-id: try-$RANDOM" -d "{\"data\": [[0, $2]]}"
}
echo "SYSPRO simulator: $(field odata_url)"
echo "ml-connector:     $url"
echo
echo "-- SYSPRO_PULL('ApInvoice', '2026-11-18', NULL): first page, two rows shown"
call /v1/pull '"ApInvoice", "2026-11-18", null' | python3 -c '
import json, sys
v = json.load(sys.stdin)["data"][0][1]
rows = v.pop("rows")
v["next_cursor"] = (v["next_cursor"] or "")[:24] + "..."
print(json.dumps(v, indent=2)); print(json.dumps(rows[:2], indent=2))'
echo
echo "-- SYSPRO_SCHEMA('ApInvoice'): first columns"
call /v1/schema '"ApInvoice"' | python3 -c '
import json, sys
for c in json.load(sys.stdin)["data"][0][1]["columns"][:6]: print("  ", c["name"], c["edm_type"], "->", c["snowflake_type"])'
echo
echo "-- the service log (first lines)"
head -n 5 "$workdir/svc.log"
echo
echo "Next: run the tests (scripts/test.sh), then see README.md 'Set up Snowflake'."
