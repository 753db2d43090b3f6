"""Demo data for the dashboard (streamlit/), made the way the end-to-end tests make theirs.

The SYSPRO simulator runs; the runnable part of the rendered setup (`ml-connector sql`) is
applied to the SQL API stand-in's fakesnow database, kept in a DuckDB file; push mode
(`ml-connector sync --once [--verify]`) loads it as it would load Snowflake: syncs over two
business days, one sync that meets a SYSPRO outage and fails (audited), verify runs; then a
reconciliation (statement by statement, as the procedures run it, with the service's
SYSPRO_RECONCILE answer) finds a row lost in Snowflake, re-pulls its day and balances again.

    python tests/snowflake/dashboard_demo.py DIR     # writes DIR/<database>.db

The app reads DIR through fakesnow (MLC_DASHBOARD_DB=DIR); scripts/dashboard.sh does both.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
warnings.filterwarnings("ignore")
logging.getLogger("sqlglot").setLevel(logging.ERROR)  # fakesnow's transpiler notes, not errors

import pushrig  # noqa: E402
import snowside  # noqa: E402
from pushrig import TABLES, location  # noqa: E402,F401  (location: used by test_dashboard)
from test_reconcile import reconcile  # noqa: E402

VERIFIED = ("ApInvoice", "ApSupplier", "InvWarehouse", "GrnDetails")
RECONCILED = ("ApInvoice", "GenJournalDetail", "InvMovements")


@contextlib.contextmanager
def syspro_and_service():
    """The simulator, and the service for the external function only the procedures call."""
    missing = pushrig.binaries_missing()
    if missing:
        raise SystemExit(missing)
    sim = pushrig.Simulator(seed=7, page_cap=200)
    svc = None
    try:
        svc, functions = pushrig.start_service(sim, max_attempts=2)
        yield sim, functions
    finally:
        if svc is not None:
            svc.stop()
        sim.stop()


def load(push: pushrig.PushSide, sim: pushrig.Simulator, svc: pushrig.ExternalFunctions) -> None:
    """What a few days of push mode (and the reconciliation tasks) leave behind."""
    push.use(sim, max_attempts=2)
    push.sync(TABLES)
    # a working day in SYSPRO: payments, receipts, postings, purges; then the next day
    sim.post("/_sim/business_day")
    sim.post("/_sim/advance?days=1")
    push.sync(TABLES)
    # SYSPRO is down for one sync: the run fails with the service's error, and the next recovers
    sim.faults(1.0, [{"kind": "status", "code": 503}])
    try:
        failed = push.sync("ApInvoicePay", expect_ok=False).run("ApInvoicePay")
    finally:
        sim.clear_faults()
    assert failed["status"] == "failed", failed
    push.sync("ApInvoicePay")
    push.sync(list(VERIFIED), verify=True)
    # a row lost on the Snowflake side: the reconciliation finds its day, re-pulls it, balances
    window = ("2026-10-01", "2026-11-23")  # around the simulator's business dates
    push.query(
        "delete from syspro__ap_invoice where record_key in (select min(record_key) from syspro__ap_invoice"
        f" where not is_deleted and watermark_value >= '{window[0]}' and watermark_value < '{window[1]}')"
    )
    for table in RECONCILED:
        reconcile(push, svc, table, *window)
    reconcile(push, svc, "ApInvoice", *window)
    reconcile(push, svc, "InvWarehouse", None, None)


def build(folder: Path) -> tuple[str, str]:
    """Writes the demo database into `folder` (emptied first); returns (database, schema)."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.db*"):
        old.unlink()
    setup_sql = snowside.rendered_setup()
    statements = snowside.rendered_statements()
    database, schema = location(setup_sql)
    with tempfile.TemporaryDirectory() as keys:
        push = pushrig.push_side(Path(keys), setup_sql, statements, db_path=folder)
        try:
            with syspro_and_service() as (sim, svc):
                load(push, sim, svc)
        finally:
            push.standin.close()
    return database, schema


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    database, schema = build(Path(sys.argv[1]))
    print(f"demo data in {sys.argv[1]} ({database}.{schema})")
