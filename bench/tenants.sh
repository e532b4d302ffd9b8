#!/usr/bin/env bash
# Many tenants on one host (SQLite): for each count N, N tenants created from a CSV,
# then the host's resident memory idle; a Zipf load (bench/tenants.py: one request
# at a time, so no queue hides a latency; REQUESTS to warm up, then REQUESTS more
# measured) with p50/p99 of the 10 hottest tenants and the cold slots met in each
# half; the memory after it; then every tenant's request in
# turn (`touch`: each a cold slot, and its module-data file opened, closing the least
# recently used past the cap), with the memory and open descriptors after; every
# tenant once more (past the cap, its file reopened); and a restart (its delivery
# sweep and prune visit every tenant's file): ready, then when its CPU settled
# (under 5 % of a core over half a second; watched up to RESTART_SECS, default 120),
# the CPU seconds it used by then, its threads, its memory and the tenant files it
# holds open.
#   BIN=path/to/mosaic  that binary instead of this checkout's build;
#   COUNTS              tenant counts (default "10 100 1000 10000");
#   MODULES             the modules each tenant enables (default
#                       "employees;attendance;tasks"; employees is the one called);
#   REQUESTS            requests of the Zipf phase (default 5000);
#   RESTART_SECS        seconds the restart is watched at most (default 120).
# The harness is bench/lib.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
COUNTS=${COUNTS:-"10 100 1000 10000"}
MODULES=${MODULES:-"employees;attendance;tasks"}
REQUESTS=${REQUESTS:-5000}
RESTART_SECS=${RESTART_SECS:-120}
MODULES_DIR=target/wasm32-wasip2/release

rss_mb() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$SERVER/status"; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$SERVER/stat"; }
descriptors() { find "/proc/$SERVER/fd" -mindepth 1 | wc -l; }
field() { echo "$1" | sed -n "s/.*\"$2\": *\([0-9.]*\).*/\1/p"; }
client() {
  python3 bench/tenants.py "$BASE" "$MOSAIC_JWT_SECRET" "$SCRATCH/tenants.txt" "$@" ||
    { echo "the host's last words:" >&2; grep -v '^ *[0-9]*: \|^ *at ' "$SCRATCH/serve.log" | grep -i "error\|warn" | head -8 >&2; exit 1; }
}

echo "| tenants | modules each | create | RSS idle | Zipf: hottest 10 p50 / p99 | Zipf: cold slots, warm-up + measured | RSS after Zipf | touch all: p50 / p99 | RSS after | descriptors after | touch all again: p50 / p99 | restart: ready, settled, CPU, threads | restart: RSS, tenant files open |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
run=0
for count in $COUNTS; do
  run=$((run + 1))
  export MOSAIC_DATA_DIR=$SCRATCH/run-$run
  # The plan sells what the tenants enable, less the core modules every plan has.
  plan_modules=$(echo "$MODULES" | tr ';' '\n' | sed '/^employees$/d; /^notifications$/d; s/.*/"&"/' | paste -sd, -)
  "$BIN" --modules-dir "$MODULES_DIR" billing create-plan \
    "{\"key\":\"bench\",\"name\":\"Bench\",\"price_minor\":0,\"currency\":\"USD\",\"period\":\"month\",\"modules\":[$plan_modules]}" >/dev/null
  { echo 'name,subdomain,modules,contact_email,primary_color,secondary_color'
    for i in $(seq 1 "$count"); do printf 'T%d,t%05d,%s,,,\n' "$i" "$i" "$MODULES"; done
  } >"$SCRATCH/tenants.csv"
  started=$(date +%s%3N)
  MOSAIC_DEFAULT_PLAN=bench "$BIN" --modules-dir "$MODULES_DIR" tenant bulk-create --file "$SCRATCH/tenants.csv" >/dev/null
  created=$(( $(date +%s%3N) - started ))
  sqlite3 "$MOSAIC_DATA_DIR/mosaic.db" "SELECT subdomain || '|' || id FROM tenants ORDER BY subdomain" >"$SCRATCH/tenants.txt"

  MOSAIC_DEFAULT_PLAN=bench "$BIN" --modules-dir "$MODULES_DIR" serve --addr 127.0.0.1:$PORT --no-demo >"$SCRATCH/serve.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.2; done
  idle=$(rss_mb)
  zipf=$(client zipf "$REQUESTS" 2>"$SCRATCH/zipf.err")
  # Each tenant's first request in the Zipf phase is its one cold slot (none is idle
  # long enough to be evicted within the phase).
  cold="$(field "$(cat "$SCRATCH/zipf.err")" cold_warmup) + $(field "$(cat "$SCRATCH/zipf.err")" cold_measured)"
  after_zipf=$(rss_mb)
  touch=$(client touch)
  touched=$(rss_mb)
  open_fds=$(descriptors)
  # Again: past the open-file cap, each tenant's file was closed and reopens.
  retouch=$(client touch)
  stop_server
  # A restart: its delivery sweep and its prune visit every tenant's file.
  started=$(date +%s%3N)
  MOSAIC_DEFAULT_PLAN=bench "$BIN" --modules-dir "$MODULES_DIR" serve --addr 127.0.0.1:$PORT --no-demo >"$SCRATCH/restart.log" 2>&1 &
  SERVER=$!
  until curl -sf "$BASE/healthz" >/dev/null; do sleep 0.05; done
  ready=$(( $(date +%s%3N) - started ))
  settled="> ${RESTART_SECS} s" last=$(cpu_s)
  for _ in $(seq 1 $((RESTART_SECS * 2))); do
    sleep 0.5
    now=$(cpu_s)
    if awk -v a="$now" -v b="$last" 'BEGIN { exit !(a - b < 0.025) }'; then
      settled="$(( $(date +%s%3N) - started )) ms"; break
    fi
    last=$now
  done
  cpu=$(cpu_s)
  threads=$(find "/proc/$SERVER/task" -mindepth 1 -maxdepth 1 | wc -l)
  restarted=$(rss_mb)
  files_open=$(curl -sf -H "Authorization: Bearer $("$BIN" token issue --platform-admin)" "$BASE/metrics" |
    awk '$1 ~ /tenant_files_open$/ {print $2}')
  stop_server
  echo "| $count | $(echo "$MODULES" | tr ';' '\n' | wc -l) | $created ms | $idle MiB | $(field "$zipf" p50_ms) / $(field "$zipf" p99_ms) ms | $cold in 2 × $REQUESTS | $after_zipf MiB | $(field "$touch" p50_ms) / $(field "$touch" p99_ms) ms | $touched MiB | $open_fds | $(field "$retouch" p50_ms) / $(field "$retouch" p99_ms) ms | $ready ms, $settled, $cpu s, $threads | $restarted MiB, $files_open |"
done
