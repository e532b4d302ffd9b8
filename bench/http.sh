#!/usr/bin/env bash
# HTTP benchmarks for BENCHMARKS.md, all against one release build on this machine:
#   1. the Wasm boundary: testbed's GET /fixed (a module) vs GET /api/_native/fixed
#      (a native handler behind the same tenant + auth extractors), same server;
#   2. the warm-instance pool: /fixed with a fresh instance per request and with
#      1, 2, 4 and 8 instances per slot;
#   3. GET /api/employees/ listing 20 stored employees, on SQLite and PostgreSQL,
#      beside two native handlers serving the same page: through the host's store
#      path (/api/_native/employees) and read in place with the SQLite library
#      (/api/_native/employees-direct).
# Load: wrk on the same 2 cores. Each pair is run interleaved, REPEAT times; the
# script prints every run and the medians as a Markdown table.
#   BIN=path/to/mosaic  benchmark that binary instead of building this checkout's
#                       (e.g. a previous version, to compare on the same machine);
#   ONLY=boundary       run only sections 1 and 3 on SQLite;
#   ONLY=pools          run only section 2;
#   ONLY=postgres       run only section 3 on PostgreSQL.
# The harness is bench/lib.sh.
set -euo pipefail

source "$(dirname "$0")/lib.sh"

# runs SECTION: the sections ONLY names (all without it).
runs() { [ -z "${ONLY:-}" ] || [ "$ONLY" = "$1" ]; }

if runs boundary; then
echo "== SQLite, default pool" >&2
start_server sqlite
for _ in $(seq 1 "$REPEAT"); do
  load native-fixed /api/_native/fixed
  load module-fixed /api/testbed/fixed
done
for _ in $(seq 1 "$REPEAT"); do
  load employees-sqlite /api/employees/
  # A previous binary (BIN=) may not have the native list routes.
  if has_route /api/_native/employees; then
    load native-employees-sqlite /api/_native/employees
    load native-direct-sqlite /api/_native/employees-direct
  fi
done
stop_server
fi

if [ "${ONLY:-}" = boundary ]; then
  echo "| scenario | req/s | p50 | p99 | ratio |"
  echo "|---|---:|---:|---:|---:|"
  row native-fixed
  row module-fixed native-fixed
  row employees-sqlite native-direct-sqlite
  row native-employees-sqlite native-direct-sqlite
  row native-direct-sqlite
  exit 0
fi

if runs pools; then
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
fi

if runs postgres; then
echo "== PostgreSQL" >&2
psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS mosaic_bench' -qc 'CREATE DATABASE mosaic_bench' >/dev/null
DATABASE_URL=${PG_ADMIN%/*}/mosaic_bench start_server postgres
for _ in $(seq 1 "$REPEAT"); do
  load employees-postgres /api/employees/
  if has_route /api/_native/employees; then
    load native-employees-postgres /api/_native/employees
  fi
done
stop_server
psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS mosaic_bench' >/dev/null
fi

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
row native-employees-postgres
row employees-postgres native-employees-postgres
