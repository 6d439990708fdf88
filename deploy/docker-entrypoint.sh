#!/bin/sh
# The container's command, as PID 1 (exec), so SIGTERM reaches the service and it
# stops gracefully:
#   relay <service>...   the relay of those services' event logs
#   <module>:<Class>...  a nameko service, e.g. services.labs.service:LabsService
set -eu
if [ "${1:-}" = relay ]; then
  exec rebuilding "$@"
fi
exec nameko run --config deploy/nameko.yaml "$@"
