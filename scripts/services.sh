#!/usr/bin/env bash
# The services the real-parts tests talk to, on this machine: Redis on 127.0.0.1:6379 and PostgreSQL on
# 127.0.0.1:5432 (user postgres without a password from loopback, database `test`). Whatever already answers is
# left alone; what is missing is installed (Debian packages) and started. Idempotent. For test machines only: on a
# cluster this script had to start, it lets `postgres` in from 127.0.0.1 without a password.
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

apt_install() {
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  echo "starting redis-server on 127.0.0.1:6379"
  mkdir -p /tmp/covenant-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /tmp/covenant-redis \
    --logfile /tmp/covenant-redis/redis.log
  for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null || { echo "Redis does not answer on 127.0.0.1:6379" >&2; exit 1; }

pg_answers() { psql -h 127.0.0.1 -p 5432 -U postgres -d test -Atqc 'select 1' >/dev/null 2>&1; }
if ! pg_answers; then
  command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql
  if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    echo "starting PostgreSQL on 127.0.0.1:5432"
    for cluster in /etc/postgresql/*/main; do
      [ -d "$cluster" ] || continue
      hba="$cluster/pg_hba.conf"
      if ! grep -Eq '^host[[:space:]]+all[[:space:]]+(all|postgres)[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
        $SUDO sed -i '1i host all postgres 127.0.0.1/32 trust  # covenant tests (scripts/services.sh)' "$hba"
      fi
      version=$(basename "$(dirname "$cluster")")
      $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
    for _ in $(seq 1 50); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.2; done
  fi
  if ! psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atqc "select 1 from pg_database where datname='test'" \
      2>/dev/null | grep -q 1; then
    psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -qc 'create database test' >/dev/null
  fi
fi
pg_answers || { echo "PostgreSQL does not let postgres into database test on 127.0.0.1:5432" >&2; exit 1; }
