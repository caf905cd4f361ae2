#!/usr/bin/env bash
# The whole check: lint, types, then every test. Services are used when configured:
#   DATASTEWARD_TEST_POSTGRES_URL  e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres
#   DATASTEWARD_TEST_REDIS_URL     e.g. redis://127.0.0.1:6379/15
# Without them those tests skip and say so (CI sets DATASTEWARD_TEST_REQUIRE_SERVICES=1).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"

echo "== ruff"
ruff check service workers tests
ruff format --check service workers tests
echo "== mypy"
mypy
echo "== pytest"
status=0
python -m pytest -q "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests" >&2
fi
exit "$status"
