#!/usr/bin/env bash
# Installs everything covenant needs on Debian 12 (run as root, or with sudo available). Idempotent.
#  - Debian packages: LibreOffice Writer + its Python bridge, fonts with Vietnamese glyphs, poppler, qpdf, NSS tools,
#    SoftHSM2 (a PKCS#11 token for the demo and the tests), Chromium (the browser tests drive it with Playwright),
#    iproute2 and PostgreSQL's server (the hosts test makes network namespaces with a PostgreSQL of its own)
#  - .venv      : the project (pip install -e '.[test]') on the python3 first on PATH (3.11+)
#  LibreOffice is driven by workflow/lo_server.py under Debian's /usr/bin/python3, the only interpreter that can
#  import LibreOffice's `uno` (python3-uno); the project's own venv never imports it.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libreoffice-writer-nogui python3-uno fonts-liberation2 fonts-dejavu-core poppler-utils qpdf
          libnss3-tools python3-venv redis-server faketime softhsm2 chromium jq iproute2 postgresql)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

/usr/bin/python3 -c 'import uno' || { echo "LibreOffice's Python bridge (python3-uno) does not import" >&2; exit 1; }
echo "covenant installed: .venv/bin/covenant"
