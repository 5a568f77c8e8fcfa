#!/usr/bin/env bash
# Set up and run the whole test suite. With DATABASE_URL and REDIS_URL it runs on PostgreSQL and Redis;
# without them on the embedded default. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export SCOPEGATE_ENV=test
export SCOPEGATE_DATA_DIR=${SCOPEGATE_DATA_DIR:-$PWD/data/test}
mkdir -p "$SCOPEGATE_DATA_DIR" artifacts
.venv/bin/ruff check .
exec .venv/bin/pytest "$@"
