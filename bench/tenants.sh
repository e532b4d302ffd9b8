#!/usr/bin/env bash
# Many tenants on one host (SQLite): for each count N, N tenants created from a CSV
# (employees, attendance and tasks enabled), then the host's resident memory idle,
# after every tenant's first request (`touch`, each a cold slot and a module-data
# file opened), and p50/p99 of the 10 hottest tenants under a Zipf load
# (bench/tenants.py: one request at a time, so no queue hides a latency).
#   BIN=path/to/mosaic  that binary instead of this checkout's build;
#   COUNTS              tenant counts (default "10 100 1000 10000");
#   REQUESTS            requests of the Zipf phase (default 5000).
# The harness is bench/lib.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
COUNTS=${COUNTS:-"10 100 1000 10000"}
REQUESTS=${REQUESTS:-5000}
MODULES_DIR=target/wasm32-wasip2/release

rss_mb() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$SERVER/status"; }
descriptors() { find "/proc/$SERVER/fd" -mindepth 1 | wc -l; }

echo "| tenants | create | RSS idle | first request p50 / p99 | RSS after | descriptors after | Zipf: tenants hit | hottest 10 p50 / p99 |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
for count in $COUNTS; do
  export MOSAIC_DATA_DIR=$SCRATCH/tenants-$count
  "$BIN" --modules-dir "$MODULES_DIR" billing create-plan \
    '{"key":"bench","name":"Bench","price_minor":0,"currency":"USD","period":"month","modules":["attendance","tasks"]}' >/dev/null
  { echo 'name,subdomain,modules,contact_email,primary_color,secondary_color'
    for i in $(seq 1 "$count"); do printf 'T%d,t%05d,employees;attendance;tasks,,,\n' "$i" "$i"; done
  } >"$SCRATCH/tenants.csv"
  started=$(date +%s%3N)
  MOSAIC_DEFAULT_PLAN=bench "$BIN" --modules-dir "$MODULES_DIR" tenant bulk-create --file "$SCRATCH/tenants.csv" >/dev/null
  created=$(( $(date +%s%3N) - started ))
  sqlite3 "$MOSAIC_DATA_DIR/mosaic.db" "SELECT subdomain || '|' || id FROM tenants ORDER BY subdomain" >"$SCRATCH/tenants.txt"

  MOSAIC_DEFAULT_PLAN=bench "$BIN" --modules-dir "$MODULES_DIR" serve --addr 127.0.0.1:$PORT --no-demo >"$SCRATCH/serve-$count.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.2; done
  idle=$(rss_mb)
  touch=$(python3 bench/tenants.py "$BASE" "$MOSAIC_JWT_SECRET" "$SCRATCH/tenants.txt" touch) ||
    { echo "the host's last words:" >&2; grep -v '^ *[0-9]*: \|^ *at ' "$SCRATCH/serve-$count.log" | grep -i "error\|warn" | head -8 >&2; exit 1; }
  touched=$(rss_mb)
  open_fds=$(descriptors)
  zipf=$(python3 bench/tenants.py "$BASE" "$MOSAIC_JWT_SECRET" "$SCRATCH/tenants.txt" zipf "$REQUESTS" 2>"$SCRATCH/zipf.err")
  hit=$(sed -n 's/.*"distinct_tenants": \([0-9]*\).*/\1/p' "$SCRATCH/zipf.err")
  stop_server
  field() { echo "$1" | sed -n "s/.*\"$2\": \([0-9.]*\).*/\1/p"; }
  echo "| $count | $created ms | $idle MiB | $(field "$touch" p50_ms) / $(field "$touch" p99_ms) ms | $touched MiB | $open_fds | $hit | $(field "$zipf" p50_ms) / $(field "$zipf" p99_ms) ms |"
done
