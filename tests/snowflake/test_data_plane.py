"""The data-plane statements on fakesnow, with hand-made pages shaped like the service's answers
(CONTRACT.md §3): landing, dedupe, MERGE, audit, watermark, replay, hard deletes flagged by verify, typed views,
history and reports. The statements are those `ml-connector sql --statements-json` prints, run in
the order the procedures run them."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest

from snowside import ServiceError

KEYS = {"ApInvoice": ["Supplier", "Invoice"], "ApSupplier": ["Supplier"], "InvWarehouse": ["StockCode", "Warehouse"]}
WATERMARK = {"ApInvoice": "JournalDate", "ApSupplier": None, "InvWarehouse": None}


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


class Pages:
    """Serves prepared pages as the service would, keyed by the cursor asked for."""

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
    """One poll split over pages (one per batch of rows), cursors chained."""
    poll_id = poll_id or str(uuid.uuid4())
    out = []
    for i, rows in enumerate(batches, start=1):
        cursor = None if i == len(batches) else f"c{i}"
        out.append(page(table, rows, poll_id=poll_id, page=i, next_cursor=cursor, **kw))
    return Pages(*out)


def test_setup_seeds_the_control_table_from_the_catalog(snow):
    rows = snow.query("select table_name, schedule_group, overlap_days, is_enabled from syspro_sync_control order by 1")
    assert len(rows) == 13
    groups = {name: group for name, group, _, _ in rows}
    assert groups["ApInvoice"] == "financial" and groups["ApSupplier"] == "masters"
    assert all(int(days) == 3 and enabled for _, _, days, enabled in rows)


def test_re_running_the_setup_keeps_data_and_the_users_control_edits(snow, setup_sql):
    snow.sync("ApSupplier", pages_of("ApSupplier", [supplier("S1", "Acme")]))
    snow.query("update syspro_sync_control set overlap_days = 7, is_enabled = false where table_name = 'ApInvoice'")
    snow.setup(setup_sql)
    assert snow.query("select overlap_days, is_enabled from syspro_sync_control where table_name = 'ApInvoice'") == [(7, False)]
    assert snow.query("select count(*) from syspro_sync_control")[0][0] == 13
    assert set(snow.current_records("ApSupplier")) == {"S1"}


def test_a_sync_lands_every_page_merges_audits_and_advances_the_watermark(snow):
    poll = str(uuid.uuid4())
    pages = pages_of(
        "ApInvoice",
        [invoice("S1", "0001", "2026-11-18", "12345678901.23"), invoice("S1", "0002", "2026-11-19")],
        [invoice("S2", "0001", "2026-11-20")],
        poll_id=poll,
    )
    run_id = snow.sync("ApInvoice", pages)

    assert pages.calls == [("ApInvoice", None, None), ("ApInvoice", None, "c1")]
    current = snow.current_records("ApInvoice")
    assert set(current) == {"S1|0001", "S1|0002", "S2|0001"}
    assert current["S1|0001"]["OrigInvValue"] == Decimal("12345678901.23")  # every digit kept
    landed = snow.query("select page_number, count(*) from raw_syspro__records where poll_id = %(p)s group by 1 order by 1", {"p": poll})
    assert [(int(p), int(n)) for p, n in landed] == [(1, 2), (2, 1)]
    run = snow.run_row(run_id)
    assert run["status"] == "succeeded" and run["poll_id"] == poll and run["run_kind"] == "sync"
    assert (int(run["pages"]), int(run["rows_pulled"]), int(run["rows_inserted"]), int(run["rows_updated"])) == (2, 3, 3, 0)
    assert run["new_high_water"] == dt.datetime(2026, 11, 20) == snow.high_water("ApInvoice")
    assert run["finished_at"] >= run["started_at"]
    target = snow.query("select poll_id, first_poll_id, fetched_at, is_deleted from syspro__ap_invoice where record_key = 'S2|0001'")[0]
    assert target[:2] == (poll, poll) and target[2] == dt.datetime(2026, 11, 30, 10, 0, 0, 123000) and target[3] is False
    assert snow.query("select count(*) from work_syspro__pages")[0][0] == 0


def test_since_is_the_high_water_minus_the_overlap_in_days(snow):
    snow.sync("ApInvoice", pages_of("ApInvoice", [invoice("S1", "0001", "2026-11-20")]))
    nxt = pages_of("ApInvoice", [])
    snow.sync("ApInvoice", nxt)
    assert nxt.calls == [("ApInvoice", "2026-11-17", None)]
    snow.query("update syspro_sync_control set overlap_days = 0 where table_name = 'ApInvoice'")
    same_day = pages_of("ApInvoice", [])
    snow.sync("ApInvoice", same_day)
    assert same_day.calls == [("ApInvoice", "2026-11-20", None)]  # >= the day itself, never >


def test_re_read_same_day_and_back_dated_rows_merge_once_and_duplicates_keep_the_latest(snow):
    first = [invoice("S1", "0001", "2026-11-19"), invoice("S1", "0002", "2026-11-20")]
    snow.sync("ApInvoice", pages_of("ApInvoice", first))
    again = [
        invoice("S1", "0001", "2026-11-19"),  # re-read by the overlap, unchanged
        invoice("S1", "0002", "2026-11-20", "55.00"),  # changed
        invoice("S1", "0003", "2026-11-20"),  # posted later on the same day
        invoice("S9", "0001", "2026-11-16"),  # back-dated into the overlap window
    ]
    # the same key twice in one poll (SYSPRO paging under writes): the later watermark wins
    dupes = [invoice("S7", "0001", "2026-11-18", "1.00"), invoice("S7", "0001", "2026-11-19", "2.00")]
    run_id = snow.sync("ApInvoice", pages_of("ApInvoice", again[:2] + dupes[1:], again[2:] + dupes[:1]))
    run = snow.run_row(run_id)
    assert (int(run["rows_inserted"]), int(run["rows_updated"])) == (3, 1)
    current = snow.current_records("ApInvoice")
    assert len(current) == 5
    assert current["S1|0002"]["MthInvBal1"] == Decimal("55.00")
    assert current["S7|0001"]["MthInvBal1"] == Decimal("2.00")
    unchanged = snow.query("select poll_id = first_poll_id from syspro__ap_invoice where record_key = 'S1|0001'")[0][0]
    assert unchanged, "an unchanged re-read must not rewrite the row"


def test_an_error_answer_is_audited_leaves_the_watermark_and_the_landed_pages_replay(snow):
    snow.sync("ApInvoice", pages_of("ApInvoice", [invoice("S1", "0001", "2026-11-20")]))
    before = snow.high_water("ApInvoice")
    poll = str(uuid.uuid4())
    good = page("ApInvoice", [invoice("S5", "0001", "2026-11-25")], poll_id=poll, next_cursor="c1")
    error = json.dumps({"error": {"kind": "upstream_unavailable", "message": "SYSPRO answered 503", "attempts": 6}, "table": "ApInvoice", "poll_id": poll})
    run_id = str(uuid.uuid4())
    with pytest.raises(ServiceError):
        snow.sync("ApInvoice", Pages(good, error), run_id=run_id)

    run = snow.run_row(run_id)
    assert run["status"] == "failed" and run["error_kind"] == "upstream_unavailable"
    assert "503" in run["error_message"] and int(run["rows_inserted"]) == 1
    # each page commits with its MERGE and watermark (issue #19): the page before the error
    # is merged and the watermark stands at its high water, never past it
    after = snow.high_water("ApInvoice")
    assert int(run["pages"]) == 2 and after > before and str(after).startswith("2026-11-25")
    pages = snow.query("select page_number, error_kind, error_attempts from audit_syspro__pages where run_id = %(r)s order by 1", {"r": run_id})
    assert [(int(p), k, a and int(a)) for p, k, a in pages] == [(1, None, None), (2, "upstream_unavailable", 6)]
    assert "S5|0001" in snow.current_records("ApInvoice")

    replay_id = snow.replay(poll)
    replay = snow.run_row(replay_id)
    assert replay["run_kind"] == "replay" and replay["status"] == "succeeded" and int(replay["rows_inserted"]) == 0
    assert int(replay["rows_pulled"]) == 1
    assert snow.high_water("ApInvoice") == after  # a replay never moves the watermark

    again = snow.run_row(snow.replay(poll))
    assert (int(again["rows_inserted"]), int(again["rows_updated"])) == (0, 0)


def test_a_failed_statement_is_audited_as_a_snowflake_error(snow):
    run_id = str(uuid.uuid4())
    with pytest.raises(Exception):
        snow.sync("ApInvoice", Pages("this is not json"), run_id=run_id)
    run = snow.run_row(run_id)
    assert run["status"] == "failed" and run["error_kind"] == "snowflake_error" and run["error_message"]
    assert snow.high_water("ApInvoice") is None


def test_the_watermark_never_passes_syspro_read_time_nor_goes_back(snow):
    future = [invoice("S1", "0001", "2027-01-31")]
    snow.sync("ApInvoice", pages_of("ApInvoice", future, fetched_at="2026-11-30T10:00:00"))
    assert snow.high_water("ApInvoice") == dt.datetime(2026, 11, 30, 10, 0)
    snow.sync("ApInvoice", pages_of("ApInvoice", [invoice("S1", "0002", "2026-11-02")]))
    assert snow.high_water("ApInvoice") == dt.datetime(2026, 11, 30, 10, 0)


def supplier(code, name):
    return {"Supplier": code, "SupplierName": name}


def test_snapshot_tables_read_everything_and_hard_deletes_become_soft_deletes(snow):
    snow.sync("ApSupplier", pages_of("ApSupplier", [supplier("S1", "Acme"), supplier("S2", "Beta")], [supplier("S3", "Gamma")]))
    again = pages_of("ApSupplier", [supplier("S1", "Acme"), supplier("S2", "Beta"), supplier("S3", "Gamma")])
    snow.sync("ApSupplier", again)
    assert again.calls == [("ApSupplier", None, None)] and snow.high_water("ApSupplier") is None

    # S2 is hard-deleted in SYSPRO: verify's key scan no longer lists it
    run_id = snow.verify("ApSupplier", Service("ApSupplier", [supplier("S1", "Acme"), supplier("S3", "Gamma")]))
    run = snow.run_row(run_id)
    assert run["run_kind"] == "verify" and run["status"] == "succeeded"
    assert int(run["rows_deleted"]) == 1
    assert set(snow.current_records("ApSupplier")) == {"S1", "S3"}
    deleted = snow.query("select is_deleted, deleted_at is not null, deleted_by_run_id from syspro__ap_supplier where record_key = 'S2'")[0]
    assert deleted == (True, True, run_id)
    assert snow.query("select count(*) from work_syspro__verify_digests")[0][0] == 0

    # the supplier comes back in SYSPRO: the next sync un-deletes it
    snow.sync("ApSupplier", pages_of("ApSupplier", [supplier("S1", "Acme"), supplier("S2", "Beta"), supplier("S3", "Gamma")]))
    assert set(snow.current_records("ApSupplier")) == {"S1", "S2", "S3"}


def test_the_typed_view_casts_each_column_as_syspro_describes_it(snow):
    snow.sync("ApInvoice", pages_of("ApInvoice", [invoice("S1", "0001", "2026-11-20", "12345678901.23")]))
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
    snow.sync("ApInvoice", pages_of("ApInvoice", [invoice("S1", "0001", "2026-11-20", "10.00")], fetched_at="2026-11-30T10:00:00"))
    snow.sync("ApInvoice", pages_of("ApInvoice", [invoice("S1", "0001", "2026-11-20", "10.00")], fetched_at="2026-11-30T10:15:00"))
    snow.sync("ApInvoice", pages_of("ApInvoice", [invoice("S1", "0001", "2026-11-20", "7.00")], fetched_at="2026-11-30T10:30:00"))
    rows = snow.query("select valid_from, valid_to, is_current, record from hist_syspro__ap_invoice where record_key = 'S1|0001' order by valid_from")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (dt.datetime(2026, 11, 30, 10, 0), dt.datetime(2026, 11, 30, 10, 30), False),
        (dt.datetime(2026, 11, 30, 10, 30), None, True),
    ]
    assert json.loads(rows[1][3], parse_float=Decimal)["MthInvBal1"] == Decimal("7.00")


def test_reports_age_payables_sum_spend_and_value_stock(snow):
    today = snow.query("select current_date()")[0][0]
    due = lambda days_past: (today - dt.timedelta(days=days_past)).isoformat()  # noqa: E731
    snow.sync("ApSupplier", pages_of("ApSupplier", [supplier("S1", "Acme")]))
    snow.sync(
        "ApInvoice",
        pages_of(
            "ApInvoice",
            [
                invoice("S1", "0001", "2026-11-01", "100.00", due=due(-5)),
                invoice("S1", "0002", "2026-11-01", "20.00", due=due(10)),
                invoice("S1", "0003", "2026-11-01", "3.00", due=due(45)),
                invoice("S1", "0004", "2026-11-01", "0.40", due=due(200)),
                invoice("S1", "0005", "2026-11-01", "0.00", due=due(200)),
            ],
        ),
    )
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
    snow.sync("InvWarehouse", pages_of("InvWarehouse", stock))
    value = snow.query("select warehouse_code, stock_code_count, stock_value_amount from report_syspro__stock_by_warehouse order by 1")
    micro = lambda v: Decimal(str(v)).quantize(Decimal("0.000001"))  # noqa: E731
    assert [(w, int(n), micro(v)) for w, n, v in value] == [("W1", 2, Decimal("28.000025")), ("W2", 1, Decimal("40"))]


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
    snow.sync("ApInvoice", Pages(page("ApInvoice", rows, poll_id=str(uuid.uuid4()))))
    assert snow.query("select count(*) from syspro__ap_invoice where record_digest is null")[0][0] == 2
    # the same records again, now with digests: rewritten once to carry them, then left alone
    run = snow.run_row(snow.sync("ApInvoice", Pages(digested("ApInvoice", rows))))
    assert (int(run["rows_inserted"]), int(run["rows_updated"])) == (0, 2)
    stored = dict(snow.query("select record_key, record_digest from syspro__ap_invoice"))
    assert stored == {"S1|0001": digest_of(rows[0]), "S1|0002": digest_of(rows[1])}
    landed = snow.query("select count(*) from raw_syspro__records where record_digest is not null")[0][0]
    assert landed == 2
    again = snow.run_row(snow.sync("ApInvoice", Pages(digested("ApInvoice", rows))))
    assert (int(again["rows_inserted"]), int(again["rows_updated"])) == (0, 0)
    # a digest that differs although the hash does not (another engine's view of the same row)
    # is rewritten too: verify compares digests, so the target must hold SYSPRO's
    other = snow.run_row(snow.sync("ApInvoice", Pages(digested("ApInvoice", rows, digests=["d1", "d2"]))))
    assert int(other["rows_updated"]) == 2


# -- open items, key refresh and verify (CONTRACT.md §3.1) ---------------------------------------

KEYS["ApInvoicePay"] = ["Supplier", "Invoice", "EntryNumber"]
WATERMARK["ApInvoicePay"] = "JournalDate"


class Service:
    """Answers syspro_pull_open / syspro_pull_keys / syspro_digests from a dict of records, as
    the service does: rows with their digests, `missing` for keys it does not have."""

    def __init__(self, table, records, *, is_open=None, fetched_at="2026-11-30T11:00:00"):
        self.table, self.records, self.is_open, self.fetched_at = table, records, is_open, fetched_at
        self.calls = []

    def key_of(self, record):
        return tuple(str(record[k]) for k in KEYS[self.table])

    def answer(self, rows, **extra):
        obj = json.loads(page(self.table, rows, poll_id=str(uuid.uuid4()), fetched_at=self.fetched_at), parse_float=Decimal)
        obj.update(high_water=None, digests=[digest_of(r) for r in rows], **extra)
        return encode(obj)

    def pull_open(self, table, cursor):
        self.calls.append(("pull_open", cursor))
        return self.answer([r for r in self.records if self.is_open(r)], open_items="MthInvBal1 ne 0")

    def pull_keys(self, table, keys, cursor):
        self.calls.append(("pull_keys", sorted(tuple(str(k[c]) for c in KEYS[table]) for k in keys)))
        assert all(set(k) == set(KEYS[table]) for k in keys), keys
        have = {self.key_of(r): r for r in self.records}
        wanted = [tuple(str(k[c]) for c in KEYS[table]) for k in keys]
        rows = [have[w] for w in wanted if w in have]
        return self.answer(rows, missing=[k for k, w in zip(keys, wanted) if w not in have])

    def digests(self, table, cursor):
        self.calls.append(("digests", cursor))
        keys = [{c: r[c] for c in KEYS[table]} for r in self.records]
        return json.dumps({"table": table, "key_columns": KEYS[table], "keys": keys,
                           "digests": [digest_of(r) for r in self.records], "next_cursor": None}, default=str)


def open_invoice(record):
    return record["MthInvBal1"] != 0


def test_a_sync_re_reads_open_items_and_refreshes_by_key_what_left_the_set(snow):
    first = [
        invoice("S1", "0001", "2026-09-01", "100.00"),  # open, old: partly paid below
        invoice("S1", "0002", "2026-09-02", "50.00"),  # open, old: paid in full below
        invoice("S1", "0003", "2026-09-03", "0.00"),  # settled: nothing to do
        invoice("S1", "0004", "2026-09-04", "70.00"),  # open, old: purged from SYSPRO below
    ]
    snow.sync("ApInvoice", Pages(digested("ApInvoice", first)))
    high_water = snow.high_water("ApInvoice")

    # SYSPRO changes rows far behind the watermark without moving their dates
    truth = [dict(first[0], MthInvBal1=Decimal("60.00")), dict(first[1], MthInvBal1=Decimal("0.00")), first[2]]
    svc = Service("ApInvoice", truth, is_open=open_invoice)
    run_id = snow.sync("ApInvoice", Pages(digested("ApInvoice", [])), refresh=svc)

    current = snow.current_records("ApInvoice")
    assert set(current) == {"S1|0001", "S1|0002", "S1|0003"}
    assert current["S1|0001"]["MthInvBal1"] == Decimal("60.00")  # (b) the open-items pull
    assert current["S1|0002"]["MthInvBal1"] == Decimal("0.00")  # (c) refreshed by key
    # one pull by key, of exactly the rows open here that the open-items poll did not return
    assert svc.calls == [("pull_open", None), ("pull_keys", [("S1", "0002"), ("S1", "0004")])]
    flagged = snow.query("select is_deleted, deleted_by_run_id from syspro__ap_invoice where record_key = 'S1|0004'")
    assert flagged == [(True, run_id)]
    run = snow.run_row(run_id)
    assert run["status"] == "succeeded" and run["error_kind"] is None
    assert (int(run["rows_inserted"]), int(run["rows_updated"]), int(run["rows_deleted"])) == (0, 2, 1)
    assert (int(run["keys_refreshed"]), int(run["keys_flagged_deleted"])) == (2, 1)
    assert run["keys_compared"] is None  # a verify measure
    assert int(run["pages"]) == 3  # watermark page, open-items page, one pull by key
    assert snow.high_water("ApInvoice") == high_water  # (b) and (c) never move the watermark
    assert snow.query("select count(*) from work_syspro__refresh_keys")[0][0] == 0
    digests = dict(snow.query("select record_key, record_digest from syspro__ap_invoice where not is_deleted"))
    assert digests == {"S1|" + r["Invoice"]: digest_of(r) for r in truth}

    # nothing changed since: the next cycle re-reads the open items and pulls nothing by key
    quiet = Service("ApInvoice", truth, is_open=open_invoice)
    run = snow.run_row(snow.sync("ApInvoice", Pages(digested("ApInvoice", [])), refresh=quiet))
    assert [c[0] for c in quiet.calls] == ["pull_open"]
    assert (int(run["rows_updated"]), int(run["keys_refreshed"]), int(run["keys_flagged_deleted"])) == (0, 0, 0)


def payment(supplier, number, entry, journal_date, value):
    return {"Supplier": supplier, "Invoice": number, "EntryNumber": entry, "JournalDate": f"{journal_date}T00:00:00", "TrnValue": Decimal(value)}


def test_new_child_rows_refresh_their_parents_once(snow):
    settled = invoice("S2", "0009", "2026-08-01", "0.00")
    snow.sync("ApInvoice", Pages(digested("ApInvoice", [settled])))
    # a reversal re-opens a settled invoice: SYSPRO writes an ApInvoicePay row dated today
    snow.sync("ApInvoicePay", Pages(digested("ApInvoicePay", [payment("S2", "0009", 1, "2026-11-30", "-40.00")])))
    reopened = dict(settled, MthInvBal1=Decimal("40.00"))
    # the open-items pull misses it (say SYSPRO's filter lags): the dependent refresh does not
    svc = Service("ApInvoice", [reopened], is_open=lambda r: False)
    snow.sync("ApInvoice", Pages(digested("ApInvoice", [])), refresh=svc)
    assert svc.calls[-1] == ("pull_keys", [("S2", "0009")])
    assert snow.current_records("ApInvoice")["S2|0009"]["MthInvBal1"] == Decimal("40.00")
    checked = snow.query("select dependents_checked_at from syspro_sync_state where table_name = 'ApInvoice'")[0][0]
    assert checked is not None

    # the same payment does not name its invoice again (now open, the open-items pull reads it)
    again = Service("ApInvoice", [reopened], is_open=open_invoice)
    snow.sync("ApInvoice", Pages(digested("ApInvoice", [])), refresh=again)
    assert [c[0] for c in again.calls] == ["pull_open"]


def test_a_failing_open_items_pull_fails_the_run_after_the_watermark_step(snow):
    snow.sync("ApInvoice", Pages(digested("ApInvoice", [invoice("S1", "0001", "2026-11-20")])))

    class Down:
        def pull_open(self, table, cursor):
            return json.dumps({"error": {"kind": "upstream_unavailable", "message": "503", "attempts": 3}, "table": table, "poll_id": "p"})

    run_id = str(uuid.uuid4())
    with pytest.raises(ServiceError):
        snow.sync("ApInvoice", Pages(digested("ApInvoice", [invoice("S1", "0002", "2026-11-25")])), run_id=run_id, refresh=Down())
    run = snow.run_row(run_id)
    assert run["status"] == "failed" and run["error_kind"] == "upstream_unavailable"
    # step (a) committed: its rows and watermark stand, and the audit row says so
    assert "S1|0002" in snow.current_records("ApInvoice")
    assert run["new_high_water"] == dt.datetime(2026, 11, 25) and int(run["rows_inserted"]) == 1
    assert snow.query("select count(*) from work_syspro__refresh_keys")[0][0] == 0


def test_verify_re_pulls_what_differs_pulls_what_is_missing_and_flags_what_is_gone(snow):
    rows = [invoice("S1", f"{n:04d}", "2026-10-01", f"{n}.00") for n in range(1, 6)]
    snow.sync("ApInvoice", Pages(digested("ApInvoice", rows)))
    # SYSPRO: 0001 unchanged, 0002 changed behind the watermark, 0003 deleted, 0004 unchanged,
    # 0005 flagged deleted here by mistake, 0006 back-dated beyond the overlap and never seen
    snow.query("update syspro__ap_invoice set is_deleted = true, deleted_at = sysdate() where record_key = 'S1|0005'")
    truth = [rows[0], dict(rows[1], MthInvBal1=Decimal("0.00")), rows[3], rows[4], invoice("S1", "0006", "2026-06-01", "6.00")]
    svc = Service("ApInvoice", truth)
    run_id = snow.verify("ApInvoice", svc)

    have = snow.current_records("ApInvoice")
    assert have == {"S1|" + r["Invoice"]: r for r in truth}
    assert svc.calls[-1] == ("pull_keys", [("S1", "0002"), ("S1", "0005"), ("S1", "0006")])
    run = snow.run_row(run_id)
    assert run["run_kind"] == "verify" and run["status"] == "succeeded"
    assert (int(run["keys_compared"]), int(run["keys_changed"]), int(run["keys_absent"])) == (5, 1, 2)
    assert (int(run["keys_refreshed"]), int(run["keys_flagged_deleted"])) == (3, 1)
    assert (int(run["rows_inserted"]), int(run["rows_updated"]), int(run["rows_deleted"])) == (1, 2, 1)
    assert run["since"] is None and snow.high_water("ApInvoice") == dt.datetime(2026, 10, 1)
    assert snow.query("select count(*) from work_syspro__verify_digests")[0][0] == 0
    assert snow.query("select count(*) from work_syspro__refresh_keys")[0][0] == 0

    # verified again, unchanged: compares everything, re-pulls nothing
    again = Service("ApInvoice", truth)
    run = snow.run_row(snow.verify("ApInvoice", again))
    assert [c[0] for c in again.calls] == ["digests"]
    assert (int(run["keys_compared"]), int(run["keys_refreshed"]), int(run["keys_flagged_deleted"])) == (5, 0, 0)


def test_verify_never_flags_on_an_empty_or_failed_scan(snow):
    snow.sync("ApSupplier", pages_of("ApSupplier", [supplier("S1", "Acme")]))
    empty = Service("ApSupplier", [])
    snow.verify("ApSupplier", empty)
    assert set(snow.current_records("ApSupplier")) == {"S1"}

    class Broken(Service):
        def digests(self, table, cursor):
            return json.dumps({"error": {"kind": "upstream_unavailable", "message": "down", "attempts": 3}, "table": table})

    run_id = str(uuid.uuid4())
    with pytest.raises(ServiceError):
        snow.verify("ApSupplier", Broken("ApSupplier", []), run_id=run_id)
    assert set(snow.current_records("ApSupplier")) == {"S1"}
    run = snow.run_row(run_id)
    assert (run["status"], run["error_kind"], int(run["keys_flagged_deleted"])) == ("failed", "upstream_unavailable", 0)


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


def test_a_first_load_commits_per_page_stops_at_its_budget_and_survives_a_cut(snow):
    """Issue #19: a first load makes progress within any task timeout. Pages come in
    watermark order; each commits with its MERGE and watermark; a run stops as 'partial'
    after pages_per_run pages; a run cut off mid-way is closed as 'abandoned' by the next
    run, its buffer rows removed, and the next run continues from the committed watermark."""
    days = [f"2026-0{m}-1{d}" for m in range(1, 7) for d in range(0, 2)]  # 12 days, in order
    rows = [invoice("S1", f"{i:04d}", day) for i, day in enumerate(days)]

    class Service:
        """syspro_pull by since and a cursor: two rows per page, in watermark order."""
        def __init__(self):
            self.polls = 0

        def __call__(self, table, since, cursor):
            start = int(cursor or 0)
            if start == 0:
                self.polls += 1
            todo = [r for r in rows if since is None or r["InvoiceDate"][:10] >= since]
            chunk = todo[start:start + 2]
            nxt = str(start + 2) if start + 2 < len(todo) else None
            return page(table, chunk, poll_id=f"poll-{self.polls}", page=start // 2 + 1, next_cursor=nxt, since=since)

    service = Service()
    # 1. a budget of 2 pages: the run stops 'partial' with 4 rows merged and the watermark at them
    first = snow.sync("ApInvoice", service, pages_per_run=2)
    assert snow.run_row(first)["status"] == "partial"
    assert len(snow.current_records("ApInvoice")) == 4
    assert str(snow.high_water("ApInvoice")).startswith(days[3])

    # 2. a run cut off after two committed pages (the first re-reads the overlap) plus a
    #    half-pulled one in the buffer
    cut = snow.sync("ApInvoice", service, pages_per_run=100, cut_after_pages=2)
    assert snow.run_row(cut)["status"] == "running"
    assert snow.query("select count(*) from work_syspro__pages where run_id = %(r)s", {"r": cut})[0][0] == 1
    progressed = snow.high_water("ApInvoice")
    assert progressed > snow.run_row(first)["new_high_water"]
    # the task timeout passes
    snow.query("update audit_syspro__runs set started_at = dateadd(hour, -2, started_at) where run_id = %(r)s", {"r": cut})

    # 3. the next run audits the cut one, clears its leftovers and finishes the load
    last = snow.sync("ApInvoice", service)
    cut_row = snow.run_row(cut)
    assert cut_row["status"] == "abandoned" and cut_row["error_kind"] == "abandoned"
    assert snow.query("select count(*) from work_syspro__pages")[0][0] == 0
    assert snow.run_row(last)["status"] == "succeeded"
    assert int(snow.run_row(last)["since"][:4]) == 2026 and snow.run_row(last)["since"] >= days[3][:10]
    assert sorted(snow.current_records("ApInvoice")) == sorted(f"S1|{i:04d}" for i in range(len(rows)))
    assert str(snow.high_water("ApInvoice")).startswith(days[-1])


def test_ap_aging_buckets_add_up_when_a_due_date_is_missing(snow):
    today = snow.query("select current_date()")[0][0]
    snow.sync("ApSupplier", pages_of("ApSupplier", [supplier("S1", "Acme")]))
    undated = invoice("S1", "0002", "2026-11-01", "7.50")
    undated["DueDate"] = None
    snow.sync(
        "ApInvoice",
        pages_of("ApInvoice", [invoice("S1", "0001", "2026-11-01", "10.00", due=(today + dt.timedelta(days=3)).isoformat()), undated]),
    )
    row = snow.query(
        "select current_amount, past_due_1_30_amount, past_due_31_60_amount, past_due_61_90_amount, "
        "past_due_over_90_amount, no_due_date_amount, balance_amount from report_syspro__ap_aging"
    )[0]
    cents = [Decimal(str(v or 0)).quantize(Decimal("0.01")) for v in row]
    assert cents[5] == Decimal("7.50"), row
    assert sum(cents[:6]) == cents[6] == Decimal("17.50"), "the buckets add up to the balance"


def test_typed_views_quote_reserved_words_and_rename_colliding_columns(snow):
    record = {"Supplier": "S1", "Invoice": "0001", "JournalDate": "2026-11-20T00:00:00", "Order": "A", "Group": "B", "GlCode": "x", "GLCode": "y", "PollId": "z"}
    snow.sync("ApInvoice", pages_of("ApInvoice", [record]))
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
