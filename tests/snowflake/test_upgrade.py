"""Upgrade in place: the setup of release v0.1.0 (rendered by that release and kept in
fixtures/v0.1.0/, since a user's account holds what an earlier release created), loaded with data
by that release's own statements, then the current setup applied over it, as a user re-runs
`ml-connector sql` after an upgrade. Nothing may be lost: target rows, the landing log, the
watermark, the audit trail and the user's edits to the control table; and the current statements
must then run on the upgraded account (the digest columns added, filled by the next merge)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import fakesnow
import snowflake.connector

import snowside
from test_data_plane import Pages, digested, invoice, pages_of

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "v0.1.0"


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
        side.run("pull_page", **binds)
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


def test_the_current_setup_upgrades_a_v0_1_0_account_in_place(setup_sql, statements):
    old_setup = (FIXTURES / "setup.sql").read_text()
    old_statements = json.loads((FIXTURES / "statements.json").read_text())
    database, schema = re.search(r"^create schema if not exists (\w+)\.(\w+)", old_setup, re.M).groups()
    with fakesnow.patch():
        conn = snowflake.connector.connect(database=database, schema=schema)
        cur = conn.cursor()
        old = snowside.SnowSide(cur, old_statements)
        old.setup(old_setup)
        old_sync(old, "ApInvoice", pages_of("ApInvoice", [invoice("S1", "0001", "2026-11-20", "10.00")], [invoice("S1", "0002", "2026-11-21", "5.00")]))
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
        assert len(before["targets"]) == 2 and before["watermark"][0][0] is not None

        # the upgrade: the current setup over the old account
        new = snowside.SnowSide(cur, statements)
        new.setup(setup_sql)
        assert snapshot() == before, "the upgrade kept data, watermark, audit and the user's edits"

        # the current statements run on the upgraded account: digests land and fill old rows
        new.sync("ApInvoice", Pages(digested("ApInvoice", [invoice("S1", "0001", "2026-11-20", "10.00"), invoice("S1", "0003", "2026-11-22", "1.00")])))
        rows = new.query("select record_key, record_digest from syspro__ap_invoice where not is_deleted order by 1")
        assert [r[0] for r in rows] == ["S1|0001", "S1|0002", "S1|0003"]
        assert rows[0][1] is not None and rows[2][1] is not None, rows
        assert new.query("select overlap_days from syspro_sync_control where table_name = 'ApInvoice'") == before["overlap"]
        conn.close()
