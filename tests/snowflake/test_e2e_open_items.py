"""End to end in push mode, with the changes real SYSPRO makes behind the watermark: the
simulator's business days (payment runs on invoices of any age, PO completions and
cancellations, GRN matching, journal postings, master edits, inserts back-dated past the overlap
window, purges), and `ml-connector sync --once` running each table's cycle — (a) watermark pull,
(b) open-items pull, (c) key refresh — and, with `--verify`, its verify, through the SQL API
stand-in.

After EVERY cycle the AP aging report must equal one computed from SYSPRO's truth; after a verify
run every table must equal SYSPRO exactly (every column, deletes flagged); a verify of unchanged
tables re-pulls nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest

import pushrig
from pushrig import TABLES, by_key, expected, http
from test_e2e import assert_equal_to_syspro, simulator  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(pushrig.binaries_missing() is not None, reason=pushrig.binaries_missing() or "")

CENT = Decimal("0.01")


def aging_from_truth(invoices, suppliers, today: dt.date) -> dict:
    """report_syspro__ap_aging computed in Python from SYSPRO's rows."""
    names = {s["Supplier"]: s.get("SupplierName") for s in suppliers}
    out: dict = defaultdict(lambda: [Decimal(0)] * 6 + [0])
    for inv in invoices:
        balance = Decimal(str(inv["MthInvBal1"]))
        if balance == 0:
            continue
        past_due = (today - dt.date.fromisoformat(str(inv["DueDate"])[:10])).days
        bucket = 0 if past_due <= 0 else 1 if past_due <= 30 else 2 if past_due <= 60 else 3 if past_due <= 90 else 4
        row = out[(inv["Supplier"], names.get(inv["Supplier"]), inv.get("Currency"))]
        row[bucket] += balance
        row[5] += balance
        row[6] += 1
    return {k: tuple(v.quantize(CENT) for v in row[:6]) + (row[6],) for k, row in out.items()}


def aging_in_snowflake(push) -> dict:
    rows = push.query(
        "select supplier_code, supplier_name, currency_code, current_amount, past_due_1_30_amount, "
        "past_due_31_60_amount, past_due_61_90_amount, past_due_over_90_amount, balance_amount, open_invoice_count "
        "from report_syspro__ap_aging"
    )
    # fakesnow sums some decimals as doubles; Snowflake keeps NUMBER: compare at the scale
    return {(r[0], r[1], r[2]): tuple(Decimal(str(v)).quantize(CENT) for v in r[3:9]) + (int(r[9]),) for r in rows}


def test_ap_aging_is_right_after_every_cycle_and_verify_makes_every_table_equal_syspro(push, simulator):  # noqa: F811
    push.use(simulator)
    sim = simulator["base_url"]
    today = push.query("select current_date()")[0][0]
    refreshed = 0
    for cycle in range(4):
        if cycle > 0:
            # a working day in SYSPRO: rows of any age change, dates do not move
            report = simulator.post("/_sim/business_day")
            assert report["tables"]["ApInvoice"]["updated"], "the business day paid no invoices"
        done = push.sync(TABLES)
        for table in TABLES:
            run = done.run(table)
            assert run["status"] == "succeeded", run
            refreshed += int(run["keys_refreshed"] or 0)

        truth = expected(simulator, "ApInvoice")
        assert aging_in_snowflake(push), "no open invoices to age"
        assert aging_in_snowflake(push) == aging_from_truth(truth, expected(simulator, "ApSupplier"), today), f"cycle {cycle}"
        # the open invoices are exactly SYSPRO's, every column, after every cycle
        open_truth = by_key([r for r in truth if Decimal(str(r["MthInvBal1"])) != 0], ["Supplier", "Invoice"])
        open_here = by_key(
            [r for r in push.current_records("ApInvoice").values() if Decimal(str(r["MthInvBal1"])) != 0], ["Supplier", "Invoice"]
        )
        assert open_here == open_truth, f"cycle {cycle}: open invoices differ"
        http("POST", f"{sim}/_sim/advance?days=1")
    assert refreshed > 0, "payments on old invoices must have been refreshed by key"

    # verify: every table equal to SYSPRO, every column, deletes flagged
    done = push.sync(TABLES, verify=True)
    for table in TABLES:
        run = done.run(table, "verify")
        assert run["status"] == "succeeded", run
        assert int(run["keys_compared"]) == len(expected(simulator, table))
    for table in TABLES:
        assert_equal_to_syspro(push, simulator, table, "after verify")
    purged = push.query("select count(*) from audit_syspro__runs where run_kind = 'verify' and keys_flagged_deleted > 0")[0][0]
    deleted = push.query("select count(*) from syspro__ap_invoice where is_deleted")[0][0]
    assert purged > 0 and deleted > 0, "the business days purged invoices; verify or the key refresh must flag them"

    # nothing changed: a second verify compares everything and re-pulls nothing
    done = push.sync(TABLES, verify=True)
    for table in TABLES:
        run = done.run(table, "verify")
        assert run["status"] == "succeeded"
        assert int(run["keys_compared"]) == len(expected(simulator, table))
        assert (int(run["keys_refreshed"]), int(run["keys_flagged_deleted"]), int(run["rows_updated"])) == (0, 0, 0), (table, run)


def test_verify_catches_what_the_watermark_and_open_items_cannot(push, simulator):  # noqa: F811
    """A back-dated row, a hard delete and a row lost on the Snowflake side: the sync alone
    leaves the target different from SYSPRO; verify restores each."""
    push.use(simulator)
    tables = ["ApSupplier", "InvMovements"]
    push.sync(tables)
    http("POST", f"{simulator['base_url']}/_sim/mutate", {"updates": 3, "backdated": 2, "deletes": 2, "backdate_max_days": 40,
                                                          "tables": tables})
    push.query("delete from syspro__inv_movements where record_key in (select record_key from syspro__inv_movements limit 1)")
    push.sync(tables)
    with pytest.raises(AssertionError):
        assert_equal_to_syspro(push, simulator, "InvMovements", "the sync alone")
    done = push.sync(tables, verify=True)
    found = 0
    for table in tables:
        run = done.run(table, "verify")
        assert run["status"] == "succeeded", run
        found += int(run["keys_changed"]) + int(run["keys_absent"]) + int(run["keys_flagged_deleted"])
        assert_equal_to_syspro(push, simulator, table, "after verify")
    movements = done.run("InvMovements", "verify")
    assert int(movements["keys_absent"]) >= 1, movements  # the row lost in Snowflake, at least
    assert found > 0
