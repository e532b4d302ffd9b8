#!/usr/bin/env bash
# What the benchmark scripts share: the build, a server with a "bench" tenant on a
# plan without limits, wrk runs recorded in $SCRATCH/results, and Markdown rows of
# their medians. Sourced by http.sh and modules.sh.
#   BIN=path/to/mosaic  benchmark that binary instead of building this checkout's.
#   BENCH_MODULES       the tenant's modules (JSON list items), testbed by default;
#   BENCH_PLAN_MODULES  the sold ones among them, which the bench plan must list.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BENCH_MODULES=${BENCH_MODULES:-'"testbed"'}
BENCH_PLAN_MODULES=${BENCH_PLAN_MODULES:-}

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
# tenant "bench" with $BENCH_MODULES enabled and 20 employees, on a plan without
# limits that has them (a plan's request rate would cap the host's). Sets TOKEN.
start_server() {
  local name=$1; shift
  export MOSAIC_DATA_DIR=$SCRATCH/$name
  "$BIN" billing create-plan "{\"key\":\"bench\",\"name\":\"Bench\",\"price_minor\":0,\"currency\":\"USD\",\"period\":\"month\",\"modules\":[$BENCH_PLAN_MODULES]}" >/dev/null
  MOSAIC_DEFAULT_PLAN=bench "$BIN" serve --addr 127.0.0.1:$PORT --no-demo --bench-routes --module "$TESTBED" "$@" >"$SCRATCH/$name.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.2; done
  local admin; admin=$("$BIN" token issue --platform-admin)
  curl -sf -X POST "$BASE/api/admin/tenants" -H "Authorization: Bearer $admin" -H 'content-type: application/json' \
    -d "{\"name\":\"Bench\",\"subdomain\":\"bench\",\"modules\":[$BENCH_MODULES]}" >/dev/null
  TOKEN=$("$BIN" token issue --tenant bench --role TENANT_ADMIN)
  add_employees "$BASE"
}

# add_employees URL: 20 employees for tenant "bench" through the host at URL, as $TOKEN.
add_employees() {
  for i in $(seq 1 20); do
    curl -sf -X POST "$1/api/employees/" -H "Authorization: Bearer $TOKEN" -H 'X-Tenant-ID: bench' \
      -H 'content-type: application/json' \
      -d "{\"name\":\"Employee $i\",\"email\":\"e$i@bench.example\",\"department\":\"Dept $((i % 4))\",\"position\":\"Engineer\",\"salary\":$((400000 + i * 1000)),\"hired_on\":\"2024-01-15\"}" >/dev/null
  done
}

# load LABEL PATH [wrk flags...]: one wrk run; prints "LABEL req/s p50 p99".
load() {
  local out rps p50 p99 errors label=$1 path=$2; shift 2
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" \
    -H "Authorization: Bearer $TOKEN" -H 'X-Tenant-ID: bench' "$BASE$path")
  # ALLOW_ERRORS=1: count refusals (a client retries them) instead of stopping.
  errors=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  if [ -n "$errors" ] && [ -z "${ALLOW_ERRORS:-}" ]; then echo "$out" >&2; echo "non-2xx answers for $path" >&2; exit 1; fi
  if [ -n "$errors" ]; then echo "$label: $errors non-2xx answers of $(echo "$out" | awk '/requests in/ {print $1}')" | tee -a "$SCRATCH/errors" >&2; fi
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  echo "$label $rps $p50 $p99" | tee -a "$SCRATCH/results" >&2
}

# has_route PATH: the server answers PATH (as the bench tenant's admin) with a 2xx.
has_route() {
  curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'X-Tenant-ID: bench' "$BASE$1"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
# row LABEL [BASELINE_LABEL]: medians of the runs recorded under LABEL, as a table row.
row() {
  local rps p50 p99 ratio=""
  rps=$(awk -v l="$1" '$1 == l {print $2}' "$SCRATCH/results" | median)
  [ -n "$rps" ] || return 0
  p50=$(awk -v l="$1" '$1 == l {print $3}' "$SCRATCH/results" | median)
  p99=$(awk -v l="$1" '$1 == l {print $4}' "$SCRATCH/results" | median)
  if [ -n "${2:-}" ]; then
    local base; base=$(awk -v l="$2" '$1 == l {print $2}' "$SCRATCH/results" | median)
    [ -n "$base" ] && ratio=$(awk -v a="$rps" -v b="$base" 'BEGIN {printf "%.2fx", a / b}')
  fi
  echo "| $1 | $rps | $p50 | $p99 | $ratio |"
}

