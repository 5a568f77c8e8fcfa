#!/usr/bin/env bash
# Set up and serve ScopeGate on the embedded default: SQLite in ./data, in-memory channel layer, eager Celery,
# e-mail printed to this terminal. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PORT=${PORT:-8000}
HOST=${HOST:-127.0.0.1}
export SCOPEGATE_PUBLIC_URL=${SCOPEGATE_PUBLIC_URL:-http://$HOST:$PORT}
.venv/bin/python manage.py migrate --no-input -v0
cat <<MSG

  ScopeGate is starting on $SCOPEGATE_PUBLIC_URL

  Open $SCOPEGATE_PUBLIC_URL/accounts/signup/ and sign up with any e-mail address.
  The verification e-mail is printed in this terminal: open its link to confirm and log in.
  (Or create a login headlessly: .venv/bin/scopegate create_user you@example.com --password-stdin)

  REST API documentation: $SCOPEGATE_PUBLIC_URL/api/v1/docs/        Stop with Ctrl-C.

MSG
exec .venv/bin/daphne -b "$HOST" -p "$PORT" scopegate.asgi:application
