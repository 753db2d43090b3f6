#!/usr/bin/env bash
# The project's whole test suite — what CI runs and what README.md tells you to run:
#   scripts/test.sh
# 1. Rust: format, lints, unit and end-to-end tests (the service against the SYSPRO simulator).
# 2. Snowflake side: sqlfluff parses sql/ and the rendered setup; fakesnow runs the data plane.
# 3. Deploy kit: pinned linters over deploy/.
# Python tools install into virtualenvs under the repository (.venv, .venv-deploy).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== import loops (scripts/import-graph.py)"
python3 scripts/import-graph.py --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo build (binaries for the Python suites)"
cargo build --workspace --locked

if [[ -x tests/sqlapi/setup.sh ]]; then
  echo "== Python test environment (fakesnow, the SQL API stand-in's JWT checks)"
  tests/sqlapi/setup.sh
fi

echo "== cargo test"
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

if [[ -x tests/snowflake/run.sh ]]; then
  echo "== Snowflake side (sqlfluff + fakesnow)"
  tests/snowflake/run.sh
fi

if [[ -f tests/deploy/lint.sh ]]; then
  echo "== deploy kit linters"
  bash tests/deploy/lint.sh
fi

echo "== all test suites passed"
