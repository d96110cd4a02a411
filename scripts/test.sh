#!/usr/bin/env bash
# The test command (README): installs what is missing, makes sure Redis answers, lints, runs the suite.
# Fails when the suite fails or when no test ran.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting redis-server on 127.0.0.1:6379"
  mkdir -p /tmp/covenant-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /tmp/covenant-redis \
    --logfile /tmp/covenant-redis/redis.log
  for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  echo "starting PostgreSQL on 127.0.0.1:5432"
  for version in /etc/postgresql/*; do
    [ -d "$version" ] && pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start || true
  done
  for _ in $(seq 1 50); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.2; done
fi

.venv/bin/ruff check workflow signing tasks tests bench templates celeryconfig.py
.venv/bin/ruff format --check workflow signing tasks tests bench templates celeryconfig.py
.venv/bin/mypy  # pyproject.toml [tool.mypy]: warn_unused_ignores, every function typed

log=$(mktemp)
set +e
.venv/bin/python -m pytest -p no:cacheprovider "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -eq 0 ] && ! grep -Eq '[0-9]+ passed' "$log"; then
  echo "no test ran" >&2
  status=1
fi
rm -f "$log"
exit "$status"
