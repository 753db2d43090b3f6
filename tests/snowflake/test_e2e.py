"""End to end in push mode: the SYSPRO simulator, `ml-connector sync --once [--verify]` loading
Snowflake through the SQL API stand-in, and the stand-in's fakesnow database compared with
SYSPRO's truth. After several cycles of SYSPRO changes (inserts, updates, back-dated rows, hard
deletes) every target table must equal the simulator's records, the audit trail must account for
every page and row, and merging a landed poll again must change nothing.

Skipped only when the binaries are not built; if they exist and fail, the test fails.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest

import pushrig
import snowside
from pushrig import TABLES, by_key, expected, http, loads_exact

pytestmark = pytest.mark.skipif(pushrig.binaries_missing() is not None, reason=pushrig.binaries_missing() or "")


@pytest.fixture(scope="module")
def simulator():
    sim = pushrig.Simulator(seed=7, page_cap=200)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(scope="module")
def service(simulator):
    """The service's external functions, for what only the procedures call (SYSPRO_SCHEMA)."""
    process, functions = pushrig.start_service(simulator)
    try:
        yield functions
    finally:
        process.stop()


def assert_equal_to_syspro(push, simulator, table, when: str, ignore: set = frozenset()) -> None:
    """Every live row of the target is SYSPRO's record, every column; nothing more, nothing less
    (but the live rows whose record_key is in `ignore`)."""
    keys = push.key_columns(table)
    truth = expected(simulator, table)
    assert truth, f"simulator has no rows for {table}"
    got = [r for k, r in push.current_records(table).items() if k not in ignore]
    assert len(got) == len(truth), f"{when}: {table} has {len(got)} rows, SYSPRO {len(truth)}"
    want, have = by_key(truth, keys), by_key(got, keys)
    assert have.keys() == want.keys(), (
        f"{when}: {table} keys differ: missing {sorted(want.keys() - have.keys())[:3]}, extra {sorted(have.keys() - want.keys())[:3]}"
    )
    diffs = [k for k in want if have[k] != want[k]]
    assert not diffs, f"{when}: {table} differs for {diffs[:3]}: {[(have[k], want[k]) for k in diffs[:1]]}"


def refresh_typed_view(push, table: str, schema_page: str) -> None:
    """What refresh_syspro_typed_views() does for one table (procedure only: push mode leaves
    typed views to it): the two statements, then the DDL they produce."""
    binds = dict(run_id=str(uuid.uuid4()), table_name=table, page_number=1)
    push.run("buffer_schema", **binds, page=schema_page)
    view_ddl, unsafe_columns = push.run("typed_view_ddl", **binds)[0]
    assert view_ddl is not None and int(unsafe_columns) == 0, (view_ddl, unsafe_columns)
    push.query(view_ddl)
    push.run("clear_page_buffer", run_id=binds["run_id"])


def test_targets_equal_syspro_after_cycles_of_changes_and_merging_again_changes_nothing(push, simulator, service):
    push.use(simulator)
    sim = simulator["base_url"]
    purged: dict[str, set] = {table: set() for table in TABLES}  # keys SYSPRO hard-deleted
    cycles = 4
    for cycle in range(cycles):
        if cycle > 0:
            # SYSPRO moves on: new, changed, back-dated and hard-deleted rows, then a new day
            changed = http("POST", f"{sim}/_sim/mutate", {"inserts": 5, "updates": 5, "backdated": 3, "deletes": 2, "backdate_max_days": 3})
            for table, change in json.loads(changed)["tables"].items():
                keys = push.key_columns(table)
                purged[table] |= {"|".join(str(k[c]) for c in keys) for k in change["deleted"]}
            http("POST", f"{sim}/_sim/advance?days=1")
        # push mode flags hard deletes in its verify (it has no separate delete scan): the last
        # cycle verifies every table
        last = cycle == cycles - 1
        done = push.sync(TABLES, verify=last)
        for table in TABLES:
            run = done.run(table)
            assert run["status"] == "succeeded", run
            landed = push.query("select count(*) from raw_syspro__records where run_id = %(r)s", {"r": run["run_id"]})[0][0]
            assert int(run["rows_pulled"]) == int(landed), run
            if last:
                verify = done.run(table, "verify")
                assert verify["status"] == "succeeded", verify
                assert int(verify["keys_compared"]) == len(expected(simulator, table)), verify
        for table in TABLES:
            if last:
                assert_equal_to_syspro(push, simulator, table, f"cycle {cycle}, verified")
            else:
                # every SYSPRO row, every column; rows SYSPRO hard-deleted may wait for a verify
                live = push.current_records(table)
                gone = {k for k in live if k in purged[table]}
                assert_equal_to_syspro(push, simulator, table, f"cycle {cycle}", ignore=gone)
    assert any(purged.values()), "the simulator deleted no rows"

    # the watermark rule at work: incremental tables re-read from high water - 3 days
    since, stored = push.query(
        "select since, stored_high_water from audit_syspro__runs where table_name = 'ApInvoice' and run_kind = 'sync' order by started_at desc limit 1"
    )[0]
    assert since == (stored.date() - dt.timedelta(days=3)).isoformat()
    assert push.query("select count(*) from audit_syspro__runs where since is not null and table_name = 'ApSupplier'")[0][0] == 0

    # the audit trail accounts for every page and row
    orphans = push.query(
        "select count(*) from raw_syspro__records as r left join audit_syspro__runs as a on a.run_id = r.run_id where a.run_id is null"
    )[0][0]
    assert orphans == 0
    mismatched = push.query(
        """
        select count(*) from audit_syspro__runs as runs
        where runs.run_kind = 'sync' and (
            runs.status <> 'succeeded'
            or runs.finished_at is null
            or runs.pages <> (select count(*) from audit_syspro__pages as p where p.run_id = runs.run_id)
            or runs.rows_pulled <> (select count(*) from raw_syspro__records as r where r.run_id = runs.run_id)
        )
        """
    )[0][0]
    assert mismatched == 0
    assert push.query("select count(*) from audit_syspro__pages where error_kind is not null")[0][0] == 0
    assert push.query("select count(*) from audit_syspro__runs where status <> 'succeeded'")[0][0] == 0
    deleted = push.query(
        "select sum(coalesce(keys_flagged_deleted, 0) + coalesce(rows_deleted, 0)) from audit_syspro__runs where run_kind = 'verify'"
    )[0][0]
    assert int(deleted) > 0, "the simulator deleted rows; verify must have flagged some"
    assert push.query("select count(*) from work_syspro__pages")[0][0] == 0, "work copies left behind"

    # merging any landed poll again (what replay_syspro_poll runs) is a no-op on the targets
    for table in ("ApInvoice", "InvMovements", "ApSupplier"):
        slug = snowside.slug(table)
        before = push.query(f"select record_key, record_hash, poll_id, loaded_at, is_deleted from syspro__{slug} order by 1")
        polls = push.query("select distinct poll_id from raw_syspro__records where table_name = %(t)s", {"t": table})
        assert polls
        for (poll_id,) in polls:
            inserted, updated = push.run(f"merge_poll__{slug}", poll_id=poll_id)[0]
            assert (int(inserted), int(updated)) == (0, 0), (table, poll_id)
        after = push.query(f"select record_key, record_hash, poll_id, loaded_at, is_deleted from syspro__{slug} order by 1")
        assert after == before

    # typed views from the service's own schema answer
    for table in ("ApInvoice", "InvWarehouse"):
        refresh_typed_view(push, table, service.call("/v1/schema", table))
        count = push.query(f"select count(*) from stg_syspro__{snowside.slug(table)}")[0][0]
        assert count == len(expected(simulator, table))
    # history: the current version of every live record is the target's record
    for table in ("ApInvoice", "InvWarehouse"):
        current = push.query(f"select record_key, record from hist_syspro__{snowside.slug(table)} where is_current")
        assert {k: loads_exact(r) for k, r in current} == push.current_records(table)

    # reports agree with SYSPRO's truth
    invoices = expected(simulator, "ApInvoice")
    open_balance = sum(Decimal(str(r["MthInvBal1"])) for r in invoices)
    aged = push.query("select sum(balance_amount) from report_syspro__ap_aging")[0][0]
    assert abs(Decimal(str(aged)) - open_balance) < Decimal("0.01")
    # spend keeps invoices SYSPRO purged (flagged deleted here): past spend never shrinks (#19)
    purged = [loads_exact(r) for (r,) in push.query("select record from syspro__ap_invoice where is_deleted")]
    spend = push.query(
        "select sum(spend_amount), sum(invoice_count), sum(deleted_invoice_count) from report_syspro__spend_by_supplier"
    )[0]
    want_spend = sum(Decimal(str(r["OrigInvValue"])) for r in invoices + purged)
    assert abs(Decimal(str(spend[0])) - want_spend) < Decimal("0.01")
    assert int(spend[1]) == len(invoices) + len(purged) and int(spend[2]) == len(purged)
    on_hand = push.query("select sum(stock_value_amount) from report_syspro__stock_by_warehouse")[0][0]
    want = sum(Decimal(str(r["QtyOnHand"])) * Decimal(str(r["UnitCost"])) for r in expected(simulator, "InvWarehouse"))
    assert abs(Decimal(str(on_hand)) - want) < Decimal("0.01")


def test_a_syspro_outage_is_audited_and_leaves_the_watermark(push, simulator):
    push.use(simulator)
    push.sync("ApInvoice")
    before = push.high_water("ApInvoice")
    assert before is not None

    simulator.faults(1.0, [{"kind": "status", "code": 503}])
    try:
        done = push.sync("ApInvoice", expect_ok=False)
    finally:
        simulator.clear_faults()
    assert done.returncode != 0, "a failed cycle makes `sync --once` exit non-zero"

    run = done.run("ApInvoice")
    assert run["status"] == "failed" and run["error_kind"] and run["error_kind"] != "snowflake_error", run
    assert run["error_message"] and run["finished_at"] is not None
    assert run["new_high_water"] == before == push.high_water("ApInvoice")
    attempts = push.query("select max(error_attempts) from audit_syspro__pages where run_id = %(r)s", {"r": run["run_id"]})[0][0]
    assert int(attempts) >= 1
    assert push.query("select count(*) from work_syspro__pages")[0][0] == 0

    # SYSPRO is back: the next run re-reads from the same watermark and catches up
    push.sync("ApInvoice")
    truth = by_key(expected(simulator, "ApInvoice"), ["Supplier", "Invoice"])
    have = by_key(list(push.current_records("ApInvoice").values()), ["Supplier", "Invoice"])
    assert have == truth


def test_a_run_cut_off_mid_load_is_closed_as_abandoned_and_the_next_run_finishes_the_load(push, simulator):
    """A push-mode process killed mid-load (a crash, a lost VM): its run stays 'running' with
    pages in the buffer; once the task timeout has passed, the next run closes it as
    'abandoned', removes its work rows, and loads the table to SYSPRO's truth."""
    import subprocess
    import time

    push.use(simulator, page_rows=50)
    args = [str(pushrig.SERVICE), "sync", "--once"]
    process = subprocess.Popen(args, env=push.env("ApInvoice"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while True:  # until the run has audited two pages
            pages = push.query("select count(*) from audit_syspro__pages")[0][0]
            if pages >= 2:
                break
            assert process.poll() is None, f"sync ended before it was cut: {process.stderr.read()[-2000:]}"
            assert time.monotonic() < deadline, "no page audited within 300 s"
            time.sleep(0.05)
        process.kill()
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    (cut,) = push.query("select run_id from audit_syspro__runs where table_name = 'ApInvoice'")[0]
    assert push.run_row(cut)["status"] == "running"
    # the task timeout passes
    push.query("update audit_syspro__runs set started_at = dateadd(hour, -2, started_at) where run_id = %(r)s", {"r": cut})

    run = push.sync("ApInvoice").run("ApInvoice")
    assert run["status"] == "succeeded", run
    cut_row = push.run_row(cut)
    assert cut_row["status"] == "abandoned" and cut_row["error_kind"] == "abandoned", cut_row
    assert push.query("select count(*) from work_syspro__pages")[0][0] == 0
    truth = by_key(expected(simulator, "ApInvoice"), ["Supplier", "Invoice"])
    have = by_key(list(push.current_records("ApInvoice").values()), ["Supplier", "Invoice"])
    assert have == truth
