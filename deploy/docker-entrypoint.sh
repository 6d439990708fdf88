#!/bin/sh
# The container's command, as PID 1 (exec), so SIGTERM reaches the service and it
# stops gracefully:
#   relay <service>...   the relay of those services' event logs
#   mail <service>...    the mail sender of those services (their e-mail)
#   <module>:<Class>...  a nameko service, e.g. services.labs.service:LabsService
set -eu
case "${1:-}" in
  relay|mail) exec rebuilding "$@" ;;
esac
exec nameko run --config deploy/nameko.yaml "$@"
