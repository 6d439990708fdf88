#!/usr/bin/env bash
# Stop what deploy/up.sh started: the services, relays, mail senders and gateway, each
# by its pid file in $STATE/run (RabbitMQ and PostgreSQL stay up).
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${REBUILDING_STATE_DIR:-$PWD/var}
shopt -s nullglob
for pidfile in "$STATE"/run/*.pid; do
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "down: stopped $(basename "$pidfile" .pid)" >&2
  fi
  rm -f "$pidfile"
done
