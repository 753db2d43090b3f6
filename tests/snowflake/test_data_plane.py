"""The data-plane statements on fakesnow, with hand-made answers shaped like the service's
(CONTRACT.md §3): landing, dedupe, MERGE, audit, watermark, replay, open items and the key
refresh, verify's digests and hard deletes, typed views, history and reports. The statements are
those `ml-connector sql --statements-json` prints; each test runs the ones it checks explicitly
(`SnowSide.start/land/merge/run/finish`), in the order the procedures (sql/70_procedures) chain
them, and puts its fixture rows in the target with `SnowSide.load`.

No test here replays the sync cycle: the cycle is written once, in Rust (src/sync/cycle.rs), and
its control flow is tested there and in push mode. The cycle-level checks this file used to make
through a Python replay of the procedures, and where each is covered now:

- which pages are asked for, with which `since` and cursor, each row landed once across pages,
  the next run re-reading from the watermark: src/sync/cycle/tests.rs::every_row_lands_exactly_once_across_pages
  (here: audit_page records each page's requested cursor and next cursor, start_run's `since`).
- an error answer fails the run ('failed', the service's error_kind) and the watermark stays where
  the merged pages left it: src/sync/cycle/tests.rs::an_error_answer_is_audited_and_the_watermark_stays,
  tests/snowflake/test_e2e.py::test_a_syspro_outage_is_audited_and_leaves_the_watermark,
  tests/push/sync.rs::a_failing_cycle_is_audited_retried_and_keeps_the_watermark.
- a failed statement fails the run as 'snowflake_error' without moving the watermark:
  src/sync/cycle/tests.rs::the_watermark_moves_only_with_its_merge,
  tests/push/sync.rs::a_failing_cycle_is_audited_retried_and_keeps_the_watermark (a MERGE refused).
- pages_per_run ends a run 'partial' and the next run goes on from its watermark:
  src/sync/cycle/tests.rs::a_first_load_goes_on_run_after_run_when_pages_per_run_ends_it.
- a run cut off mid-load (left 'running', a page in the buffer) is closed 'abandoned' by a later
  run, which finishes the load:
  tests/snowflake/test_e2e.py::test_a_run_cut_off_mid_load_is_closed_as_abandoned_and_the_next_run_finishes_the_load,
  tests/push/sync.rs::a_cycle_still_busy_after_the_grace_period_is_abandoned_and_audited,
  tests/push/sync.rs::a_stop_ends_the_cycle_at_a_step_boundary_and_audits_it,
  src/sync/cycle/tests.rs::a_stop_cancels_before_the_next_commit
  (here: what close_abandoned_runs and clear_abandoned_runs do, before and after the timeout).
- the key refresh runs after the watermark step, calls pull_open then one pull_keys per batch,
  makes no pull by key when nothing was collected, and never moves the watermark:
  src/sync/cycle/tests.rs::a_key_refresh_follows_the_watermark_and_never_moves_it,
  tests/snowflake/test_e2e_open_items.py::test_ap_aging_is_right_after_every_cycle_and_verify_makes_every_table_equal_syspro
  (here: the keys collect_refresh_keys and collect_verify_keys batch, and that none is collected).
- a failing open-items pull or digests scan fails the run after the committed watermark step:
  src/sync/cycle/tests.rs::an_error_answer_is_audited_and_the_watermark_stays (the same page
  handling for every pull), tests/snowflake/test_chaos.py::test_chaos_cycles_end_equal_to_syspro_with_every_failure_audited
  (SYSPRO faults in syncs and verifies, every failed run audited).
- verify calls pull_keys with exactly the keys that differ or are missing, and a verify of
  unchanged tables calls nothing but the digest scan:
  tests/snowflake/test_e2e_open_items.py::test_verify_catches_what_the_watermark_and_open_items_cannot,
  tests/snowflake/test_e2e_open_items.py::test_ap_aging_is_right_after_every_cycle_and_verify_makes_every_table_equal_syspro.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest

KEYS = {
    "ApInvoice": ["Supplier", "Invoice"],
    "ApSupplier": ["Supplier"],
    "InvWarehouse": ["StockCode", "Warehouse"],
    "ApInvoicePay": ["Supplier", "Invoice", "EntryNumber"],
}
WATERMARK = {"ApInvoice": "JournalDate", "ApSupplier": None, "InvWarehouse": None, "ApInvoicePay": "JournalDate"}


# -- hand-made answers --------------------------------------------------------------------------


def page(table, rows, *, poll_id, page=1, next_cursor=None, fetched_at="2026-11-30T10:00:00.123", since=None):
    wm = WATERMARK[table]
    high_water = max((r[wm] for r in rows), default=None) if wm else None
    return encode(
        {
            "table": table,
            "poll_id": poll_id,
            "fetched_at": fetched_at,
            "since": since,
            "rows": rows,
            "row_count": len(rows),
            "next_cursor": next_cursor,
            "high_water": high_water,
            "key_columns": KEYS[table],
            "watermark_column": wm,
            "page": page,
        }
    )


def invoice(supplier, number, journal_date, balance="100.00", due="2026-12-15"):
    # amounts are JSON numbers with exact digits: built as text, never through float
    return {
        "Supplier": supplier,
        "Invoice": number,
        "InvoiceDate": f"{journal_date}T00:00:00",
        "JournalDate": f"{journal_date}T00:00:00",
        "DueDate": f"{due}T00:00:00",
        "OrigInvValue": Decimal(balance),
        "MthInvBal1": Decimal(balance),
        "Currency": "ZAR",
    }


def supplier(code, name):
    return {"Supplier": code, "SupplierName": name}


def payment(supplier, number, entry, journal_date, value):
    return {"Supplier": supplier, "Invoice": number, "EntryNumber": entry, "JournalDate": f"{journal_date}T00:00:00", "TrnValue": Decimal(value)}


class Pages:
    """Serves prepared pages in the order asked, as the service would (test_upgrade.py feeds
    v0.1.0's statements with it)."""

    def __init__(self, *pages_json):
        self.pages = list(pages_json)
        self.calls = []

    def __call__(self, table, since, cursor):
        self.calls.append((table, since, cursor))
        return self.pages[len(self.calls) - 1]


def encode(obj) -> str:
    """JSON with Decimals written as exact JSON numbers, as the service writes amounts."""
    text = json.dumps(obj, default=lambda d: f"@@{d}@@")
    return text.replace('"@@', "").replace('@@"', "")


def pages_of(table, *batches, poll_id=None, **kw):
    """One poll split over pages (one per batch of rows), cursors chained; `.pages` are the
    pages' JSON texts."""
    poll_id = poll_id or str(uuid.uuid4())
    out = []
    for i, rows in enumerate(batches, start=1):
        cursor = None if i == len(batches) else f"c{i}"
        out.append(page(table, rows, poll_id=poll_id, page=i, next_cursor=cursor, **kw))
    return Pages(*out)


def digested(table, rows, *, poll_id=None, digests=None, **kw):
    """A pull page with the service's `digests` (aligned with rows); default: one per record."""
    text = page(table, rows, poll_id=poll_id or str(uuid.uuid4()), **kw)
    obj = json.loads(text, parse_float=Decimal)
    obj["digests"] = digests if digests is not None else [digest_of(r) for r in rows]
    return encode(obj)


def digest_of(record) -> str:
    """Stands in for the service's digest: any pure function of the record will do here."""
    import hashlib

    return hashlib.md5(encode(dict(sorted(record.items()))).encode()).hexdigest()


class Service:
    """Answers syspro_pull_open / syspro_pull_keys / syspro_digests from a dict of records, as
    the service does: rows with their digests, `missing` for keys it does not have."""

    def __init__(self, table, records, *, is_open=None, fetched_at="2026-11-30T11:00:00"):
        self.table, self.records, self.is_open, self.fetched_at = table, records, is_open, fetched_at

    def key_of(self, record):
        return tuple(str(record[k]) for k in KEYS[self.table])

    def answer(self, rows, **extra):
        obj = json.loads(page(self.table, rows, poll_id=str(uuid.uuid4()), fetched_at=self.fetched_at), parse_float=Decimal)
        obj.update(high_water=None, digests=[digest_of(r) for r in rows], **extra)
        return encode(obj)

    def pull_open(self, table, cursor):
        return self.answer([r for r in self.records if self.is_open(r)], open_items="MthInvBal1 ne 0")

    def pull_keys(self, table, keys, cursor):
        assert all(set(k) == set(KEYS[table]) for k in keys), keys
        have = {self.key_of(r): r for r in self.records}
        wanted = [tuple(str(k[c]) for c in KEYS[table]) for k in keys]
        rows = [have[w] for w in wanted if w in have]
        return self.answer(rows, missing=[k for k, w in zip(keys, wanted) if w not in have])

    def digests(self, table, cursor):
        keys = [{c: r[c] for c in KEYS[table]} for r in self.records]
        return json.dumps({"table": table, "key_columns": KEYS[table], "keys": keys,
                           "digests": [digest_of(r) for r in self.records], "next_cursor": None}, default=str)


def open_invoice(record):
    return record["MthInvBal1"] != 0


# -- reading the statements' results --------------------------------------------------------------


def flag(snow, statement, **binds) -> int:
    """Runs one of the UPDATEs that flag target rows deleted; returns how many it flagged (what
    the procedures read as sqlrowcount)."""
    snow.run(statement, **binds)
    return max(snow.cur.rowcount or 0, 0)


def batches_of(snow, run_id) -> list[tuple[int, int, list]]:
    """read_refresh_batches: (batch_number, key_count, keys) of the run's collected keys."""
    return [(int(b), int(n), json.loads(keys)) for b, n, keys in snow.run("read_refresh_batches", run_id=run_id)]


def reasons_of(snow, run_id) -> dict[str, str]:
    return dict(snow.query("select record_key, reason from work_syspro__refresh_keys where run_id = %(r)s", {"r": run_id}))


def ints(run, *names):
    return tuple(None if run[n] is None else int(run[n]) for n in names)


# -- setup -------------------------------------------------------------------------------------------


def test_setup_seeds_the_control_table_from_the_catalog(snow):
    rows = snow.query("select table_name, schedule_group, overlap_days, is_enabled from syspro_sync_control order by 1")
    assert len(rows) == 13
    groups = {name: group for name, group, _, _ in rows}
    assert groups["ApInvoice"] == "financial" and groups["ApSupplier"] == "masters"
    assert all(int(days) == 3 and enabled for _, _, days, enabled in rows)


def test_re_running_the_setup_keeps_data_and_the_users_control_edits(snow, setup_sql):
    snow.load("ApSupplier", *pages_of("ApSupplier", [supplier("S1", "Acme")]).pages)
    snow.query("update syspro_sync_control set overlap_days = 7, is_enabled = false where table_name = 'ApInvoice'")
    snow.setup(setup_sql)
    assert snow.query("select overlap_days, is_enabled from syspro_sync_control where table_name = 'ApInvoice'") == [(7, False)]
    assert snow.query("select count(*) from syspro_sync_control")[0][0] == 13
    assert set(snow.current_records("ApSupplier")) == {"S1"}


# -- landing, MERGE, audit and the watermark -------------------------------------------------------


def test_pages_land_with_every_digit_merge_audit_and_advance_the_watermark_with_each_merge(snow):
    poll = str(uuid.uuid4())
    first, second = pages_of(
        "ApInvoice",
        [invoice("S1", "0001", "2026-11-18", "12345678901.23"), invoice("S1", "0002", "2026-11-19")],
        [invoice("S2", "0001", "2026-11-20")],
        poll_id=poll,
    ).pages
    run_id, since = snow.start("ApInvoice")
    assert since is None  # no watermark and no initial_since: everything

    # as sync_syspro__<table> takes each page: buffer, audit, read back, land, clear the buffer;
    # then MERGE the poll so far, advance the watermark and update the audit row
    assert snow.land("ApInvoice", first, run_id=run_id, page_number=1, since=since) == (poll, "c1", None, None)
    assert snow.merge("ApInvoice", poll) == (2, 0)
    snow.run("advance_watermark", run_id=run_id, table_name="ApInvoice")
    snow.finish(run_id, "ApInvoice", "running", inserted=2, updated=0)
    assert snow.high_water("ApInvoice") == dt.datetime(2026, 11, 19)  # page 1's, moved with its MERGE
    assert snow.run_row(run_id)["status"] == "running"

    assert snow.land("ApInvoice", second, run_id=run_id, page_number=2, since=since, cursor="c1") == (poll, None, None, None)
    assert snow.merge("ApInvoice", poll) == (1, 0)  # the poll so far: page 1's rows are not rewritten
    snow.run("advance_watermark", run_id=run_id, table_name="ApInvoice")
    snow.finish(run_id, "ApInvoice", inserted=3, updated=0)

    current = snow.current_records("ApInvoice")
    assert set(current) == {"S1|0001", "S1|0002", "S2|0001"}
    assert current["S1|0001"]["OrigInvValue"] == Decimal("12345678901.23")  # every digit kept
    landed = snow.query("select page_number, count(*) from raw_syspro__records where poll_id = %(p)s group by 1 order by 1", {"p": poll})
    assert [(int(p), int(n)) for p, n in landed] == [(1, 2), (2, 1)]
    audited = snow.query(
        "select page_number, requested_cursor, next_cursor, row_count from audit_syspro__pages where run_id = %(r)s order by 1",
        {"r": run_id},
    )
    assert [(int(p), c, n, int(rows)) for p, c, n, rows in audited] == [(1, None, "c1", 2), (2, "c1", None, 1)]
    run = snow.run_row(run_id)
    assert run["status"] == "succeeded" and run["poll_id"] == poll and run["run_kind"] == "sync"
    assert ints(run, "pages", "rows_pulled", "rows_inserted", "rows_updated") == (2, 3, 3, 0)
    assert run["new_high_water"] == dt.datetime(2026, 11, 20) == snow.high_water("ApInvoice")
    assert run["pulled_high_water"] == dt.datetime(2026, 11, 20)
    assert run["finished_at"] >= run["started_at"]
    target = snow.query("select poll_id, first_poll_id, fetched_at, is_deleted from syspro__ap_invoice where record_key = 'S2|0001'")[0]
    assert target[:2] == (poll, poll) and target[2] == dt.datetime(2026, 11, 30, 10, 0, 0, 123000) and target[3] is False
    assert snow.query("select count(*) from work_syspro__pages")[0][0] == 0


def test_since_is_the_high_water_minus_the_overlap_in_days(snow):
    snow.load("ApInvoice", page("ApInvoice", [invoice("S1", "0001", "2026-11-20")], poll_id=str(uuid.uuid4())))
    run_id, since = snow.start("ApInvoice")
    assert since == "2026-11-17"
    assert snow.run_row(run_id)["stored_high_water"] == dt.datetime(2026, 11, 20)
    snow.finish(run_id, "ApInvoice")
    snow.query("update syspro_sync_control set overlap_days = 0 where table_name = 'ApInvoice'")
    assert snow.start("ApInvoice")[1] == "2026-11-20"  # >= the day itself, never >


def test_re_read_same_day_and_back_dated_rows_merge_once_and_duplicates_keep_the_latest(snow):
    first = [invoice("S1", "0001", "2026-11-19"), invoice("S1", "0002", "2026-11-20")]
    snow.load("ApInvoice", *pages_of("ApInvoice", first).pages)
    again = [
        invoice("S1", "0001", "2026-11-19"),  # re-read by the overlap, unchanged
        invoice("S1", "0002", "2026-11-20", "55.00"),  # changed
        invoice("S1", "0003", "2026-11-20"),  # posted later on the same day
        invoice("S9", "0001", "2026-11-16"),  # back-dated into the overlap window
    ]
    # the same key twice in one poll (SYSPRO paging under writes): the later watermark wins,
    # although its page came first
    dupes = [invoice("S7", "0001", "2026-11-18", "1.00"), invoice("S7", "0001", "2026-11-19", "2.00")]
    poll = str(uuid.uuid4())
    one, two = pages_of("ApInvoice", again[:2] + dupes[1:], again[2:] + dupes[:1], poll_id=poll).pages
    run_id, since = snow.start("ApInvoice")
    snow.land("ApInvoice", one, run_id=run_id, page_number=1, since=since)
    snow.land("ApInvoice", two, run_id=run_id, page_number=2, since=since, cursor="c1")
    assert snow.merge("ApInvoice", poll) == (3, 1)  # one MERGE of both pages: its source deduped
    current = snow.current_records("ApInvoice")
    assert len(current) == 5
    assert current["S1|0002"]["MthInvBal1"] == Decimal("55.00")
    assert current["S7|0001"]["MthInvBal1"] == Decimal("2.00")
    unchanged = snow.query("select poll_id = first_poll_id from syspro__ap_invoice where record_key = 'S1|0001'")[0][0]
    assert unchanged, "an unchanged re-read must not rewrite the row"
    assert snow.merge("ApInvoice", poll) == (0, 0)  # merging the poll again changes nothing


def test_an_error_answer_is_audited_not_landed_and_the_merged_page_keeps_its_watermark_and_replays(snow):
    snow.load("ApInvoice", page("ApInvoice", [invoice("S1", "0001", "2026-11-20")], poll_id=str(uuid.uuid4())))
    before = snow.high_water("ApInvoice")
    poll = str(uuid.uuid4())
    good = page("ApInvoice", [invoice("S5", "0001", "2026-11-25")], poll_id=poll, next_cursor="c1")
    error = json.dumps({"error": {"kind": "upstream_unavailable", "message": "SYSPRO answered 503", "attempts": 6}, "table": "ApInvoice", "poll_id": poll})

    run_id, since = snow.start("ApInvoice")
    assert snow.land("ApInvoice", good, run_id=run_id, page_number=1, since=since) == (poll, "c1", None, None)
    assert snow.merge("ApInvoice", poll) == (1, 0)
    snow.run("advance_watermark", run_id=run_id, table_name="ApInvoice")
    snow.finish(run_id, "ApInvoice", "running", inserted=1, updated=0)
    # the error answer: audited with the service's error, read back as one, landed nowhere
    read = snow.land("ApInvoice", error, run_id=run_id, page_number=2, since=since, cursor="c1")
    assert read == (poll, None, "upstream_unavailable", "SYSPRO answered 503")
    landed = snow.query("select page_number, count(*) from raw_syspro__records where run_id = %(r)s group by 1", {"r": run_id})
    assert [(int(p), int(n)) for p, n in landed] == [(1, 1)]
    pages = snow.query("select page_number, error_kind, error_attempts from audit_syspro__pages where run_id = %(r)s order by 1", {"r": run_id})
    assert [(int(p), k, a and int(a)) for p, k, a in pages] == [(1, None, None), (2, "upstream_unavailable", 6)]
    # the failure handler's statements (fail_run.sql): clear the buffer, close the row with the
    # service's error and no counts of its own, which keeps those the committed page recorded
    snow.run("clear_page_buffer", run_id=run_id)
    snow.finish(run_id, "ApInvoice", "failed", kind=read[2], message=read[3])

    run = snow.run_row(run_id)
    assert run["status"] == "failed" and run["error_kind"] == "upstream_unavailable"
    assert "503" in run["error_message"] and ints(run, "rows_inserted", "rows_updated") == (1, 0)
    # the page before the error was merged with its watermark (issue #19): the watermark
    # stands at its high water, never past it
    after = snow.high_water("ApInvoice")
    assert int(run["pages"]) == 2 and after > before and after == dt.datetime(2026, 11, 25) == run["new_high_water"]
    assert "S5|0001" in snow.current_records("ApInvoice")
    assert snow.query("select count(*) from work_syspro__pages")[0][0] == 0

    # replay_syspro_poll__<table>: start_run (kind replay), merge_poll, finish_run; no watermark
    def replay():
        replay_id = str(uuid.uuid4())
        snow.run("start_run", run_id=replay_id, table_name="ApInvoice", run_kind="replay", poll_id=poll)
        assert snow.run("read_run", run_id=replay_id)[0][0] is None  # a replay has no since
        inserted, updated = snow.merge("ApInvoice", poll)
        snow.finish(replay_id, "ApInvoice", poll_id=poll, inserted=inserted, updated=updated)
        return snow.run_row(replay_id)

    first = replay()
    assert first["run_kind"] == "replay" and first["poll_id"] == poll
    assert ints(first, "rows_inserted", "rows_updated", "rows_pulled", "pages") == (0, 0, 1, 0)  # pulled: from the landing log
    assert snow.high_water("ApInvoice") == after == first["new_high_water"]  # a replay never moves the watermark
    again = replay()
    assert ints(again, "rows_inserted", "rows_updated") == (0, 0)
    assert snow.high_water("ApInvoice") == after


def test_buffer_page_refuses_an_answer_that_is_not_json_and_leaves_nothing_behind(snow):
    run_id, since = snow.start("ApInvoice")
    with pytest.raises(Exception, match="(?i)json"):  # the engine's error: Snowflake's or DuckDB's
        snow.run("buffer_page", run_id=run_id, table_name="ApInvoice", page_number=1, since=since, page_cursor=None,
                 page="this is not json")
    assert snow.query("select count(*) from work_syspro__pages")[0][0] == 0
    assert snow.query("select count(*) from audit_syspro__pages")[0][0] == 0
    # the handler closes the row with Snowflake's error: no page, no watermark
    snow.run("clear_page_buffer", run_id=run_id)
    snow.finish(run_id, "ApInvoice", "failed", kind="snowflake_error", message="JSON parse error")
    run = snow.run_row(run_id)
    assert (run["status"], run["error_kind"], int(run["pages"]), int(run["rows_pulled"])) == ("failed", "snowflake_error", 0, 0)
    assert run["new_high_water"] is None and snow.high_water("ApInvoice") is None
    assert run["finished_at"] is not None


def test_the_watermark_never_passes_syspro_read_time_nor_goes_back(snow):
    future = [invoice("S1", "0001", "2027-01-31")]
    snow.load("ApInvoice", *pages_of("ApInvoice", future, fetched_at="2026-11-30T10:00:00").pages)
    assert snow.high_water("ApInvoice") == dt.datetime(2026, 11, 30, 10, 0)
    snow.load("ApInvoice", *pages_of("ApInvoice", [invoice("S1", "0002", "2026-11-02")]).pages)
    assert snow.high_water("ApInvoice") == dt.datetime(2026, 11, 30, 10, 0)


def test_snapshot_tables_read_everything_and_verify_flags_what_syspro_no_longer_lists(snow):
    everyone = [supplier("S1", "Acme"), supplier("S2", "Beta"), supplier("S3", "Gamma")]
    snow.load("ApSupplier", *pages_of("ApSupplier", everyone[:2], everyone[2:]).pages)
    again = snow.run_row(snow.load("ApSupplier", digested("ApSupplier", everyone)))
    assert again["since"] is None and snow.high_water("ApSupplier") is None  # no watermark: read everything
    assert ints(again, "rows_inserted", "rows_updated") == (0, 3)  # rewritten once, to carry SYSPRO's digests

    # S2 is hard-deleted in SYSPRO: verify's digest scan no longer lists it
    # (verify_syspro__<table>: the scan landed, verify_mark_deleted, collect_verify_keys, ...)
    run_id, since = snow.start("ApSupplier", kind="verify")
    assert since is None
    scan = Service("ApSupplier", [everyone[0], everyone[2]]).digests("ApSupplier", None)
    assert snow.land("ApSupplier", scan, run_id=run_id, buffer="buffer_digests_page", lands="land_digests")[2] is None
    deleted = flag(snow, "verify_mark_deleted__ap_supplier", run_id=run_id)
    assert deleted == 1
    snow.run("collect_verify_keys__ap_supplier", run_id=run_id)
    assert batches_of(snow, run_id) == []  # S1 and S3 have SYSPRO's digests: nothing to re-pull
    snow.run("finish_key_refresh__ap_supplier", run_id=run_id)
    snow.finish(run_id, "ApSupplier", inserted=0, updated=0, deleted=deleted)
    snow.run("clear_refresh_keys", run_id=run_id)
    snow.run("clear_verify_digests", run_id=run_id)

    run = snow.run_row(run_id)
    assert run["run_kind"] == "verify" and run["status"] == "succeeded"
    measures = ("rows_deleted", "keys_compared", "keys_changed", "keys_absent", "keys_refreshed", "keys_flagged_deleted")
    assert ints(run, *measures) == (1, 2, 0, 0, 0, 1)
    assert set(snow.current_records("ApSupplier")) == {"S1", "S3"}
    gone = snow.query("select is_deleted, deleted_at is not null, deleted_by_run_id from syspro__ap_supplier where record_key = 'S2'")
    assert gone == [(True, True, run_id)]
    assert snow.query("select count(*) from work_syspro__verify_digests")[0][0] == 0

    # the supplier comes back in SYSPRO: the next poll's MERGE un-deletes it
    snow.load("ApSupplier", *pages_of("ApSupplier", everyone).pages)
    assert set(snow.current_records("ApSupplier")) == {"S1", "S2", "S3"}
    assert snow.query("select deleted_at, deleted_by_run_id from syspro__ap_supplier where record_key = 'S2'") == [(None, None)]


# -- typed views, history and reports -------------------------------------------------------------


def test_the_typed_view_casts_each_column_as_syspro_describes_it(snow):
    snow.load("ApInvoice", *pages_of("ApInvoice", [invoice("S1", "0001", "2026-11-20", "12345678901.23")]).pages)
    schema = {
        "table": "ApInvoice",
        "columns": [
            {"name": "Supplier", "edm_type": "Edm.String", "snowflake_type": "VARCHAR(15)", "nullable": False},
            {"name": "MthInvBal1", "edm_type": "Edm.Decimal", "snowflake_type": "NUMBER(14,2)", "nullable": False},
            {"name": "JournalDate", "edm_type": "Edm.DateTimeOffset", "snowflake_type": "TIMESTAMP_NTZ", "nullable": False},
        ],
        "key_columns": ["Supplier", "Invoice"],
        "watermark_column": "JournalDate",
    }
    ddl = snow.refresh_typed_view("ApInvoice", json.dumps(schema))
    assert "stg_syspro__ap_invoice" in ddl
    row = snow.query("select supplier, mth_inv_bal1, journal_date from stg_syspro__ap_invoice")
    assert row == [("S1", Decimal("12345678901.23"), dt.datetime(2026, 11, 20))]


def test_an_unsafe_column_name_is_refused(snow):
    schema = {"table": "ApInvoice", "columns": [{"name": "x; drop table y", "snowflake_type": "VARCHAR"}]}
    snow.run("buffer_schema", run_id="r", table_name="ApInvoice", page_number=1, page=json.dumps(schema))
    _, unsafe = snow.run("typed_view_ddl", run_id="r", table_name="ApInvoice", page_number=1)[0]
    assert int(unsafe) == 1


def test_history_keeps_one_version_per_change(snow):
    for fetched_at, balance in [("10:00", "10.00"), ("10:15", "10.00"), ("10:30", "7.00")]:
        rows = [invoice("S1", "0001", "2026-11-20", balance)]
        snow.load("ApInvoice", *pages_of("ApInvoice", rows, fetched_at=f"2026-11-30T{fetched_at}:00").pages)
    rows = snow.query("select valid_from, valid_to, is_current, record from hist_syspro__ap_invoice where record_key = 'S1|0001' order by valid_from")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (dt.datetime(2026, 11, 30, 10, 0), dt.datetime(2026, 11, 30, 10, 30), False),
        (dt.datetime(2026, 11, 30, 10, 30), None, True),
    ]
    assert json.loads(rows[1][3], parse_float=Decimal)["MthInvBal1"] == Decimal("7.00")


def test_reports_age_payables_sum_spend_and_value_stock(snow):
    today = snow.query("select current_date()")[0][0]
    due = lambda days_past: (today - dt.timedelta(days=days_past)).isoformat()  # noqa: E731
    snow.load("ApSupplier", *pages_of("ApSupplier", [supplier("S1", "Acme")]).pages)
    invoices = [
        invoice("S1", "0001", "2026-11-01", "100.00", due=due(-5)),
        invoice("S1", "0002", "2026-11-01", "20.00", due=due(10)),
        invoice("S1", "0003", "2026-11-01", "3.00", due=due(45)),
        invoice("S1", "0004", "2026-11-01", "0.40", due=due(200)),
        invoice("S1", "0005", "2026-11-01", "0.00", due=due(200)),
    ]
    snow.load("ApInvoice", *pages_of("ApInvoice", invoices).pages)
    aging = snow.query(
        "select supplier_name, current_amount, past_due_1_30_amount, past_due_31_60_amount, past_due_61_90_amount, "
        "past_due_over_90_amount, balance_amount, open_invoice_count from report_syspro__ap_aging"
    )
    # fakesnow sums some decimals as doubles; Snowflake keeps NUMBER: compare at the scale
    cents = lambda v: Decimal(str(v)).quantize(Decimal("0.01"))  # noqa: E731
    assert [(r[0], *map(cents, r[1:7]), int(r[7])) for r in aging] == [
        ("Acme", Decimal("100.00"), Decimal("20.00"), Decimal("3.00"), Decimal("0.00"), Decimal("0.40"), Decimal("123.40"), 4)
    ]
    spend = snow.query("select supplier_code, spend_amount, invoice_count from report_syspro__spend_by_supplier")
    assert [(c, cents(a), int(n)) for c, a, n in spend] == [("S1", Decimal("123.40"), 5)]

    stock = [
        {"StockCode": "A", "Warehouse": "W1", "QtyOnHand": Decimal("2.5"), "UnitCost": Decimal("10.00001")},
        {"StockCode": "B", "Warehouse": "W1", "QtyOnHand": Decimal("1"), "UnitCost": Decimal("3")},
        {"StockCode": "A", "Warehouse": "W2", "QtyOnHand": Decimal("4"), "UnitCost": Decimal("10")},
    ]
    snow.load("InvWarehouse", *pages_of("InvWarehouse", stock).pages)
    value = snow.query("select warehouse_code, stock_code_count, stock_value_amount from report_syspro__stock_by_warehouse order by 1")
    micro = lambda v: Decimal(str(v)).quantize(Decimal("0.000001"))  # noqa: E731
    assert [(w, int(n), micro(v)) for w, n, v in value] == [("W1", 2, Decimal("28.000025")), ("W2", 1, Decimal("40"))]


def test_an_upgrade_adds_the_digest_columns_and_the_next_merge_fills_them(snow, setup_sql):
    # an account set up before digests: the columns are not there yet
    snow.query("alter table syspro__ap_invoice drop column record_digest")
    snow.query("alter table raw_syspro__records drop column record_digest")
    snow.setup(setup_sql)  # the upgrade: create-if-not-exists, then add column if not exists
    columns = {r[0].lower() for r in snow.query("describe table syspro__ap_invoice")}
    assert "record_digest" in columns
    assert {"dependents_checked_at"} <= {r[0].lower() for r in snow.query("describe table syspro_sync_state")}
    assert {"keys_compared", "keys_refreshed", "keys_flagged_deleted"} <= {r[0].lower() for r in snow.query("describe table audit_syspro__runs")}
    assert snow.query("select verify_group from syspro_sync_control where table_name = 'InvMovements'") == [("weekly",)]

    rows = [invoice("S1", "0001", "2026-11-20"), invoice("S1", "0002", "2026-11-20")]
    # a pre-upgrade row: merged from a page without digests
    snow.load("ApInvoice", page("ApInvoice", rows, poll_id=str(uuid.uuid4())))
    assert snow.query("select count(*) from syspro__ap_invoice where record_digest is null")[0][0] == 2
    # the same records again, now with digests: rewritten once to carry them, then left alone
    run = snow.run_row(snow.load("ApInvoice", digested("ApInvoice", rows)))
    assert ints(run, "rows_inserted", "rows_updated") == (0, 2)
    stored = dict(snow.query("select record_key, record_digest from syspro__ap_invoice"))
    assert stored == {"S1|0001": digest_of(rows[0]), "S1|0002": digest_of(rows[1])}
    landed = snow.query("select count(*) from raw_syspro__records where record_digest is not null")[0][0]
    assert landed == 2
    again = snow.run_row(snow.load("ApInvoice", digested("ApInvoice", rows)))
    assert ints(again, "rows_inserted", "rows_updated") == (0, 0)
    # a digest that differs although the hash does not (another engine's view of the same row)
    # is rewritten too: verify compares digests, so the target must hold SYSPRO's
    other = snow.run_row(snow.load("ApInvoice", digested("ApInvoice", rows, digests=["d1", "d2"])))
    assert int(other["rows_updated"]) == 2


def test_ap_aging_buckets_add_up_when_a_due_date_is_missing(snow):
    today = snow.query("select current_date()")[0][0]
    snow.load("ApSupplier", *pages_of("ApSupplier", [supplier("S1", "Acme")]).pages)
    undated = invoice("S1", "0002", "2026-11-01", "7.50")
    undated["DueDate"] = None
    dated = invoice("S1", "0001", "2026-11-01", "10.00", due=(today + dt.timedelta(days=3)).isoformat())
    snow.load("ApInvoice", *pages_of("ApInvoice", [dated, undated]).pages)
    row = snow.query(
        "select current_amount, past_due_1_30_amount, past_due_31_60_amount, past_due_61_90_amount, "
        "past_due_over_90_amount, no_due_date_amount, balance_amount from report_syspro__ap_aging"
    )[0]
    cents = [Decimal(str(v or 0)).quantize(Decimal("0.01")) for v in row]
    assert cents[5] == Decimal("7.50"), row
    assert sum(cents[:6]) == cents[6] == Decimal("17.50"), "the buckets add up to the balance"


def test_typed_views_quote_reserved_words_and_rename_colliding_columns(snow):
    record = {"Supplier": "S1", "Invoice": "0001", "JournalDate": "2026-11-20T00:00:00", "Order": "A", "Group": "B", "GlCode": "x", "GLCode": "y", "PollId": "z"}
    snow.load("ApInvoice", *pages_of("ApInvoice", [record]).pages)
    columns = [
        {"name": name, "edm_type": "Edm.String", "snowflake_type": "VARCHAR", "nullable": True}
        for name in ["Supplier", "Invoice", "Order", "Group", "GlCode", "GLCode", "PollId"]
    ] + [{"name": "JournalDate", "edm_type": "Edm.DateTimeOffset", "snowflake_type": "TIMESTAMP_NTZ", "nullable": False}]
    schema = {"table": "ApInvoice", "columns": columns, "key_columns": ["Supplier", "Invoice"], "watermark_column": "JournalDate"}
    ddl = snow.refresh_typed_view("ApInvoice", json.dumps(schema))
    snow.cur.execute("select * from stg_syspro__ap_invoice")
    names = [d[0].lower() for d in snow.cur.description]
    values = dict(zip(names, snow.cur.fetchall()[0]))
    assert values["order"] == "A" and values["group"] == "B", (ddl, values)
    # GlCode and GLCode are both gl_code after snake_case; PollId is the view's poll_id
    assert len(names) == len(set(names)), names
    assert sorted(v for k, v in values.items() if k.startswith("gl_code")) == ["x", "y"], values
    assert "z" in [v for k, v in values.items() if k.startswith("poll_id")], values


# -- open items, key refresh and verify (CONTRACT.md §3.1) ---------------------------------------


def watermark_step(snow, table, answer, *, run_id):
    """The page of a sync's watermark pull, as sync_syspro__<table> commits it: landed, merged,
    the watermark advanced and the audit row updated, left 'running' for the key refresh.
    Returns (poll_id, inserted, updated); page number 1."""
    since = snow.run("read_run", run_id=run_id)[0][0]
    poll_id, cursor, error_kind, _ = snow.land(table, answer, run_id=run_id, page_number=1, since=since)
    assert cursor is None and error_kind is None
    inserted, updated = snow.merge(table, poll_id)
    snow.run("advance_watermark", run_id=run_id, table_name=table)
    snow.finish(run_id, table, "running", inserted=inserted, updated=updated)
    return poll_id, inserted, updated


def open_items_step(snow, service) -> str:
    """A sync of ApInvoice up to its collected refresh keys, when nothing moved: a new run, an
    empty watermark page, the open items `service` answers landed (page 2) and merged without
    a change, then collect_refresh_keys against that poll. Returns the run's id."""
    run_id, _ = snow.start("ApInvoice")
    watermark_step(snow, "ApInvoice", digested("ApInvoice", []), run_id=run_id)
    open_poll = snow.land("ApInvoice", service.pull_open("ApInvoice", None), run_id=run_id, page_number=2,
                          buffer="buffer_open_page")[0]
    assert snow.merge("ApInvoice", open_poll) == (0, 0)
    snow.run("collect_refresh_keys__ap_invoice", run_id=run_id, poll_id=open_poll)
    return run_id


def test_open_items_and_the_refresh_keys_re_read_what_left_the_open_set_and_flag_what_syspro_lost(snow):
    first = [
        invoice("S1", "0001", "2026-09-01", "100.00"),  # open, old: partly paid below
        invoice("S1", "0002", "2026-09-02", "50.00"),  # open, old: paid in full below
        invoice("S1", "0003", "2026-09-03", "0.00"),  # settled: nothing to do
        invoice("S1", "0004", "2026-09-04", "70.00"),  # open, old: purged from SYSPRO below
    ]
    snow.load("ApInvoice", digested("ApInvoice", first))
    high_water = snow.high_water("ApInvoice")
    assert snow.has_key_refresh("ApInvoice")

    # SYSPRO changes rows far behind the watermark without moving their dates
    truth = [dict(first[0], MthInvBal1=Decimal("60.00")), dict(first[1], MthInvBal1=Decimal("0.00")), first[2]]
    svc = Service("ApInvoice", truth, is_open=open_invoice)
    run_id, _ = snow.start("ApInvoice")
    _, inserted, updated = watermark_step(snow, "ApInvoice", digested("ApInvoice", []), run_id=run_id)
    assert (inserted, updated) == (0, 0)

    # (b) open_items_pull.sql: the open items, read whole and merged; the watermark stays
    open_poll, cursor, error_kind, _ = snow.land("ApInvoice", svc.pull_open("ApInvoice", None), run_id=run_id, page_number=2,
                                                 buffer="buffer_open_page")
    assert cursor is None and error_kind is None
    assert snow.merge("ApInvoice", open_poll) == (0, 1)  # 0001, partly paid
    assert snow.current_records("ApInvoice")["S1|0001"]["MthInvBal1"] == Decimal("60.00")
    # (c) the keys to re-read: open here, not in the open-items poll; one batch
    snow.run("collect_refresh_keys__ap_invoice", run_id=run_id, poll_id=open_poll)
    assert reasons_of(snow, run_id) == {"S1|0002": "open_item", "S1|0004": "open_item"}
    keys = [{"Supplier": "S1", "Invoice": "0002"}, {"Supplier": "S1", "Invoice": "0004"}]
    assert batches_of(snow, run_id) == [(1, 2, keys)]
    # refresh_by_key.sql for batch 1: the pull by key landed with its `missing`, merged, flagged
    keys_poll, cursor, error_kind, _ = snow.land("ApInvoice", svc.pull_keys("ApInvoice", keys, None), run_id=run_id,
                                                 page_number=3, buffer="buffer_keys_batch_page",
                                                 lands=("land_page", "land_missing"), batch_number=1)
    assert cursor is None and error_kind is None
    missing = snow.query("select record_key from work_syspro__refresh_keys where run_id = %(r)s and is_missing", {"r": run_id})
    assert missing == [("S1|0004",)]
    assert snow.merge("ApInvoice", keys_poll) == (0, 1)  # 0002, paid in full
    deleted = flag(snow, "mark_missing_deleted__ap_invoice", run_id=run_id, batch_number=1)
    assert deleted == 1
    snow.run("advance_dependents_checked", run_id=run_id, table_name="ApInvoice")
    snow.run("finish_key_refresh__ap_invoice", run_id=run_id)
    snow.finish(run_id, "ApInvoice", inserted=0, updated=2, deleted=deleted)
    snow.run("clear_refresh_keys", run_id=run_id)

    current = snow.current_records("ApInvoice")
    assert set(current) == {"S1|0001", "S1|0002", "S1|0003"}
    assert current["S1|0001"]["MthInvBal1"] == Decimal("60.00")  # (b) the open-items pull
    assert current["S1|0002"]["MthInvBal1"] == Decimal("0.00")  # (c) refreshed by key
    flagged = snow.query("select is_deleted, deleted_by_run_id from syspro__ap_invoice where record_key = 'S1|0004'")
    assert flagged == [(True, run_id)]
    run = snow.run_row(run_id)
    assert run["status"] == "succeeded" and run["error_kind"] is None
    assert ints(run, "rows_inserted", "rows_updated", "rows_deleted") == (0, 2, 1)
    assert ints(run, "keys_refreshed", "keys_flagged_deleted") == (2, 1)
    assert run["keys_compared"] is None and run["keys_changed"] is None and run["keys_absent"] is None  # verify's measures
    assert int(run["pages"]) == 3  # watermark page, open-items page, one pull by key
    assert snow.high_water("ApInvoice") == high_water == run["new_high_water"]  # (b) and (c) never move the watermark
    assert snow.query("select dependents_checked_at from syspro_sync_state where table_name = 'ApInvoice'")[0][0] is not None
    assert snow.query("select count(*) from work_syspro__refresh_keys")[0][0] == 0
    digests = dict(snow.query("select record_key, record_digest from syspro__ap_invoice where not is_deleted"))
    assert digests == {"S1|" + r["Invoice"]: digest_of(r) for r in truth}

    # nothing changed since: the open items come back the same and no key is collected
    quiet = Service("ApInvoice", truth, is_open=open_invoice)
    run_id = open_items_step(snow, quiet)
    assert batches_of(snow, run_id) == []
    snow.run("advance_dependents_checked", run_id=run_id, table_name="ApInvoice")
    snow.run("finish_key_refresh__ap_invoice", run_id=run_id)
    snow.finish(run_id, "ApInvoice", inserted=0, updated=0, deleted=0)
    snow.run("clear_refresh_keys", run_id=run_id)
    run = snow.run_row(run_id)
    assert ints(run, "rows_updated", "keys_refreshed", "keys_flagged_deleted") == (0, 0, 0)


def test_new_child_rows_name_their_parent_for_refresh_once(snow):
    settled = invoice("S2", "0009", "2026-08-01", "0.00")
    snow.load("ApInvoice", digested("ApInvoice", [settled]))
    # a reversal re-opens a settled invoice: SYSPRO writes an ApInvoicePay row dated today
    snow.load("ApInvoicePay", digested("ApInvoicePay", [payment("S2", "0009", 1, "2026-11-30", "-40.00")]))
    reopened = dict(settled, MthInvBal1=Decimal("40.00"))
    # the open-items pull misses it (say SYSPRO's filter lags): the dependent refresh does not
    svc = Service("ApInvoice", [reopened], is_open=lambda r: False)
    run_id = open_items_step(snow, svc)
    assert reasons_of(snow, run_id) == {"S2|0009": "dependent"}
    keys = [{"Supplier": "S2", "Invoice": "0009"}]
    assert batches_of(snow, run_id) == [(1, 1, keys)]
    keys_poll = snow.land("ApInvoice", svc.pull_keys("ApInvoice", keys, None), run_id=run_id, page_number=3,
                          buffer="buffer_keys_batch_page", lands=("land_page", "land_missing"), batch_number=1)[0]
    assert snow.merge("ApInvoice", keys_poll) == (0, 1)
    assert flag(snow, "mark_missing_deleted__ap_invoice", run_id=run_id, batch_number=1) == 0
    snow.run("advance_dependents_checked", run_id=run_id, table_name="ApInvoice")
    snow.run("finish_key_refresh__ap_invoice", run_id=run_id)
    snow.finish(run_id, "ApInvoice", inserted=0, updated=1, deleted=0)
    snow.run("clear_refresh_keys", run_id=run_id)
    assert snow.current_records("ApInvoice")["S2|0009"]["MthInvBal1"] == Decimal("40.00")
    checked = snow.query("select dependents_checked_at from syspro_sync_state where table_name = 'ApInvoice'")[0][0]
    assert checked is not None and checked == snow.run_row(run_id)["started_at"]
    assert ints(snow.run_row(run_id), "keys_refreshed", "keys_flagged_deleted") == (1, 0)

    # the same payment does not name its invoice again (now open, the open-items pull reads it)
    again = Service("ApInvoice", [reopened], is_open=open_invoice)
    run_id = open_items_step(snow, again)
    assert batches_of(snow, run_id) == []


def test_an_error_answer_to_the_open_items_pull_lands_nothing_and_the_committed_watermark_step_stands(snow):
    snow.load("ApInvoice", digested("ApInvoice", [invoice("S1", "0001", "2026-11-20")]))
    run_id, _ = snow.start("ApInvoice")
    answer = digested("ApInvoice", [invoice("S1", "0002", "2026-11-25")])
    _, inserted, updated = watermark_step(snow, "ApInvoice", answer, run_id=run_id)
    assert (inserted, updated) == (1, 0)

    down = json.dumps({"error": {"kind": "upstream_unavailable", "message": "503", "attempts": 3}, "table": "ApInvoice", "poll_id": "p"})
    read = snow.land("ApInvoice", down, run_id=run_id, page_number=2, buffer="buffer_open_page")
    assert read == ("p", None, "upstream_unavailable", "503")
    assert snow.query("select count(*) from raw_syspro__records where poll_id = 'p'")[0][0] == 0
    # the failure handler of a sync with a key refresh: clear the buffer, record the key
    # refresh, drop its keys, close the row with the service's error
    snow.run("clear_page_buffer", run_id=run_id)
    snow.run("finish_key_refresh__ap_invoice", run_id=run_id)
    snow.run("clear_refresh_keys", run_id=run_id)
    snow.finish(run_id, "ApInvoice", "failed", inserted=inserted, updated=updated, deleted=0, kind=read[2], message=read[3])

    run = snow.run_row(run_id)
    assert run["status"] == "failed" and run["error_kind"] == "upstream_unavailable"
    # step (a) committed: its rows and watermark stand, and the audit row says so
    assert "S1|0002" in snow.current_records("ApInvoice")
    assert run["new_high_water"] == dt.datetime(2026, 11, 25) == snow.high_water("ApInvoice")
    assert ints(run, "rows_inserted", "pages", "keys_refreshed", "keys_flagged_deleted") == (1, 2, 0, 0)
    pages = snow.query("select page_number, error_kind, error_attempts from audit_syspro__pages where run_id = %(r)s order by 1", {"r": run_id})
    assert [(int(p), k, a and int(a)) for p, k, a in pages] == [(1, None, None), (2, "upstream_unavailable", 3)]
    assert snow.query("select count(*) from work_syspro__refresh_keys")[0][0] == 0
    assert snow.query("select count(*) from work_syspro__pages")[0][0] == 0


def test_verify_re_pulls_what_differs_pulls_what_is_missing_and_flags_what_is_gone(snow):
    rows = [invoice("S1", f"{n:04d}", "2026-10-01", f"{n}.00") for n in range(1, 6)]
    snow.load("ApInvoice", digested("ApInvoice", rows))
    # SYSPRO: 0001 unchanged, 0002 changed behind the watermark, 0003 deleted, 0004 unchanged,
    # 0005 flagged deleted here by mistake, 0006 back-dated beyond the overlap and never seen
    snow.query("update syspro__ap_invoice set is_deleted = true, deleted_at = sysdate() where record_key = 'S1|0005'")
    truth = [rows[0], dict(rows[1], MthInvBal1=Decimal("0.00")), rows[3], rows[4], invoice("S1", "0006", "2026-06-01", "6.00")]
    svc = Service("ApInvoice", truth)

    # verify_syspro__<table>: the digest scan, verify_mark_deleted, collect_verify_keys, the
    # pulls by key, finish_key_refresh, finish_run, and the work tables cleared
    run_id, since = snow.start("ApInvoice", kind="verify")
    assert since is None
    assert snow.land("ApInvoice", svc.digests("ApInvoice", None), run_id=run_id, page_number=1,
                     buffer="buffer_digests_page", lands="land_digests")[2] is None
    deleted = flag(snow, "verify_mark_deleted__ap_invoice", run_id=run_id)
    assert deleted == 1  # 0003
    snow.run("collect_verify_keys__ap_invoice", run_id=run_id)
    assert reasons_of(snow, run_id) == {"S1|0002": "changed", "S1|0005": "absent", "S1|0006": "absent"}
    keys = [{"Supplier": "S1", "Invoice": n} for n in ("0002", "0005", "0006")]
    assert batches_of(snow, run_id) == [(1, 3, keys)]
    keys_poll = snow.land("ApInvoice", svc.pull_keys("ApInvoice", keys, None), run_id=run_id, page_number=2,
                          buffer="buffer_keys_batch_page", lands=("land_page", "land_missing"), batch_number=1)[0]
    inserted, updated = snow.merge("ApInvoice", keys_poll)
    assert (inserted, updated) == (1, 2)  # 0006 new; 0002 changed, 0005 un-deleted
    deleted += flag(snow, "mark_missing_deleted__ap_invoice", run_id=run_id, batch_number=1)
    snow.run("finish_key_refresh__ap_invoice", run_id=run_id)
    snow.finish(run_id, "ApInvoice", inserted=inserted, updated=updated, deleted=deleted)
    snow.run("clear_refresh_keys", run_id=run_id)
    snow.run("clear_verify_digests", run_id=run_id)

    have = snow.current_records("ApInvoice")
    assert have == {"S1|" + r["Invoice"]: r for r in truth}
    run = snow.run_row(run_id)
    assert run["run_kind"] == "verify" and run["status"] == "succeeded"
    assert ints(run, "keys_compared", "keys_changed", "keys_absent") == (5, 1, 2)
    assert ints(run, "keys_refreshed", "keys_flagged_deleted") == (3, 1)
    assert ints(run, "rows_inserted", "rows_updated", "rows_deleted") == (1, 2, 1)
    assert run["since"] is None and snow.high_water("ApInvoice") == dt.datetime(2026, 10, 1) == run["new_high_water"]
    assert snow.query("select count(*) from work_syspro__verify_digests")[0][0] == 0
    assert snow.query("select count(*) from work_syspro__refresh_keys")[0][0] == 0

    # verified again, unchanged: compares everything, collects nothing to re-pull
    run_id, _ = snow.start("ApInvoice", kind="verify")
    snow.land("ApInvoice", Service("ApInvoice", truth).digests("ApInvoice", None), run_id=run_id,
              buffer="buffer_digests_page", lands="land_digests")
    assert flag(snow, "verify_mark_deleted__ap_invoice", run_id=run_id) == 0
    snow.run("collect_verify_keys__ap_invoice", run_id=run_id)
    assert batches_of(snow, run_id) == []
    snow.run("finish_key_refresh__ap_invoice", run_id=run_id)
    snow.finish(run_id, "ApInvoice", inserted=0, updated=0, deleted=0)
    run = snow.run_row(run_id)
    assert ints(run, "keys_compared", "keys_changed", "keys_absent", "keys_refreshed", "keys_flagged_deleted") == (5, 0, 0, 0, 0)


def test_verify_never_flags_on_an_empty_or_failed_scan(snow):
    snow.load("ApSupplier", *pages_of("ApSupplier", [supplier("S1", "Acme")]).pages)

    # an empty list is a broken answer, never "everything was deleted"
    run_id, _ = snow.start("ApSupplier", kind="verify")
    snow.land("ApSupplier", Service("ApSupplier", []).digests("ApSupplier", None), run_id=run_id,
              buffer="buffer_digests_page", lands="land_digests")
    assert flag(snow, "verify_mark_deleted__ap_supplier", run_id=run_id) == 0
    snow.run("collect_verify_keys__ap_supplier", run_id=run_id)
    assert batches_of(snow, run_id) == []
    assert set(snow.current_records("ApSupplier")) == {"S1"}

    # an error answer lands no key, so even run after it verify_mark_deleted flags nothing
    broken = json.dumps({"error": {"kind": "upstream_unavailable", "message": "down", "attempts": 3}, "table": "ApSupplier"})
    run_id, _ = snow.start("ApSupplier", kind="verify")
    read = snow.land("ApSupplier", broken, run_id=run_id, buffer="buffer_digests_page", lands="land_digests")
    assert read[2:] == ("upstream_unavailable", "down")
    assert snow.query("select count(*) from work_syspro__verify_digests where run_id = %(r)s", {"r": run_id})[0][0] == 0
    assert flag(snow, "verify_mark_deleted__ap_supplier", run_id=run_id) == 0
    # verify's failure handler: clear the buffer, record the key refresh, close the row, clear
    snow.run("clear_page_buffer", run_id=run_id)
    snow.run("finish_key_refresh__ap_supplier", run_id=run_id)
    snow.finish(run_id, "ApSupplier", "failed", inserted=0, updated=0, deleted=0, kind=read[2], message=read[3])
    snow.run("clear_refresh_keys", run_id=run_id)
    snow.run("clear_verify_digests", run_id=run_id)
    assert set(snow.current_records("ApSupplier")) == {"S1"}
    run = snow.run_row(run_id)
    assert (run["status"], run["error_kind"]) == ("failed", "upstream_unavailable")
    assert ints(run, "keys_compared", "keys_flagged_deleted") == (0, 0)


def test_keys_are_pulled_in_batches_of_at_most_1000(snow):
    records = [supplier(f"S{n:05d}", "x") for n in range(2500)]
    run_id = str(uuid.uuid4())
    snow.run("start_run", run_id=run_id, table_name="ApSupplier", run_kind="verify", poll_id=None)
    snow.run("buffer_digests_page", run_id=run_id, table_name="ApSupplier", page_number=1, page_cursor=None,
             page=Service("ApSupplier", records).digests("ApSupplier", None))
    snow.run("land_digests__ap_supplier", run_id=run_id, page_number=1)
    snow.run("collect_verify_keys__ap_supplier", run_id=run_id)  # the target is empty: all absent
    batches = snow.run("read_refresh_batches", run_id=run_id)
    assert [(int(b), int(n)) for b, n, _ in batches] == [(1, 1000), (2, 1000), (3, 500)]
    keys = [k for _, _, text in batches for k in json.loads(text)]
    assert keys == [{"Supplier": r["Supplier"]} for r in records]  # each once, in key order


# -- per-page commits and abandoned runs (issue #19) -----------------------------------------------


def test_each_merged_page_keeps_its_watermark_and_a_run_cut_off_is_closed_as_abandoned_after_the_timeout(snow):
    """What a first load relies on to make progress within any task timeout: pages come in
    watermark order and each commits with its MERGE and watermark, so a run cut off mid-way
    keeps what it merged; once the task timeout has passed, close_abandoned_runs (run by the
    next run) marks it 'abandoned' and clear_abandoned_runs removes its buffer rows, and the next
    run reads from the committed watermark minus the overlap."""
    days = [f"2026-0{m}-1{d}" for m in range(1, 7) for d in range(2)]  # 12 days, in order
    rows = [invoice("S1", f"{i:04d}", day) for i, day in enumerate(days)]
    poll = str(uuid.uuid4())

    # a run cut off after two committed pages plus a half-pulled one, still in the buffer
    cut, since = snow.start("ApInvoice")
    for number in (1, 2):
        chunk = page("ApInvoice", rows[2 * number - 2:2 * number], poll_id=poll, page=number, next_cursor=str(2 * number),
                     since=since)
        snow.land("ApInvoice", chunk, run_id=cut, page_number=number, since=since, cursor=None if number == 1 else "2")
        snow.merge("ApInvoice", poll)
        snow.run("advance_watermark", run_id=cut, table_name="ApInvoice")
        snow.finish(cut, "ApInvoice", "running", inserted=2 * number, updated=0)
        assert snow.high_water("ApInvoice") == dt.datetime.fromisoformat(days[2 * number - 1])  # with its page's MERGE
    half = page("ApInvoice", rows[4:6], poll_id=poll, page=3, next_cursor="6", since=since)
    snow.run("buffer_page", run_id=cut, table_name="ApInvoice", page_number=3, since=since, page_cursor="4", page=half)
    assert snow.run_row(cut)["status"] == "running"
    assert len(snow.current_records("ApInvoice")) == 4

    # a run within the task timeout leaves it alone
    early, _ = snow.start("ApInvoice")
    snow.run("close_abandoned_runs", run_id=early, table_name="ApInvoice")
    snow.run("clear_abandoned_runs", table_name="ApInvoice")
    assert snow.run_row(cut)["status"] == "running"
    assert snow.query("select count(*) from work_syspro__pages where run_id = %(r)s", {"r": cut})[0][0] == 1
    snow.finish(early, "ApInvoice")

    # the task timeout passes: the next run closes the cut one and clears its leftovers
    snow.query("update audit_syspro__runs set started_at = dateadd(hour, -2, started_at) where run_id = %(r)s", {"r": cut})
    last, since = snow.start("ApInvoice")
    snow.run("close_abandoned_runs", run_id=last, table_name="ApInvoice")
    snow.run("clear_abandoned_runs", table_name="ApInvoice")
    cut_row = snow.run_row(cut)
    assert cut_row["status"] == "abandoned" and cut_row["error_kind"] == "abandoned" and cut_row["finished_at"] is not None
    assert last in cut_row["error_message"]
    assert snow.run_row(early)["status"] == "succeeded"  # a finished run is never closed
    assert snow.query("select count(*) from work_syspro__pages")[0][0] == 0
    # the landing log keeps what it landed
    assert snow.query("select count(*) from raw_syspro__records where run_id = %(r)s", {"r": cut})[0][0] == 4

    # ... and reads from the committed watermark minus the overlap: the rest loads, nothing doubled
    assert since == "2026-02-08"  # 2026-02-11 - 3 days
    rest = page("ApInvoice", [r for r in rows if r["JournalDate"][:10] >= since], poll_id=str(uuid.uuid4()), since=since)
    poll_id = snow.land("ApInvoice", rest, run_id=last, since=since)[0]
    assert snow.merge("ApInvoice", poll_id) == (8, 0)
    snow.run("advance_watermark", run_id=last, table_name="ApInvoice")
    snow.finish(last, "ApInvoice", inserted=8, updated=0)
    assert sorted(snow.current_records("ApInvoice")) == sorted(f"S1|{i:04d}" for i in range(len(rows)))
    assert snow.high_water("ApInvoice") == dt.datetime.fromisoformat(days[-1])
