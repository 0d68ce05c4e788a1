#!/usr/bin/env bash
# TradingBot and a minimal Flask/gunicorn webhook receiver, measured side by
# side in one run with the same wrk load (alerts.lua): one connection (the
# latency of one alert) and 32 connections (throughput), on the embedded
# default (paper exchange) and against the local Binance venue.
#
#   benches/sidebyside/run.sh            # 20 s per measurement
#   SECONDS_EACH=60 benches/sidebyside/run.sh
#   TRADINGBOT_BIN=/path/to/other/tradingbot benches/sidebyside/run.sh  # another build
#   VENUES=binance benches/sidebyside/run.sh     # one venue only
#   REDIS_URL=redis://127.0.0.1:6379 benches/sidebyside/run.sh  # paper with Redis too
#
# Needs wrk and gunicorn+flask (apt-get install wrk gunicorn python3-flask,
# or pip install flask gunicorn). Prints one table; ratios are TradingBot's
# figure over Flask's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$HOME/.cache/tradingbot/target}
secs=${SECONDS_EACH:-20}
users=${USERS:-100}
for tool in wrk gunicorn; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install wrk gunicorn python3-flask)" >&2; exit 2; }
done
(cd "$root" && CARGO_TARGET_DIR=$target cargo build -q --release -p tradingbot-web -p tradingbot-benches --bin tradingbot --bin loadtest)
bin=${TRADINGBOT_BIN:-$target/release/tradingbot}

work=$(mktemp -d)
pids=()
cleanup() {
  for f in "$work"/*/server.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

results="$work/results.jsonl"
# What the server holds after a measurement: resident memory, and how long
# its database writer took to store everything it had accepted (a rate
# the writer cannot keep up with is not a sustained one).
server_state() { # pid metrics-url
  local rss unstored waited=0
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0)
  unstored() { curl -s "$2" | awk '/^persist_unstored_events / {print int($2)}'; }
  local left; left=$(unstored "$@"); left=${left:-0}
  local at_end=$left
  while [ "${left:-0}" -gt 0 ] && [ "$waited" -lt 600 ]; do
    sleep 0.5; waited=$((waited + 1)); left=$(unstored "$@")
  done
  echo "{\"rss_kb\":$rss,\"unstored_at_end\":$at_end,\"stored_after_s\":$(awk "BEGIN {print $waited / 2}")}"
}

measure() { # name base targets connections [server-pid metrics-url]
  local name=$1 base=$2 targets=$3 conns=$4
  local out threads=$(( conns < 2 ? conns : 2 )) state='{}'
  out=$(TARGETS=$targets THREADS=$threads wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 5s -s "$here/alerts.lua" "$base" | grep '^RESULT ' | cut -c8-)
  [ -n "${5:-}" ] && state=$(server_state "$5" "$6")
  echo "{\"name\":\"$name\",\"connections\":$conns,\"result\":$out,\"server\":$state}" >> "$results"
  echo "$name, $conns connection(s): $out $state" >&2
}

prepare() { # venue dir
  mkdir -p "$2"
  local venue=$1 redis=
  # The embedded default with Redis for the replay gate and limits.
  if [ "$venue" = paper-redis ]; then venue=paper; redis=${REDIS_URL:?paper-redis needs REDIS_URL}; fi
  LOADTEST_REDIS_URL=$redis "$target/release/loadtest" --prepare "$2" --venue "$venue" --users "$users" --symbols 1 --binary "$bin" > "$2/loadtest.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 600); do
    [ -f "$2/ready" ] && return 0
    sleep 0.2
  done
  echo "the $1 set-up did not finish:" >&2; cat "$2/loadtest.log" >&2; exit 1
}

for venue in ${VENUES:-paper binance${REDIS_URL:+ paper-redis}}; do
  prepare "$venue" "$work/$venue"
  base=$(cat "$work/$venue/base")
  spid=$(cat "$work/$venue/server.pid")
  metrics="$(echo "$base" | sed -E 's#^(https?://[^/]+).*#\1#')/metrics"
  measure "tradingbot-$venue" "$base" "$work/$venue/targets.txt" 1 "$spid" "$metrics"
  measure "tradingbot-$venue" "$base" "$work/$venue/targets.txt" 32 "$spid" "$metrics"
  kill "$(cat "$work/$venue/server.pid")" "${pids[-1]}" 2>/dev/null || true
  wait "${pids[-1]}" 2>/dev/null || true
done

# The baseline, on the same strategies' paths and secrets.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$here" && TARGETS=$(ls "$work"/*/targets.txt | head -1) exec gunicorn -w 2 -b "127.0.0.1:$port" --log-level warning flask_receiver:app) &
pids+=($!)
for _ in $(seq 1 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
  sleep 0.1
done
flask_targets=$(ls "$work"/*/targets.txt | head -1)
measure flask "http://127.0.0.1:$port" "$flask_targets" 1
measure flask "http://127.0.0.1:$port" "$flask_targets" 32

python3 "$here/report.py" "$results"
