#!/usr/bin/env bash
# Make sure RabbitMQ (127.0.0.1:5672) and PostgreSQL (127.0.0.1:5432) answer.
# Starts them when they are installed but stopped; installs them from Debian's
# packages when they are missing (this needs root, as on a fresh machine or in CI).
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # port, name
  for _ in $(seq 1 120); do listening "$1" && return 0; sleep 1; done
  echo "infra: $2 did not come up on 127.0.0.1:$1" >&2; exit 1
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() { "$(dirname "$0")/apt-install.sh" "$@"; }

if ! listening 5432; then
  if ! command -v pg_ctlcluster >/dev/null; then
    echo "infra: installing PostgreSQL" >&2
    apt_install postgresql
    fresh_postgres=1
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  if [ -n "${fresh_postgres:-}" ]; then
    # A cluster we just installed: let local TCP clients in without a password,
    # like the development machines. Production uses its own PostgreSQL server.
    hba=/etc/postgresql/$version/main/pg_hba.conf
    as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  echo "infra: starting PostgreSQL $version" >&2
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true  # the package may have started it
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true  # and read pg_hba.conf before our line
  wait_for 5432 PostgreSQL
fi

if ! listening 5672; then
  if ! command -v rabbitmq-server >/dev/null; then
    echo "infra: installing RabbitMQ" >&2
    apt_install rabbitmq-server
  fi
  echo "infra: starting RabbitMQ" >&2
  as_root rabbitmq-server -detached || true
  wait_for 5672 RabbitMQ
  as_root rabbitmqctl await_startup >/dev/null 2>&1 || true
fi
echo "infra: RabbitMQ and PostgreSQL are up" >&2
