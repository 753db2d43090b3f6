"""Upgrade in place: the setup of release v0.1.0 (rendered by that release and kept in
fixtures/v0.1.0/, since a user's account holds what an earlier release created), loaded with data
by that release's own statements, then the current setup applied over it, as a user re-runs
`ml-connector sql` after an upgrade. Nothing may be lost: target rows, the landing log, the
watermark, the audit trail and the user's edits to the control table; and push mode's sync must
then run on the upgraded account (the digest columns added, filled by the next merge). The work
tables, renamed since (raw_syspro__* -> work_syspro__*), hold only a run's in-flight rows: the
upgrade creates the new ones and drops the old.

The account is the SQL API stand-in's database (tests/sqlapi/server.py, in this process), so
the current sync is push mode (`ml-connector sync --once`) reading the SYSPRO simulator."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from pathlib import Path

import pytest

import pushrig
import snowside
from test_data_plane import pages_of

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "v0.1.0"

RETIRED_WORK_TABLES = (
    "raw_syspro__page_buffer",
    "raw_syspro__seen_keys",
    "raw_syspro__backfill_ranges",
    "raw_syspro__refresh_keys",
    "raw_syspro__verify_digests",
)
WORK_TABLES = ("work_syspro__pages", "work_syspro__backfill_ranges", "work_syspro__refresh_keys", "work_syspro__verify_digests")

def old_sync(side: snowside.SnowSide, table: str, pages) -> str:
    """v0.1.0's sync_syspro__<table>, statement by statement, with v0.1.0's statements."""
    run_id = str(uuid.uuid4())
    binds = dict(run_id=run_id, table_name=table, run_kind="sync", poll_id=None)
    side.run("start_run", **binds)
    (since,) = side.run("read_run", run_id=run_id)[0]
    cursor, page_number = None, 0
    while True:
        page_number += 1
        binds.update(page_number=page_number, since=since, page_cursor=cursor, page=pages(table, since, cursor))
        side.run("pull_page", **binds)  # v0.1.0 named it so
        side.run("audit_page", **binds)
        poll_id, cursor, error_kind, _ = side.run("read_page", **binds)[0]
        assert error_kind is None
        side.run(f"land_page__{snowside.slug(table)}", **binds)
        side.run("clear_page_buffer", **binds)
        if cursor is None:
            break
    inserted, updated = side.run(f"merge_poll__{snowside.slug(table)}", poll_id=poll_id)[0]
    side.run("advance_watermark", **binds)
    side.run(
        "finish_run",
        **dict(binds, poll_id=poll_id, run_status="succeeded", rows_inserted=int(inserted), rows_updated=int(updated),
               rows_deleted=None, error_kind=None, error_message=None),
    )
    return run_id


@pytest.mark.skipif(pushrig.binaries_missing() is not None, reason=pushrig.binaries_missing() or "")
def test_the_current_setup_upgrades_a_v0_1_0_account_in_place(setup_sql, statements, tmp_path):
    old_setup = (FIXTURES / "setup.sql").read_text()
    old_statements = json.loads((FIXTURES / "statements.json").read_text())
    database, schema = re.search(r"^create schema if not exists (\w+)\.(\w+)", old_setup, re.M).groups()
    simulator = pushrig.Simulator(seed=7)
    key = pushrig.KeyPair(tmp_path)
    standin = pushrig.StandIn(key, database, schema)
    try:
        cur = standin.backend.cur  # push mode is not running yet: nothing else uses it
        old = snowside.SnowSide(cur, old_statements)
        old.setup(old_setup)
        # v0.1.0 loaded SYSPRO's two newest invoices (within the next sync's overlap window)
        truth = pushrig.expected(simulator, "ApInvoice")
        newest = sorted(truth, key=lambda r: (r["JournalDate"], r["Supplier"], r["Invoice"]))[-2:]
        old_sync(old, "ApInvoice", pages_of("ApInvoice", newest[:1], newest[1:]))
        old_keys = sorted(f"{r['Supplier']}|{r['Invoice']}" for r in newest)
        old.query("update syspro_sync_control set overlap_days = 9 where table_name = 'ApInvoice'")

        def snapshot():
            return dict(
                targets=old.query("select record_key, record, poll_id, fetched_at, is_deleted from syspro__ap_invoice order by 1"),
                landed=old.query("select count(*) from raw_syspro__records")[0][0],
                watermark=old.query("select high_water, last_run_id from syspro_sync_state where table_name = 'ApInvoice'"),
                runs=old.query("select run_id, status, rows_inserted from audit_syspro__runs order by run_id"),
                pages=old.query("select count(*) from audit_syspro__pages")[0][0],
                overlap=old.query("select overlap_days from syspro_sync_control where table_name = 'ApInvoice'"),
            )

        before = snapshot()
        assert sorted(r[0] for r in before["targets"]) == old_keys and before["watermark"][0][0] is not None
        for table in RETIRED_WORK_TABLES:
            assert old.query(f"select count(*) from {table}")[0][0] == 0, f"v0.1.0 created {table}"

        # the upgrade: the current setup over the old account
        new = snowside.SnowSide(cur, statements)
        new.setup(setup_sql)
        assert snapshot() == before, "the upgrade kept data, watermark, audit and the user's edits"
        # the work tables under their new names; the old ones (in-flight rows only) dropped
        for table in RETIRED_WORK_TABLES:
            with pytest.raises(Exception, match="(?i)does not exist|not found|catalog"):
                new.query(f"select count(*) from {table}")
        for table in WORK_TABLES:
            assert new.query(f"select count(*) from {table}")[0][0] == 0

        # push mode syncs the upgraded account: every SYSPRO row lands with its digest, and the
        # rows v0.1.0 loaded are re-read and get theirs
        push = pushrig.PushSide(standin, key, statements).use(simulator)
        run = push.sync("ApInvoice").run("ApInvoice")
        assert run["status"] == "succeeded", run
        # the watermark v0.1.0 stored and the user's overlap of 9 days decide what is re-read
        high_water = before["watermark"][0][0]
        assert run["since"] == (high_water.date() - dt.timedelta(days=9)).isoformat(), (run["since"], high_water)
        rows = dict(new.query("select record_key, record_digest from syspro__ap_invoice where not is_deleted"))
        since_then = {f"{r['Supplier']}|{r['Invoice']}" for r in truth if str(r["JournalDate"])[:10] >= run["since"]}
        assert set(old_keys) <= since_then <= set(rows), sorted(since_then - set(rows))[:3]
        assert all(digest is not None for digest in rows.values()), [k for k, d in rows.items() if d is None][:3]
        assert new.query("select overlap_days from syspro_sync_control where table_name = 'ApInvoice'") == before["overlap"]
        assert new.query("select count(*) from audit_syspro__runs where run_id = %(r)s", {"r": before["runs"][0][0]})[0][0] == 1
    finally:
        standin.close()
        simulator.stop()
