#!/usr/bin/env bash
# Start-up: from process start to the first healthy answer, with every shipped
# module installed, on the embedded SQLite default (no demo data). Each round starts
# once on a fresh data folder (an empty artifact cache: every module compiled) and
# once more on the same folder (a warm cache: every module loaded).
#   BIN=path/to/mosaic  measure that binary instead of this checkout's build;
#   ROUNDS              rounds (default 5); the script prints each and the medians.
# The harness is bench/lib.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-5}

now_ms() { date +%s%3N; }

# ready_ms DIR: starts the host on DIR, prints the milliseconds until /healthz
# answered 200, and stops it.
ready_ms() {
  local start ready
  start=$(now_ms)
  MOSAIC_DATA_DIR=$1 "$BIN" serve --addr 127.0.0.1:$PORT --no-demo >"$1.log" 2>&1 &
  SERVER=$!
  until curl -sf -o /dev/null "$BASE/healthz"; do
    kill -0 "$SERVER" 2>/dev/null || { cat "$1.log" >&2; exit 1; }
    sleep 0.005
  done
  ready=$(now_ms)
  stop_server
  echo $((ready - start))
}

for round in $(seq 1 "$ROUNDS"); do
  dir=$SCRATCH/startup-$round
  empty=$(ready_ms "$dir")
  cached=$(ready_ms "$dir")
  echo "round $round: empty cache ${empty} ms, warm cache ${cached} ms" >&2
  echo "empty $empty" >>"$SCRATCH/startup"
  echo "warm $cached" >>"$SCRATCH/startup"
done
for kind in empty warm; do
  echo "$kind cache: median $(awk -v k=$kind '$1 == k {print $2}' "$SCRATCH/startup" | median) ms of $ROUNDS"
done
