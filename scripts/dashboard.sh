#!/usr/bin/env bash
# The dashboard (streamlit/) on this machine, on demo data: builds the demo database once
# (tests/snowflake/dashboard_demo.py: the rendered setup on the SQL API stand-in's fakesnow/DuckDB,
# push mode syncs from the simulator, a failed run, verify, a reconciliation with drift), then
# `streamlit run`.
# Usage: scripts/dashboard.sh [--rebuild] [PORT]      (default port 8501; open http://localhost:PORT)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

rebuild=0
if [[ "${1:-}" == "--rebuild" ]]; then rebuild=1; shift; fi
port="${1:-8501}"
venv="${MLC_TEST_VENV:-$root/.venv}"
db="${MLC_DASHBOARD_DB:-$root/target/dashboard-demo}"

if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  -r tests/snowflake/requirements.txt -r tests/snowflake/requirements-dashboard.txt \
  -r tests/sqlapi/requirements.txt
if [[ ! -x target/debug/ml-connector || ! -x target/debug/mlc-simulator ]]; then
  cargo build --workspace --locked
fi
if (( rebuild )) || ! compgen -G "$db/*.db" >/dev/null; then
  echo "== demo data into $db (about a minute)"
  "$venv/bin/python" tests/snowflake/dashboard_demo.py "$db"
fi

echo "== http://localhost:$port  (Ctrl-C stops it)"
export MLC_DASHBOARD_DB="$db"
exec "$venv/bin/python" -m streamlit run streamlit/streamlit_app.py \
  --server.port "$port" --server.headless true --browser.gatherUsageStats false \
  --server.fileWatcherType none
