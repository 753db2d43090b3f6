#!/usr/bin/env bash
# Runs the Snowflake-side tests: sqlfluff parses of sql/ and of the rendered setup, the
# data-plane statements on fakesnow, and the end-to-end tests: push mode (`ml-connector sync`)
# loading the SQL API stand-in (tests/sqlapi/server.py, run in the pytest process) from the
# simulator. Builds nothing: run `cargo build --workspace` first (the tests use target/debug).
# Usage: tests/snowflake/run.sh [extra pytest args]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${MLC_TEST_VENV:-$root/.venv}"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
# quiet when already satisfied; pins live in requirements.txt
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" \
    -r "$here/requirements-dashboard.txt" -r "$root/tests/sqlapi/requirements.txt"

cd "$root"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$here" "$@"
