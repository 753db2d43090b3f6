"""Demo data for the dashboard (streamlit/), made the way the end-to-end tests make theirs.

The SYSPRO simulator and the real service run; the runnable part of the rendered setup
(`ml-connector sql`) is applied to a fakesnow database kept in a DuckDB file; then the Snowflake
side is replayed statement by statement (snowside.py) as the tasks would run it: syncs over two
business days, one sync that meets a SYSPRO outage and fails (audited), verify runs, and a
reconciliation that finds a row lost in Snowflake, re-pulls its day and balances again.

    python tests/snowflake/dashboard_demo.py DIR     # writes DIR/<database>.db

The app reads DIR through fakesnow (MLC_DASHBOARD_DB=DIR); scripts/dashboard.sh does both.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
warnings.filterwarnings("ignore")
logging.getLogger("sqlglot").setLevel(logging.ERROR)  # fakesnow's transpiler notes, not errors

import snowside  # noqa: E402
from test_e2e import SERVICE, SIMULATOR, TABLES, ExternalFunctions, Process, http  # noqa: E402
from test_reconcile import reconcile  # noqa: E402

VERIFIED = ("ApInvoice", "ApSupplier", "InvWarehouse", "GrnDetails")
RECONCILED = ("ApInvoice", "GenJournalDetail", "InvMovements")


def location(setup_sql: str) -> tuple[str, str]:
    """Where the renderer put things (defaults: ml_connector.syspro)."""
    return re.search(r"^create schema if not exists (\w+)\.(\w+)", setup_sql, re.M).groups()


@contextlib.contextmanager
def syspro_and_service():
    """The simulator and the service, as tests/snowflake/test_e2e.py starts them."""
    for binary in (SIMULATOR, SERVICE):
        if not binary.exists():
            raise SystemExit(f"{binary} does not exist: run `cargo build --workspace` first")
    sim = Process([str(SIMULATOR), "--listen", "127.0.0.1:0", "--seed", "7", "--page-cap", "200"])
    svc = None
    try:
        info = json.loads(sim.wait_line(lambda line: line.startswith("{")))
        secret = secrets.token_hex(16)
        env = dict(
            os.environ,
            MLC_SERVER__LISTEN="127.0.0.1:0",
            MLC_SERVER__SECRET=secret,
            MLC_SYSPRO__ODATA_URL=info["odata_url"],
            MLC_SYSPRO__USER=info["user"],
            MLC_SYSPRO__PASSWORD=info["password"],
            MLC_SYSPRO__MAX_ATTEMPTS="2",
            MLC_SYSPRO__RETRY_INITIAL_BACKOFF_MS="20",
            MLC_SYSPRO__RETRY_MAX_BACKOFF_MS="50",
        )
        svc = Process([str(SERVICE), "serve"], env=env)
        line = svc.wait_line(lambda line: "listening on http://" in line)
        yield info, ExternalFunctions(line.split("listening on ", 1)[1].strip(), secret)
    finally:
        if svc is not None:
            svc.stop()
        sim.stop()


def load(snow: snowside.SnowSide, sim: dict, svc: ExternalFunctions) -> None:
    """What a few days of tasks leave behind, on the statements the procedures run."""
    base = sim["base_url"]
    for table in TABLES:
        snow.sync(table, svc.pull, refresh=svc)
    # a working day in SYSPRO: payments, receipts, postings, purges; then the next day
    http("POST", f"{base}/_sim/business_day", {})
    http("POST", f"{base}/_sim/advance?days=1")
    for table in TABLES:
        snow.sync(table, svc.pull, refresh=svc)
    # SYSPRO is down for one sync: the run fails with the service's error, and the next recovers
    http("POST", f"{base}/_sim/faults", {"rate": 1.0, "kinds": [{"kind": "status", "code": 503}]})
    try:
        snow.sync("ApInvoicePay", svc.pull, refresh=svc)
    except snowside.ServiceError:
        pass
    finally:
        http("POST", f"{base}/_sim/faults", {"clear": True, "rate": 0.0, "kinds": []})
    snow.sync("ApInvoicePay", svc.pull, refresh=svc)
    for table in VERIFIED:
        snow.verify(table, svc)
    # a row lost on the Snowflake side: the reconciliation finds its day, re-pulls it, balances
    window = ("2026-10-01", "2026-11-23")  # around the simulator's business dates
    snow.query(
        "delete from syspro__ap_invoice where record_key in (select min(record_key) from syspro__ap_invoice"
        f" where not is_deleted and watermark_value >= '{window[0]}' and watermark_value < '{window[1]}')"
    )
    for table in RECONCILED:
        reconcile(snow, svc, table, *window)
    reconcile(snow, svc, "ApInvoice", *window)
    reconcile(snow, svc, "InvWarehouse", None, None)


def build(folder: Path) -> tuple[str, str]:
    """Writes the demo database into `folder` (emptied first); returns (database, schema)."""
    import fakesnow
    import snowflake.connector

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.db*"):
        old.unlink()
    setup_sql = snowside.rendered_setup()
    statements = snowside.rendered_statements()
    database, schema = location(setup_sql)
    with fakesnow.patch(db_path=folder):
        conn = snowflake.connector.connect(database=database, schema=schema)
        try:
            snow = snowside.SnowSide(conn.cursor(), statements)
            snow.setup(setup_sql)
            with syspro_and_service() as (sim, svc):
                load(snow, sim, svc)
        finally:
            conn.close()
    return database, schema


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    database, schema = build(Path(sys.argv[1]))
    print(f"demo data in {sys.argv[1]} ({database}.{schema})")
