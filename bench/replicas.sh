#!/usr/bin/env bash
# Replicas on one PostgreSQL database: what each added replica costs. For each count
# N in REPLICAS, N hosts (each with a data dir of its own, ports PORT+1…PORT+N) on a
# fresh database, a tenant "bench" with employees and attendance and 20 employees,
# then:
#   - idle, after a few seconds: the hosts' resident memory (mean), the database's
#     connections, and its commits per second over IDLE seconds (the hosts'
#     background work: heartbeats, sweeps, the catalog poll);
#   - TOGGLES toggles of attendance through the first host, each answered once every
#     other replica has acknowledged it: median and max of the admin call, and how
#     many answered with a replica still pending;
#   - GET /api/employees/ through every host at once: one wrk per host (one thread,
#     CONNECTIONS/N connections), for DURATION: the summed req/s and the worst p99.
#   BIN=path/to/mosaic  that binary instead of this checkout's build;
#   REPLICAS            replica counts (default "1 2 4");
#   TOGGLES             toggles per count (default 20);
#   IDLE                seconds of idle commits counted (default 10).
# The harness is bench/lib.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
REPLICAS=${REPLICAS:-"1 2 4"}
TOGGLES=${TOGGLES:-20}
IDLE=${IDLE:-10}
export MOSAIC_AUDIT_KEY=bench-audit-key-of-at-least-32-bytes
export DATABASE_URL=${PG_ADMIN%/*}/mosaic_replicas
HOSTS=()

stop_hosts() {
  for pid in "${HOSTS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  HOSTS=()
}
drop_database() { PGOPTIONS=--client-min-messages=warning psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS mosaic_replicas WITH (FORCE)' >/dev/null; }
trap 'stop_hosts; drop_database; rm -rf "$SCRATCH"' EXIT
sql() { psql "$PG_ADMIN" -tAc "$1"; }
host_url() { echo "http://127.0.0.1:$((PORT + $1))"; }
median_of() { tr ' ' '\n' | sed '/^$/d' | median; }

echo "| replicas | RSS per host, idle | database connections, idle | database commits/s, idle | toggle: median / max | toggles answered with a replica pending | list through every host: req/s (sum) | worst p99 |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
for count in $REPLICAS; do
  drop_database
  sql 'CREATE DATABASE mosaic_replicas' >/dev/null
  "$BIN" billing create-plan '{"key":"bench","name":"Bench","price_minor":0,"currency":"USD","period":"month","modules":["attendance"]}' >/dev/null
  for i in $(seq 1 "$count"); do
    MOSAIC_DATA_DIR=$SCRATCH/n$count-r$i MOSAIC_DEFAULT_PLAN=bench \
      "$BIN" serve --addr "127.0.0.1:$((PORT + i))" --no-demo >"$SCRATCH/n$count-r$i.log" 2>&1 &
    HOSTS+=($!)
  done
  for i in $(seq 1 "$count"); do
    for _ in $(seq 1 100); do curl -sf "$(host_url "$i")/healthz" >/dev/null && break; sleep 0.2; done
  done
  admin=$("$BIN" token issue --platform-admin)
  first=$(host_url 1)
  curl -sf -X POST "$first/api/admin/tenants" -H "Authorization: Bearer $admin" -H 'content-type: application/json' \
    -d '{"name":"Bench","subdomain":"bench","modules":["employees","attendance"]}' >/dev/null
  TOKEN=$("$BIN" token issue --tenant bench --role TENANT_ADMIN)
  add_employees "$first"

  sleep 3
  rss=0
  for pid in "${HOSTS[@]}"; do rss=$((rss + $(awk '/VmRSS/ {print $2}' "/proc/$pid/status"))); done
  connections=$(sql "SELECT count(*) FROM pg_stat_activity WHERE datname = 'mosaic_replicas'")
  commits() { sql "SELECT xact_commit FROM pg_stat_database WHERE datname = 'mosaic_replicas'"; }
  before=$(commits); sleep "$IDLE"; after=$(commits)

  times="" pending=0
  for t in $(seq 1 "$TOGGLES"); do
    enabled=$([ $((t % 2)) = 1 ] && echo false || echo true)
    answer=$(curl -sf -X POST "$first/api/admin/tenants/bench/modules/attendance" \
      -H "Authorization: Bearer $admin" -H 'content-type: application/json' \
      -d "{\"enabled\":$enabled}" -w '\n%{time_total}')
    times="$times $(echo "$answer" | tail -1 | awk '{printf "%.1f", $1 * 1000}')"
    echo "$answer" | head -1 | grep -q '"pending":\[\]' || pending=$((pending + 1))
    sleep 0.02
  done

  loads=()
  for i in $(seq 1 "$count"); do
    wrk -t1 -c$((CONNECTIONS / count)) -d"$DURATION" --latency -H "Authorization: Bearer $TOKEN" \
      -H 'X-Tenant-ID: bench' "$(host_url "$i")/api/employees/" >"$SCRATCH/wrk-$i.txt" &
    loads+=($!)
  done
  wait "${loads[@]}"
  total=0 worst=0
  for i in $(seq 1 "$count"); do
    if grep -q Non-2xx "$SCRATCH/wrk-$i.txt"; then cat "$SCRATCH/wrk-$i.txt" >&2; echo "non-2xx answers" >&2; exit 1; fi
    total=$(awk -v t="$total" '/Requests\/sec/ {printf "%.0f", t + $2}' "$SCRATCH/wrk-$i.txt")
    p99=$(awk '$1 == "99%" {print $2}' "$SCRATCH/wrk-$i.txt")
    worst=$(echo "$worst $p99" | awk '{ms = $2; sub(/ms$/, "", ms); if ($2 ~ /us$/) {sub(/us$/, "", ms); ms /= 1000} else if ($2 ~ /[0-9]s$/) {sub(/s$/, "", ms); ms *= 1000} printf "%.2f", (ms > $1 ? ms : $1)}')
  done
  stop_hosts

  echo "| $count | $((rss / count / 1024)) MiB | $connections | $(( (after - before) / IDLE )) | $(echo "$times" | median_of) / $(echo "$times" | tr ' ' '\n' | sort -n | tail -1) ms | $pending of $TOGGLES | $total | $worst ms |"
done
