#!/usr/bin/env bash
# HTTP benchmarks for BENCHMARKS.md, all against one release build on this machine:
#   1. the Wasm boundary: testbed's GET /fixed (a module) vs GET /api/_native/fixed
#      (a native handler behind the same tenant + auth extractors), same server;
#   2. the warm-instance pool: /fixed with a fresh instance per request and with
#      1, 2, 4 and 8 instances per slot;
#   3. GET /api/employees/ listing 20 stored employees, on SQLite and PostgreSQL.
# Load: wrk on the same 2 cores. Each pair is run interleaved, REPEAT times; the
# script prints every run and the medians as a Markdown table.
#   BIN=path/to/mosaic  benchmark that binary instead of building this checkout's
#                       (e.g. a previous version, to compare on the same machine);
#   ONLY=boundary       run only section 1.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
REPEAT=${REPEAT:-3}
PORT=${PORT:-18181}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
rustup target add wasm32-wasip2 >/dev/null 2>&1
cargo build-modules
if [ -z "${BIN:-}" ]; then
  cargo build --release -p mosaic
  BIN=target/release/mosaic
fi
TESTBED=target/wasm32-wasip2/release/testbed.wasm
BASE=http://127.0.0.1:$PORT
export MOSAIC_JWT_SECRET=bench-secret-of-at-least-32-bytes MOSAIC_LOG=warn
# The per-tenant rate limiter stays on the request path but never refuses: the
# benchmarks measure serving, not throttling.
export MOSAIC_TENANT_RPS=1000000000 MOSAIC_TENANT_BURST=1000000000
SCRATCH=$(mktemp -d)
SERVER=
trap 'stop_server; rm -rf "$SCRATCH"' EXIT

stop_server() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; SERVER=; fi
}

# start_server NAME [serve flags...]: a fresh data dir, the testbed installed, a
# tenant "bench" with it enabled and 20 employees, on a plan without limits (a
# plan's request rate would cap the host's). Sets TOKEN.
start_server() {
  local name=$1; shift
  export MOSAIC_DATA_DIR=$SCRATCH/$name
  "$BIN" billing create-plan '{"key":"bench","name":"Bench","price_minor":0,"currency":"USD","period":"month"}' >/dev/null
  MOSAIC_DEFAULT_PLAN=bench "$BIN" serve --addr 127.0.0.1:$PORT --no-demo --bench-routes --module "$TESTBED" "$@" >"$SCRATCH/$name.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.2; done
  local admin; admin=$("$BIN" token issue --platform-admin)
  curl -sf -X POST "$BASE/api/admin/tenants" -H "Authorization: Bearer $admin" -H 'content-type: application/json' \
    -d '{"name":"Bench","subdomain":"bench","modules":["testbed"]}' >/dev/null
  TOKEN=$("$BIN" token issue --tenant bench --role TENANT_ADMIN)
  for i in $(seq 1 20); do
    curl -sf -X POST "$BASE/api/employees/" -H "Authorization: Bearer $TOKEN" -H 'X-Tenant-ID: bench' \
      -H 'content-type: application/json' \
      -d "{\"name\":\"Employee $i\",\"email\":\"e$i@bench.example\",\"department\":\"Dept $((i % 4))\",\"position\":\"Engineer\",\"salary\":$((400000 + i * 1000)),\"hired_on\":\"2024-01-15\"}" >/dev/null
  done
}

# load LABEL PATH: one wrk run; prints "LABEL req/s p50 p99".
load() {
  local out rps p50 p99
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
    -H "Authorization: Bearer $TOKEN" -H 'X-Tenant-ID: bench' "$BASE$2")
  if echo "$out" | grep -q 'Non-2xx'; then echo "$out" >&2; echo "non-2xx answers for $2" >&2; exit 1; fi
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  echo "$1 $rps $p50 $p99" | tee -a "$SCRATCH/results" >&2
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
# row LABEL [BASELINE_LABEL]: medians of the runs recorded under LABEL, as a table row.
row() {
  local rps p50 p99 ratio=""
  rps=$(awk -v l="$1" '$1 == l {print $2}' "$SCRATCH/results" | median)
  p50=$(awk -v l="$1" '$1 == l {print $3}' "$SCRATCH/results" | median)
  p99=$(awk -v l="$1" '$1 == l {print $4}' "$SCRATCH/results" | median)
  if [ -n "${2:-}" ]; then
    local base; base=$(awk -v l="$2" '$1 == l {print $2}' "$SCRATCH/results" | median)
    ratio=$(awk -v a="$rps" -v b="$base" 'BEGIN {printf "%.2fx", a / b}')
  fi
  echo "| $1 | $rps | $p50 | $p99 | $ratio |"
}

echo "== SQLite, default pool" >&2
start_server sqlite
for _ in $(seq 1 "$REPEAT"); do
  load native-fixed /api/_native/fixed
  load module-fixed /api/testbed/fixed
done
for _ in $(seq 1 "$REPEAT"); do load employees-sqlite /api/employees/; done
stop_server

if [ "${ONLY:-}" = boundary ]; then
  echo "| scenario | req/s | p50 | p99 | ratio |"
  echo "|---|---:|---:|---:|---:|"
  row native-fixed
  row module-fixed native-fixed
  row employees-sqlite
  exit 0
fi

echo "== fresh instance per request" >&2
start_server fresh --recycle-after-calls 1
load module-fixed-fresh /api/testbed/fixed
stop_server

for size in 1 2 4 8; do
  echo "== $size instances per slot" >&2
  start_server "pool$size" --instances-per-slot "$size"
  load "module-fixed-pool$size" /api/testbed/fixed
  stop_server
done

echo "== PostgreSQL" >&2
psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS mosaic_bench' -qc 'CREATE DATABASE mosaic_bench' >/dev/null
DATABASE_URL=${PG_ADMIN%/*}/mosaic_bench start_server postgres
for _ in $(seq 1 "$REPEAT"); do load employees-postgres /api/employees/; done
stop_server
psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS mosaic_bench' >/dev/null

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, medians of $REPEAT interleaved runs where repeated"
echo
echo "| scenario | req/s | p50 | p99 | ratio |"
echo "|---|---:|---:|---:|---:|"
row native-fixed
row module-fixed native-fixed
row module-fixed-fresh native-fixed
for size in 1 2 4 8; do row "module-fixed-pool$size" native-fixed; done
row employees-sqlite
row employees-postgres employees-sqlite
