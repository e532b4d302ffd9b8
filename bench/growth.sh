#!/usr/bin/env bash
# Data growth: GET /api/employees/ (the first page) and two filtered queries as one
# tenant's collection grows to 1k, 100k and 1M documents:
#   - department=Dept 1  (a quarter of the documents match: a page fills early);
#   - department=Needle  (one document matches, the last one: without an index on
#     department, the whole collection is read).
# The tenant's first 20 employees go through the API; the rest are written straight
# into its module data (its SQLite file, or the PostgreSQL records table) in the
# same layout. The first filtered query has the host build the manifest's declared
# indexes in the background; the runs start once they are built.
#   BIN=path/to/mosaic  that binary instead of this checkout's build;
#   SIZES               collection sizes (default "1000 100000 1000000");
#   DB=postgres         on PostgreSQL (a database of its own, dropped after);
#   OTHERS=N            PostgreSQL: N other tenants with 100 documents each in the
#                       same table first (their data must not slow this tenant);
#   INDEXES=N           declared indexes to wait for (default 2, employees' email and
#                       department; 0 for a binary that builds none).
# The harness is bench/lib.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SIZES=${SIZES:-"1000 100000 1000000"}
DB=${DB:-sqlite}
OTHERS=${OTHERS:-0}
INDEXES=${INDEXES:-2}
PG_URL=${PG_ADMIN%/*}/mosaic_growth
command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null; }

tenant_id() { "$BIN" tenant show bench 2>/dev/null | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -1; }

# sql: runs stdin against the bench tenant's module data.
sql() {
  if [ "$DB" = postgres ]; then psql -q -v ON_ERROR_STOP=1 "$PG_URL"; else
    local file; file=$MOSAIC_DATA_DIR/module-data/$(tenant_id).db
    [ -f "$file" ] || { echo "no module data file at $file" >&2; exit 1; }
    sqlite3 -cmd ".timeout 10000" "$file"
  fi
}

# fill SIZE: tops the bench tenant's employees up to SIZE documents.
fill() {
  if [ "$DB" = postgres ]; then fill_postgres "$1"; return; fi
  local tenant_id; tenant_id=$(tenant_id)
  sql <<SQL
WITH RECURSIVE n(i) AS (SELECT 21 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
INSERT INTO records (tenant_id, module, collection, id, version, data, created_at, updated_at)
SELECT '$tenant_id', 'employees', 'employees', printf('bulk-%07d', i), 1,
       json_object('name', 'Employee ' || i, 'email', 'e' || i || '@bench.example',
                   'department', CASE WHEN i = $1 THEN 'Needle' ELSE 'Dept ' || (i % 4) END,
                   'position', 'Engineer', 'salary', 400000 + i, 'hired_on', '2024-01-15',
                   'status', 'active'),
       0, 0
FROM n;
SQL
}

fill_postgres() {
  local tenant_id; tenant_id=$(tenant_id)
  sql <<SQL
INSERT INTO records (tenant_id, module, collection, id, version, data, created_at, updated_at)
SELECT '$tenant_id', 'employees', 'employees', 'bulk-' || lpad(i::text, 7, '0'), 1,
       jsonb_build_object('name', 'Employee ' || i, 'email', 'e' || i || '@bench.example',
                          'department', CASE WHEN i = $1 THEN 'Needle' ELSE 'Dept ' || (i % 4) END,
                          'position', 'Engineer', 'salary', 400000 + i, 'hired_on', '2024-01-15',
                          'status', 'active'),
       0, 0
FROM generate_series(21, $1) AS i;
ANALYZE records;
SQL
}

# others N: N other tenants' employees, 100 documents each, in the shared table.
others() {
  sql <<SQL
INSERT INTO records (tenant_id, module, collection, id, version, data, created_at, updated_at)
SELECT 'other-' || t, 'employees', 'employees', 'doc-' || i, 1,
       jsonb_build_object('name', 'Employee ' || i, 'email', 'e' || i || '@other.example',
                          'department', 'Dept ' || (i % 4), 'position', 'Engineer',
                          'salary', 400000 + i, 'hired_on', '2024-01-15', 'status', 'active'),
       0, 0
FROM generate_series(1, $1) AS t, generate_series(1, 100) AS i;
SQL
}

# until_indexed: waits for the declared indexes the first query started building;
# prints how long that took.
until_indexed() {
  local started=$SECONDS built query
  if [ "$DB" = postgres ]; then
    query="SELECT count(*) FROM pg_index WHERE indisvalid AND indexrelid::regclass::text LIKE 'records_ix_%';"
  else
    query="SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'records_ix_%';"
  fi
  while :; do
    built=$(echo "$query" | sql | tr -d ' ' | grep -E '^[0-9]+$' | head -1)
    [ "${built:-0}" -ge "$INDEXES" ] && break
    [ $((SECONDS - started)) -lt 300 ] || { echo "the declared indexes were not built; the log: $SCRATCH/growth-$size.log" >&2; tail -n 20 "$SCRATCH/growth-$size.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "declared indexes built in about $((SECONDS - started)) s" >&2
}

for size in $SIZES; do
  echo "== $size documents" >&2
  if [ "$DB" = postgres ]; then
    psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS mosaic_growth' -qc 'CREATE DATABASE mosaic_growth' >/dev/null
    export DATABASE_URL=$PG_URL
  fi
  start_server "growth-$size"
  [ "$DB" = postgres ] && [ "$OTHERS" -gt 0 ] && others "$OTHERS"
  fill "$size"
  curl -sf -H "Authorization: Bearer $TOKEN" -H 'X-Tenant-ID: bench' "$BASE/api/employees/?department=Needle" \
    | grep -q "\"bulk-$(printf %07d "$size")\"" || { echo "the needle is not where it was put" >&2; exit 1; }
  until_indexed
  load "list-$size" /api/employees/
  load "common-$size" "/api/employees/?department=Dept%201"
  CONNECTIONS=2 load "needle-$size" "/api/employees/?department=Needle"
  stop_server
  [ "$DB" = postgres ] && psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS mosaic_growth' >/dev/null
done

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION (the needle query at 2 connections)"
echo
echo "| scenario | req/s | p50 | p99 | ratio |"
echo "|---|---:|---:|---:|---:|"
first=${SIZES%% *}
for size in $SIZES; do
  for query in list common needle; do row "$query-$size" "$query-$first"; done
done
