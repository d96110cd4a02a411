#!/usr/bin/env bash
# The test command (README): installs what is missing, makes sure Redis and PostgreSQL answer, lints, type-checks,
# runs the suite.
# Fails when the suite fails or when no test ran.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh

bash scripts/services.sh  # Redis and PostgreSQL on loopback, installed and started where missing

.venv/bin/ruff check workflow signing tasks tests bench templates celeryconfig.py
.venv/bin/ruff format --check workflow signing tasks tests bench templates celeryconfig.py
.venv/bin/mypy  # pyproject.toml [tool.mypy]: warn_unused_ignores, every function typed

# One pytest run; fails when it fails or when it ran no test.
layer() {
  local log status
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
  return "$status"
}

if [ "$#" -gt 0 ]; then  # the tests asked for, in one run
  layer "$@"
  exit $?
fi
echo "== fast layer: in this process, no LibreOffice, no server, no other process"
layer -m "not live"
echo "== real-parts layer: LibreOffice, Redis, PostgreSQL, Celery workers, SMTP, Chromium, PKI servers"
# two pytest-xdist workers, each taking whole files (module fixtures stay in one process); README says why
layer -m live -n 2 --dist loadfile
