#!/usr/bin/env bash
# Installs what the SQL API stand-in (tests/sqlapi/server.py) needs into the repository's venv
# (.venv, shared with tests/snowflake; MLC_TEST_VENV overrides). Run it before `cargo test`:
# tests/push starts the stand-in with that venv's python.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${MLC_TEST_VENV:-$root/.venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
"$venv/bin/python" -c "import fakesnow, jwt, cryptography, snowflake.connector" 
echo "tests/sqlapi: stand-in dependencies installed in $venv"
