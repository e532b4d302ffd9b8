#!/usr/bin/env bash
# Module benchmarks for BENCHMARKS.md (issue #11), against one release build:
#   1. wallet debits: POST /api/wallet/accounts/{id}/debit, each with its own
#      idempotency key, all on one hot account vs spread over 20 accounts, on
#      SQLite and PostgreSQL;
#   2. the tasks kanban board over 1,000 tasks vs the plain list of 50 of them.
#   ONLY=postgres  run only the PostgreSQL wallet runs.
# Load: wrk on the same 2 cores, REPEAT interleaved runs, medians as Markdown rows.
# The harness is bench/lib.sh (BIN=, DURATION=, CONNECTIONS=, REPEAT=).
set -euo pipefail
export BENCH_MODULES='"wallet","tasks"' BENCH_PLAN_MODULES='"wallet","tasks"'
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || apt-get install -y -qq jq >/dev/null

api() {
  local method=$1 path=$2; shift 2
  curl -sf -X "$method" "$BASE$path" -H "Authorization: Bearer $TOKEN" -H 'X-Tenant-ID: bench' \
    -H 'content-type: application/json' "$@"
}

# fund_accounts: every employee's account credited enough for every debit; sets
# ALL (every employee id, comma-separated) and HOT (the first).
fund_accounts() {
  ALL=$(api GET '/api/employees/?limit=20' | jq -r '[.items[].id] | join(",")')
  HOT=${ALL%%,*}
  for id in ${ALL//,/ }; do
    api POST "/api/wallet/accounts/$id/credit" \
      -d "{\"amount\":1000000000,\"reason\":\"float\",\"idempotency_key\":\"float-$id\"}" >/dev/null
  done
}

wallet_runs() {
  local db=$1
  fund_accounts
  # A posting that keeps losing the race for a hot account answers 409 "busy",
  # and a request the pool cannot take in time 503: counted, not fatal.
  for _ in $(seq 1 "$REPEAT"); do
    ACCOUNTS=$HOT ALLOW_ERRORS=1 load "debit-hot-$db" / -s bench/debit.lua
    ACCOUNTS=$ALL ALLOW_ERRORS=1 load "debit-many-$db" / -s bench/debit.lua
  done
}

if [ "${ONLY:-}" != postgres ]; then
echo "== SQLite" >&2
start_server sqlite
wallet_runs sqlite
echo "creating 1,000 tasks" >&2
for i in $(seq 1 1000); do
  priorities=(LOW MEDIUM HIGH URGENT)
  id=$(api POST /api/tasks/ -d "{\"title\":\"Task $i\",\"priority\":\"${priorities[i % 4]}\",\"labels\":[\"l$((i % 5))\"]}" | jq -r .id)
  # A quarter stay TODO; the rest move on, some to REVIEW and DONE.
  if (( i % 4 > 0 )); then api PATCH "/api/tasks/$id" -d '{"status":"IN_PROGRESS"}' >/dev/null; fi
  if (( i % 4 > 1 )); then api PATCH "/api/tasks/$id" -d '{"status":"REVIEW"}' >/dev/null; fi
  if (( i % 4 > 2 )); then api PATCH "/api/tasks/$id" -d '{"status":"DONE"}' >/dev/null; fi
  if (( i % 100 == 0 )); then echo "  $i" >&2; fi
done
# Fewer connections: a board takes long enough that 32 at once would queue past
# the pool's wait limit (503s), which measures back-pressure, not the board.
for _ in $(seq 1 "$REPEAT"); do
  CONNECTIONS=8 load tasks-list-50 '/api/tasks/?limit=50'
  CONNECTIONS=8 load kanban-1000 /api/tasks/kanban
  CONNECTIONS=8 load kanban-1000-label '/api/tasks/kanban?label=l1'
done
stop_server
fi

echo "== PostgreSQL" >&2
psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS mosaic_bench' -qc 'CREATE DATABASE mosaic_bench' >/dev/null
DATABASE_URL=${PG_ADMIN%/*}/mosaic_bench start_server postgres
wallet_runs postgres
stop_server
psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS mosaic_bench' >/dev/null

echo
echo "wrk -t$THREADS -c$CONNECTIONS (boards: -c8) -d$DURATION, medians of $REPEAT interleaved runs"
echo
[ -f "$SCRATCH/errors" ] && cat "$SCRATCH/errors"
echo "| scenario | req/s | p50 | p99 | ratio |"
echo "|---|---:|---:|---:|---:|"
if [ "${ONLY:-}" != postgres ]; then
  row debit-many-sqlite
  row debit-hot-sqlite debit-many-sqlite
fi
row debit-many-postgres
row debit-hot-postgres debit-many-postgres
if [ "${ONLY:-}" != postgres ]; then
  row tasks-list-50
  row kanban-1000 tasks-list-50
  row kanban-1000-label tasks-list-50
fi
