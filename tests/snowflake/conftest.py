"""Fixtures for the Snowflake-side tests: the rendered SQL, a fresh fakesnow database for the
statement-level tests (`snow`), and Snowflake as push mode loads it through the SQL API stand-in
(`push`)."""

from __future__ import annotations

import warnings

import pytest

import pushrig
import snowside

# fakesnow/duckdb emit deprecation noise on every query
warnings.filterwarnings("ignore", category=DeprecationWarning)


@pytest.fixture(scope="session")
def setup_sql() -> str:
    """`ml-connector sql` with default settings (built by `cargo build`)."""
    binary = snowside.renderer()
    if not binary.exists():
        pytest.fail(f"{binary} does not exist: run `cargo build` before tests/snowflake/run.sh")
    try:
        return snowside.rendered_setup()
    except RuntimeError as error:  # e.g. a build whose CLI does not print the setup
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def statements() -> dict[str, str]:
    """`ml-connector sql --statements-json`: the data-plane statements the procedures embed."""
    binary = snowside.renderer()
    if not binary.exists():
        pytest.fail(f"{binary} does not exist: run `cargo build` before tests/snowflake/run.sh")
    try:
        return snowside.rendered_statements()
    except RuntimeError as error:
        pytest.fail(str(error))


@pytest.fixture()
def snow(setup_sql, statements):
    """A fresh fakesnow account with the runnable part of the rendered setup applied."""
    with snowside.fresh_account(setup_sql, statements) as side:
        yield side


@pytest.fixture()
def push(setup_sql, statements, tmp_path):
    """A fresh account behind the SQL API stand-in (in this process), the setup applied, and a
    key pair registered for push mode; `.use(simulator)` points push mode at SYSPRO."""
    missing = pushrig.binaries_missing()
    if missing:
        pytest.skip(missing)
    side = pushrig.push_side(tmp_path, setup_sql, statements)
    try:
        yield side
    finally:
        side.standin.close()
