#!/usr/bin/env bash
# Idempotent set-up of a checkout: a virtualenv with the pinned packages, migrations; with --dev also the
# test tools (npm packages, Debian's chromium for the browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "ScopeGate needs Python 3.11 or newer ($PYTHON is $("$PYTHON" --version 2>&1))." >&2
  exit 1
fi

dev=0
[ "${1:-}" = "--dev" ] && dev=1

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
extras=""
[ "$dev" = 1 ] && extras="[dev]"
stamp=".venv/.installed$extras"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$extras"
  echo "$want" > "$stamp"
fi

if [ "$dev" = 1 ]; then
  lock="$(sha256sum package-lock.json | cut -d' ' -f1)"
  if [ ! -f node_modules/.installed ] || [ "$(cat node_modules/.installed)" != "$lock" ]; then
    npm ci --no-audit --no-fund --silent
    echo "$lock" > node_modules/.installed
  fi
  if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      echo "The browser tests need Debian's chromium: sudo apt-get install -y chromium" >&2
      exit 1
    fi
  fi
fi
