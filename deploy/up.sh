#!/usr/bin/env bash
# Start the five services, the relays and the mail senders in the background, wait
# for a green /health, then load the demo data. `deploy/down.sh` stops what this started.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
STATE=${REBUILDING_STATE_DIR:-$PWD/var}
export REBUILDING_STATE_DIR=$STATE
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore::DeprecationWarning}
mkdir -p "$STATE/run" "$STATE/log"
gateway=http://${REBUILDING_GATEWAY_ADDRESS:-127.0.0.1:8000}

start() {  # name, command...
  local name=$1; shift
  local pidfile=$STATE/run/$name.pid
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "up: $name is already running" >&2; return
  fi
  nohup "$@" >>"$STATE/log/$name.log" 2>&1 &
  echo $! >"$pidfile"
  echo "up: started $name (log: $STATE/log/$name.log)" >&2
}

"$BIN/python" -c "from rebuilding import db; db.ensure_database()"
"$BIN/rebuilding" registry seed >&2  # the 1,506 Lombard Comuni from ISTAT; adds nothing when already there
for service in registry labs surveys toolkit; do
  start "$service" "$BIN/nameko" run --config deploy/nameko.yaml "services.$service.service:${service^}Service"
  start "relay-$service" "$BIN/rebuilding" relay "$service"
done
for service in labs surveys toolkit; do  # the services that send e-mail, each from a process of its own
  start "mail-$service" "$BIN/rebuilding" mail "$service"
done
start gateway "$BIN/nameko" run --config deploy/nameko.yaml services.gateway.service:GatewayService

for _ in $(seq 1 120); do
  for pidfile in "$STATE"/run/*.pid; do
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      name=$(basename "$pidfile" .pid)
      echo "up: $name stopped; the end of its log:" >&2
      tail -n 20 "$STATE/log/$name.log" >&2
      exit 1
    fi
  done
  if "$BIN/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)' "$gateway/health" 2>/dev/null; then
    "$BIN/rebuilding" demo --gateway "$gateway"
    echo "up: the platform is running at $gateway (API page: $gateway/docs)" >&2
    exit 0
  fi
  sleep 1
done
echo "up: /health did not turn green in 120 s; see $STATE/log/" >&2
exit 1
