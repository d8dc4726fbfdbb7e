#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian machine with Go:
# Go modules, and PostgreSQL 15 client and server tools from Debian's packages.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_bin() {
  command -v initdb 2>/dev/null && return 0
  ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1
}

if [ -z "$(pg_bin)" ] || ! command -v pg_dump >/dev/null 2>&1; then
  echo "setup: PostgreSQL server tools not found; installing Debian's postgresql package"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq postgresql postgresql-client >/dev/null
  # Debian starts a cluster on install; the tests make their own throwaway servers.
  $SUDO service postgresql stop >/dev/null 2>&1 || true
fi
echo "setup: PostgreSQL: $(dirname "$(pg_bin)")"

if ! command -v runuser >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  echo "setup: runuser is missing (util-linux); PostgreSQL cannot be started as root" >&2
  exit 1
fi

go mod download
echo "setup: Go modules ready ($(go version | awk '{print $3}'))"
