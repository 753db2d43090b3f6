"""Several SYSPRO companies in one account (issue #16), statement by statement on fakesnow: the
setup rendered for companies EDU1 and UK1 (`ml-connector sql --company EDU1 --company UK1`), the
same data-plane statements the procedures embed, each bound with its run's `:company_id`. The
companies' keys collide on purpose (supplier S1, invoice S1|0001 exist in both and are different
records, in different currencies): no statement may ever merge, flag, count or refresh a row of
the other company. And an account set up before companies existed is upgraded in place: its rows
become the single company's (''), and syncing carries on onto the same rows."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest

import snowside
from test_data_plane import Pages, Service, digested, invoice, open_invoice, pages_of, supplier

COMPANIES = ("EDU1", "UK1")

# every table that holds rows of a company (the targets: syspro__<table>)
DATA_TABLES = (
    "syspro_sync_control",
    "syspro_sync_state",
    "raw_syspro__records",
    "work_syspro__pages",
    "work_syspro__backfill_ranges",
    "work_syspro__refresh_keys",
    "work_syspro__verify_digests",
    "audit_syspro__runs",
    "audit_syspro__pages",
    "audit_syspro__reconciliation",
)


@pytest.fixture(scope="module")
def group_sql() -> str:
    return snowside.render(*[arg for company in COMPANIES for arg in ("--company", company)])


@pytest.fixture()
def group(group_sql, statements):
    """A fresh fakesnow account set up for two companies."""
    with snowside.fresh_account(group_sql, statements) as side:
        yield side


def as_company(side: snowside.SnowSide, company: str) -> snowside.SnowSide:
    side.company = company
    return side


def rows_of(side, table: str, where: str = "true") -> dict[tuple[str, str], dict]:
    """(company_id, record_key) -> record of the target's rows."""
    rows = side.query(f"select company_id, record_key, record from syspro__{snowside.slug(table)} where {where}")
    return {(company, key): snowside.loads_exact(record) for company, key, record in rows}


def high_water(side, company: str, table: str):
    rows = side.query(
        "select high_water from syspro_sync_state where company_id = %(c)s and table_name = %(t)s", {"c": company, "t": table}
    )
    return rows[0][0] if rows else None


def gbp(record):
    return dict(record, Currency="GBP")


def test_the_control_table_has_a_row_per_company_and_table(group):
    rows = group.query("select company_id, count(*), count_if(is_enabled) from syspro_sync_control group by 1 order by 1")
    assert [(c, int(n), int(e)) for c, n, e in rows] == [("EDU1", 13, 13), ("UK1", 13, 13)]
    # one target per table, shared by the companies
    targets = group.query("select count(distinct target_table), count(distinct table_name) from syspro_sync_control")[0]
    assert (int(targets[0]), int(targets[1])) == (13, 13)


def test_re_seeding_keeps_each_companys_edits_and_disables_companies_no_longer_listed(group, group_sql, setup_sql):
    group.query("update syspro_sync_control set overlap_days = 9 where company_id = 'UK1' and table_name = 'ApInvoice'")
    group.setup(group_sql)
    assert group.query("select company_id, overlap_days from syspro_sync_control where table_name = 'ApInvoice' order by 1") == [
        ("EDU1", 3),
        ("UK1", 9),
    ]
    # the single-company setup over it: '' is seeded, the companies stop syncing, data stays
    group.setup(setup_sql)
    enabled = group.query("select company_id, count_if(is_enabled) from syspro_sync_control group by 1 order by 1")
    assert [(c, int(n)) for c, n in enabled] == [("", 13), ("EDU1", 0), ("UK1", 0)]


def test_colliding_keys_of_two_companies_are_two_rows_with_their_own_watermarks(group):
    as_company(group, "UK1").sync("ApSupplier", pages_of("ApSupplier", [supplier("S1", "Acme UK Ltd")]))
    as_company(group, "EDU1").sync("ApSupplier", pages_of("ApSupplier", [supplier("S1", "Acme Education")]))
    uk_run = as_company(group, "UK1").sync("ApInvoice", pages_of("ApInvoice", [gbp(invoice("S1", "0001", "2026-11-20", "100.00"))]))
    edu_run = as_company(group, "EDU1").sync("ApInvoice", pages_of("ApInvoice", [invoice("S1", "0001", "2026-11-10", "250.00")]))

    suppliers = rows_of(group, "ApSupplier")
    assert {k: r["SupplierName"] for k, r in suppliers.items()} == {("EDU1", "S1"): "Acme Education", ("UK1", "S1"): "Acme UK Ltd"}
    invoices = rows_of(group, "ApInvoice")
    assert {k: (r["MthInvBal1"], r["Currency"]) for k, r in invoices.items()} == {
        ("EDU1", "S1|0001"): (Decimal("250.00"), "ZAR"),
        ("UK1", "S1|0001"): (Decimal("100.00"), "GBP"),
    }
    # each company has its own watermark, runs and landed records
    assert high_water(group, "UK1", "ApInvoice") == dt.datetime(2026, 11, 20)
    assert high_water(group, "EDU1", "ApInvoice") == dt.datetime(2026, 11, 10)
    assert group.run_row(uk_run)["company_id"] == "UK1" and group.run_row(edu_run)["company_id"] == "EDU1"
    landed = group.query("select company_id, count(*) from raw_syspro__records where table_name = 'ApInvoice' group by 1 order by 1")
    assert [(c, int(n)) for c, n in landed] == [("EDU1", 1), ("UK1", 1)]
    pages = group.query("select company_id, count(*) from audit_syspro__pages where table_name = 'ApInvoice' group by 1 order by 1")
    assert [(c, int(n)) for c, n in pages] == [("EDU1", 1), ("UK1", 1)]

    # the next run of each company starts from its own high water minus the overlap
    uk_next, edu_next = pages_of("ApInvoice", []), pages_of("ApInvoice", [invoice("S1", "0001", "2026-11-10", "200.00")])
    as_company(group, "UK1").sync("ApInvoice", uk_next)
    uk_before = group.query("select poll_id, loaded_at, record from syspro__ap_invoice where company_id = 'UK1'")
    edu_changed = as_company(group, "EDU1").sync("ApInvoice", edu_next)
    assert uk_next.calls == [("ApInvoice", "2026-11-17", None)] and edu_next.calls == [("ApInvoice", "2026-11-07", None)]
    # EDU1's change rewrote EDU1's row only
    assert group.query("select poll_id, loaded_at, record from syspro__ap_invoice where company_id = 'UK1'") == uk_before
    assert rows_of(group, "ApInvoice")[("EDU1", "S1|0001")]["MthInvBal1"] == Decimal("200.00")
    run = group.run_row(edu_changed)
    assert (int(run["rows_inserted"]), int(run["rows_updated"])) == (0, 1)
    # replaying UK1's first poll changes nothing, in either company
    replayed = group.replay(group.run_row(uk_run)["poll_id"])
    assert group.run_row(replayed)["company_id"] == "UK1"
    assert (int(group.run_row(replayed)["rows_inserted"]), int(group.run_row(replayed)["rows_updated"])) == (0, 0)
    assert len(rows_of(group, "ApInvoice")) == 2


def test_verify_flags_and_re_pulls_only_its_own_companys_rows(group):
    listed = {company: [supplier("S1", f"Acme {company}"), supplier("S2", "Beta")] for company in COMPANIES}
    for company in COMPANIES:
        as_company(group, company).sync("ApSupplier", Pages(digested("ApSupplier", listed[company])))
    # S2 was deleted in UK1's SYSPRO only, and UK1's S1 changed there
    svc = Service("ApSupplier", [supplier("S1", "Acme UK1 renamed")])
    run = group.run_row(as_company(group, "UK1").verify("ApSupplier", svc))
    assert run["company_id"] == "UK1" and run["status"] == "succeeded"
    assert (int(run["keys_compared"]), int(run["keys_changed"]), int(run["keys_absent"])) == (1, 1, 0)
    assert int(run["keys_flagged_deleted"]) == 1
    live = {k: r["SupplierName"] for k, r in rows_of(group, "ApSupplier", "not is_deleted").items()}
    assert live == {("EDU1", "S1"): "Acme EDU1", ("EDU1", "S2"): "Beta", ("UK1", "S1"): "Acme UK1 renamed"}
    # EDU1's verify compares EDU1's rows only: unchanged, nothing re-pulled or flagged
    edu = Service("ApSupplier", listed["EDU1"])
    edu_run = group.run_row(as_company(group, "EDU1").verify("ApSupplier", edu))
    assert [c[0] for c in edu.calls] == ["digests"]
    assert (int(edu_run["keys_compared"]), int(edu_run["keys_refreshed"]), int(edu_run["keys_flagged_deleted"])) == (2, 0, 0)
    assert group.query("select company_id, record_key from syspro__ap_supplier where is_deleted") == [("UK1", "S2")]


def test_the_key_refresh_of_one_company_never_reads_the_others_open_items(group):
    for company, balance in (("UK1", "50.00"), ("EDU1", "70.00")):
        as_company(group, company).sync("ApInvoice", Pages(digested("ApInvoice", [invoice("S1", "0002", "2026-09-02", balance)])))
    # UK1 paid S1|0002 in full: its open-items pull no longer returns it
    paid = invoice("S1", "0002", "2026-09-02", "0.00")
    svc = Service("ApInvoice", [paid], is_open=open_invoice)
    run_id = as_company(group, "UK1").sync("ApInvoice", Pages(digested("ApInvoice", [])), refresh=svc)
    # one pull by key, of UK1's row; EDU1's open S1|0002 is not UK1's to refresh
    assert svc.calls == [("pull_open", None), ("pull_keys", [("S1", "0002")])]
    balances = {k: r["MthInvBal1"] for k, r in rows_of(group, "ApInvoice").items()}
    assert balances == {("UK1", "S1|0002"): Decimal("0.00"), ("EDU1", "S1|0002"): Decimal("70.00")}
    assert int(group.run_row(run_id)["keys_refreshed"]) == 1
    # a new open UK1 invoice that SYSPRO then purges: only UK1's row is flagged, and EDU1's
    # open S1|0002 is still not a UK1 candidate
    gone = Service("ApInvoice", [], is_open=open_invoice)
    as_company(group, "UK1").sync("ApInvoice", Pages(digested("ApInvoice", [invoice("S1", "0003", "2026-11-20", "30.00")])), refresh=gone)
    assert gone.calls == [("pull_open", None), ("pull_keys", [("S1", "0003")])]
    flagged = group.query("select company_id, record_key, is_deleted from syspro__ap_invoice order by 1, 2")
    assert flagged == [("EDU1", "S1|0002", False), ("UK1", "S1|0002", False), ("UK1", "S1|0003", True)]


def test_a_re_pulled_range_flags_only_its_companys_rows(group):
    for company in COMPANIES:
        as_company(group, company).sync("ApInvoice", pages_of("ApInvoice", [invoice("S1", "0001", "2026-11-10")]))
    # UK1 re-pulls 2026-11-10 and SYSPRO has nothing that day any more
    run_id = str(uuid.uuid4())
    uk = as_company(group, "UK1")
    uk.run("start_run", run_id=run_id, table_name="ApInvoice", run_kind="repull", poll_id=None)
    uk.run("mark_deleted_range__ap_invoice", run_id=run_id, since="2026-11-10", until_day="2026-11-11")
    assert group.query("select company_id, is_deleted from syspro__ap_invoice order by 1") == [("EDU1", False), ("UK1", True)]


def test_reconciliation_compares_syspro_with_the_companys_own_rows(group):
    for company, amount in (("UK1", "100.00"), ("EDU1", "250.00")):
        as_company(group, company).sync("ApInvoice", pages_of("ApInvoice", [invoice("S1", "0001", "2026-11-20", amount)]))
    answer = {
        "table": "UK1.ApInvoice",
        "period_column": "JournalDate",
        "period_from": "2026-11-01",
        "period_to": "2026-12-01",
        "measures": ["OrigInvValue"],
        "periods": [{"period": "2026-11-20", "row_count": 1, "sums": {"OrigInvValue": "100.00"}}],
    }
    run_id = str(uuid.uuid4())
    uk = as_company(group, "UK1")
    binds = dict(run_id=run_id, table_name="ApInvoice", page_number=1, period_from="2026-11-01", period_to="2026-12-01")
    uk.run("start_run", run_id=run_id, table_name="ApInvoice", run_kind="reconcile", poll_id=None)
    uk.run("buffer_reconcile", **binds, page=json.dumps(answer))
    uk.run("reconcile_compare__ap_invoice", **binds)
    rows = group.query("select company_id, period, status, target_row_count from audit_syspro__reconciliation")
    assert [(c, p, s, int(n)) for c, p, s, n in rows] == [("UK1", "2026-11-20", "ok", 1)]
    uk.run("clear_page_buffer", run_id=run_id)
    assert group.query("select count(*) from work_syspro__pages")[0][0] == 0


def test_reports_history_and_typed_views_show_the_company(group):
    today = group.query("select current_date()")[0][0]
    due = (today - dt.timedelta(days=10)).isoformat()
    for company, currency, amount in (("UK1", "GBP", "100.00"), ("EDU1", "ZAR", "250.00")):
        side = as_company(group, company)
        side.sync("ApSupplier", pages_of("ApSupplier", [supplier("S1", f"Acme {company}")]))
        side.sync("ApInvoice", pages_of("ApInvoice", [dict(invoice("S1", "0001", "2026-11-01", amount, due=due), Currency=currency)]))
        side.sync("InvWarehouse", pages_of("InvWarehouse", [{"StockCode": "A", "Warehouse": "W1", "QtyOnHand": Decimal("2"), "UnitCost": Decimal(amount)}]))

    aging = group.query(
        "select company_id, supplier_code, supplier_name, currency_code, past_due_1_30_amount from report_syspro__ap_aging order by 1"
    )
    cents = lambda v: Decimal(str(v)).quantize(Decimal("0.01"))  # noqa: E731
    assert [(c, s, n, cur, cents(a)) for c, s, n, cur, a in aging] == [
        ("EDU1", "S1", "Acme EDU1", "ZAR", Decimal("250.00")),
        ("UK1", "S1", "Acme UK1", "GBP", Decimal("100.00")),
    ]
    # filtered by company, as a report user does
    assert group.query("select count(*) from report_syspro__ap_aging where company_id = 'UK1'")[0][0] == 1
    spend = group.query("select company_id, supplier_name, spend_amount from report_syspro__spend_by_supplier order by 1")
    assert [(c, n, cents(a)) for c, n, a in spend] == [("EDU1", "Acme EDU1", Decimal("250.00")), ("UK1", "Acme UK1", Decimal("100.00"))]
    stock = group.query("select company_id, warehouse_code, stock_code_count from report_syspro__stock_by_warehouse order by 1")
    assert [(c, w, int(n)) for c, w, n in stock] == [("EDU1", "W1", 1), ("UK1", "W1", 1)]
    history = group.query("select company_id, record_key, is_current from hist_syspro__ap_invoice order by 1")
    assert history == [("EDU1", "S1|0001", True), ("UK1", "S1|0001", True)]

    schema = {
        "table": "ApInvoice",
        "columns": [{"name": "Supplier", "snowflake_type": "VARCHAR(15)"}, {"name": "MthInvBal1", "snowflake_type": "NUMBER(14,2)"}],
    }
    as_company(group, "EDU1").refresh_typed_view("ApInvoice", json.dumps(schema))
    typed = group.query("select company_id, supplier, mth_inv_bal1 from stg_syspro__ap_invoice order by 1")
    assert [(c, s, cents(a)) for c, s, a in typed] == [("EDU1", "S1", Decimal("250.00")), ("UK1", "S1", Decimal("100.00"))]


def test_an_account_from_before_companies_is_upgraded_in_place(snow, setup_sql):
    snow.sync("ApInvoice", pages_of("ApInvoice", [invoice("S1", "0001", "2026-11-20", "10.00")]))
    # the same account before companies existed: no company_id column anywhere
    for table in DATA_TABLES + ("syspro__ap_invoice",):
        snow.query(f"alter table {table} drop column company_id")
    snow.setup(setup_sql)  # the upgrade
    for table in DATA_TABLES + ("syspro__ap_invoice",):
        columns = {r[0].lower(): r for r in snow.query(f"describe table {table}")}
        assert "company_id" in columns, table
        assert snow.query(f"select count(*) from {table} where company_id is null or company_id <> ''")[0][0] == 0, table
    # a row written without the company is refused, as on Snowflake after SET NOT NULL
    with pytest.raises(Exception):
        snow.query("insert into syspro_sync_state (table_name, updated_at) values ('X', sysdate())")
    # the single company's next sync carries on: same row, same watermark chain
    nxt = pages_of("ApInvoice", [invoice("S1", "0001", "2026-11-20", "7.00")])
    run = snow.run_row(snow.sync("ApInvoice", nxt))
    assert nxt.calls == [("ApInvoice", "2026-11-17", None)]
    assert (int(run["rows_inserted"]), int(run["rows_updated"])) == (0, 1)
    assert rows_of(snow, "ApInvoice") == {("", "S1|0001"): invoice("S1", "0001", "2026-11-20", "7.00")}


def test_the_dashboard_keeps_companies_apart(group):
    """The Streamlit dashboard's queries (streamlit/dashboard_data.py) on a two-company account:
    one health row per company × table (never one company's state joined to the other's), and
    the finance figures per company."""
    import sys

    import pandas as pd

    sys.path.insert(0, str(snowside.ROOT / "streamlit"))
    import dashboard_data

    for company, name in (("UK1", "Acme UK1"), ("EDU1", "Acme EDU1")):
        as_company(group, company).sync("ApSupplier", pages_of("ApSupplier", [supplier("S1", name)]))

    def run(sql: str) -> pd.DataFrame:
        group.cur.execute(sql)
        return pd.DataFrame(group.cur.fetchall(), columns=[d[0] for d in group.cur.description])

    source = dashboard_data.Source("local", run)
    health = dashboard_data.health(source)
    assert len(health) == 2 * 13, "one row per company × table"
    assert not health.duplicated(["company_id", "table_name"]).any()
    synced = health[health["table_name"] == "ApSupplier"]
    assert list(synced["table"]) == ["EDU1.ApSupplier", "UK1.ApSupplier"]
    assert synced["last_success_at"].notna().all() and synced["high_water"].isna().all()
    assert health[health["table_name"] != "ApSupplier"]["last_success_at"].isna().all()
    assert dashboard_data.labelled("UK1", "GBP") == "UK1 GBP" and dashboard_data.labelled("", "GBP") == "GBP"
