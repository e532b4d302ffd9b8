#!/usr/bin/env bash
# Data growth on SQLite: GET /api/employees/ (the first page) and two filtered
# queries as one tenant's collection grows to 1k, 100k and 1M documents:
#   - department=Dept 1  (a quarter of the documents match: a page fills early);
#   - department=Needle  (one document matches, the last one: the whole collection
#     is read, since a non-unique index declared in a manifest is a hint only).
# The tenant's first 20 employees go through the API; the rest are written straight
# into its module-data file by the sqlite3 shell, in the same layout.
#   BIN=path/to/mosaic  that binary instead of this checkout's build;
#   SIZES               collection sizes (default "1000 100000 1000000").
# The harness is bench/lib.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SIZES=${SIZES:-"1000 100000 1000000"}
command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null; }

# fill SIZE: tops the bench tenant's employees up to SIZE documents.
fill() {
  local tenant_id file
  tenant_id=$("$BIN" tenant show bench 2>/dev/null | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -1)
  file=$MOSAIC_DATA_DIR/module-data/$tenant_id.db
  [ -f "$file" ] || { echo "no module data file at $file" >&2; exit 1; }
  sqlite3 -cmd ".timeout 10000" "$file" <<SQL
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

for size in $SIZES; do
  echo "== $size documents" >&2
  start_server "growth-$size"
  fill "$size"
  curl -sf -H "Authorization: Bearer $TOKEN" -H 'X-Tenant-ID: bench' "$BASE/api/employees/?department=Needle" \
    | grep -q "\"bulk-$(printf %07d "$size")\"" || { echo "the needle is not where it was put" >&2; exit 1; }
  load "list-$size" /api/employees/
  load "common-$size" "/api/employees/?department=Dept%201"
  CONNECTIONS=2 load "needle-$size" "/api/employees/?department=Needle"
  stop_server
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
