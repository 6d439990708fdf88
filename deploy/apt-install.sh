#!/usr/bin/env bash
# Install Debian packages, as root or through sudo, updating the package lists once.
set -euo pipefail
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
