#!/usr/bin/env bash
# HTTP benchmarks for BENCHMARKS.md, all against one release build on this machine:
#   1. the Wasm boundary: testbed's GET /fixed (a module) vs GET /api/_native/fixed
#      (a native handler behind the same tenant + auth extractors), same server;
#   2. the warm-instance pool: /fixed with a fresh instance per request and with
#      1, 2, 4 and 8 instances per slot;
#   3. GET /api/employees/ listing 20 stored employees, on SQLite and PostgreSQL,
#      beside two native handlers serving the same page: through the host's store
#      path (/api/_native/employees) and read in place with the SQLite library
#      (/api/_native/employees-direct);
#   4. the list at the issue's realistic size, 100 tenants of 200 employees each,
#      one tenant's admin reading a page of 20 (?limit=20), on SQLite and
#      PostgreSQL, beside the same natives and the best-layout one
#      (/api/_native/employees-clustered: a table laid out for this query).
# Load: wrk on the same 2 cores. Each pair is run interleaved, REPEAT times; the
# script prints every run and the medians as a Markdown table.
#   BIN=path/to/mosaic  benchmark that binary instead of building this checkout's
#                       (e.g. a previous version, to compare on the same machine);
#   ONLY=boundary       run only sections 1 and 3 on SQLite;
#   ONLY=pools          run only section 2;
#   ONLY=postgres       run only section 3 on PostgreSQL;
#   ONLY=layout         run only section 4.
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

# many_tenants DB: 99 tenants beside "bench", and every tenant's employees topped up
# to 200 in its module data: on SQLite each tenant's own file (opened by a first
# request), on PostgreSQL the shared table, the tenants' rows interleaved as if they
# had written side by side. Then each tenant's copy in the best layout.
many_tenants() {
  local db=$1 admin ids row sub id token
  admin=$("$BIN" token issue --platform-admin)
  for i in $(seq -w 1 99); do
    curl -sf -X POST "$BASE/api/admin/tenants" -H "Authorization: Bearer $admin" -H 'content-type: application/json' \
      -d "{\"name\":\"Tenant $i\",\"subdomain\":\"t$i\",\"modules\":[]}" >/dev/null
  done
  if [ "$db" = postgres ]; then
    psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" <<'SQL'
INSERT INTO records (tenant_id, module, collection, id, version, data, created_at, updated_at)
SELECT t.id, 'employees', 'employees', 'bulk-' || lpad(i::text, 5, '0'), 1,
       jsonb_build_object('name', 'Employee ' || i, 'email', 'e' || i || '@' || t.subdomain || '.example',
                          'department', 'Dept ' || (i % 4), 'position', 'Engineer',
                          'salary', 400000 + i, 'hired_on', '2024-01-15', 'status', 'active'),
       1765000000000, 1765000000000
FROM generate_series(1, 200) AS i CROSS JOIN tenants AS t
WHERE i > CASE WHEN t.subdomain = 'bench' THEN 20 ELSE 0 END
ORDER BY i, t.id;
ANALYZE records;
SQL
    ids=$(psql -qAt "$DATABASE_URL" -c "SELECT subdomain || '|' || id FROM tenants")
  else
    ids=$(sqlite3 "$MOSAIC_DATA_DIR/mosaic.db" "SELECT subdomain || '|' || id FROM tenants")
  fi
  for row in $ids; do
    sub=${row%%|*} id=${row#*|}
    token=$("$BIN" token issue --tenant "$sub" --role TENANT_ADMIN)
    if [ "$db" = sqlite ]; then
      curl -sf -o /dev/null -H "Authorization: Bearer $token" -H "X-Tenant-ID: $sub" "$BASE/api/employees/"
      sqlite3 -cmd ".timeout 10000" "$MOSAIC_DATA_DIR/module-data/$id.db" <<SQL
WITH RECURSIVE n(i) AS (SELECT $([ "$sub" = bench ] && echo 21 || echo 1) UNION ALL SELECT i + 1 FROM n WHERE i < 200)
INSERT INTO records (tenant_id, module, collection, id, version, data, created_at, updated_at)
SELECT '$id', 'employees', 'employees', printf('bulk-%05d', i), 1,
       json_object('name', 'Employee ' || i, 'email', 'e' || i || '@$sub.example',
                   'department', 'Dept ' || (i % 4), 'position', 'Engineer',
                   'salary', 400000 + i, 'hired_on', '2024-01-15', 'status', 'active'),
       1765000000000, 1765000000000
FROM n;
SQL
    fi
    # A previous binary (BIN=) answers 404: it has no such baseline.
    curl -s -o /dev/null -X POST -H "Authorization: Bearer $token" -H "X-Tenant-ID: $sub" "$BASE/api/_native/employees-clustered"
  done
}

if runs layout; then
command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null; }
for db in sqlite postgres; do
  echo "== 100 tenants × 200 employees, $db" >&2
  if [ "$db" = postgres ]; then
    psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS mosaic_bench' -qc 'CREATE DATABASE mosaic_bench' >/dev/null
    export DATABASE_URL=${PG_ADMIN%/*}/mosaic_bench
  fi
  start_server "layout-$db"
  many_tenants "$db"
  # The first query builds the manifest's declared indexes (a binary that has them):
  # on PostgreSQL one build for the shared table, which must not run inside a load.
  has_route "/api/employees/?limit=20"
  if [ "$db" = postgres ]; then
    sleep 1
    until [ "$(psql -qAt "$DATABASE_URL" -c 'SELECT count(*) FROM pg_stat_progress_create_index')" = 0 ]; do sleep 0.5; done
  fi
  for _ in $(seq 1 "$REPEAT"); do
    load "layout-module-$db" "/api/employees/?limit=20"
    # A previous binary (BIN=) may not have the best-layout baseline.
    if has_route "/api/_native/employees-clustered?limit=20"; then
      load "layout-native-store-$db" "/api/_native/employees?limit=20"
      [ "$db" = sqlite ] && load "layout-native-direct-$db" "/api/_native/employees-direct?limit=20"
      load "layout-native-clustered-$db" "/api/_native/employees-clustered?limit=20"
    fi
  done
  stop_server
  if [ "$db" = postgres ]; then
    unset DATABASE_URL
    psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS mosaic_bench' >/dev/null
  fi
done
echo "| scenario | req/s | p50 | p99 | ratio |"
echo "|---|---:|---:|---:|---:|"
for db in sqlite postgres; do
  row "layout-native-clustered-$db"
  row "layout-native-direct-$db" "layout-native-clustered-$db"
  row "layout-native-store-$db" "layout-native-clustered-$db"
  row "layout-module-$db" "layout-native-clustered-$db"
done
exit 0
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
