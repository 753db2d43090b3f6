"""Several SYSPRO companies in one account (issue #16), statement by statement on fakesnow: the
setup rendered for companies EDU1 and UK1 (`ml-connector sql --company EDU1 --company UK1`), and
the data-plane statements the procedures embed (`ml-connector sql --statements-json`), each run
here explicitly, in the order the procedures chain them, bound to one company's `:company_id`.
The companies' keys collide on purpose (supplier S1, invoice S1|0001 exist in both and are
different records, in different currencies): no statement may ever merge, flag, count or
refresh a row of the other company. And an account set up before companies existed is upgraded
in place: its rows become the single company's (''), and its statements carry on onto the same
rows.

Nothing here replays the sync cycle (issue #18): the cycle is written once, in Rust
(src/sync/cycle.rs, unit-tested in src/sync/cycle/tests.rs), and run for real with two companies
by push mode against the SQL API stand-in (tests/push/companies.rs). `side.load()` only puts
answers into a target as a fixture. What the Python replay asserted about the cycle's control
flow went with it; where it was a statement's doing, it is asserted of the statement instead:

- the `since` the next sync asks SYSPRO for (`Pages.calls`): asserted of `start_run`/`read_run`,
  which decide it; that the cycle pulls with the since it read is the cycle's (push mode:
  `two_companies_sync_apart_and_one_down_does_not_stop_the_other` catches up from each
  company's own watermark after UK1 was down).
- a run's insert/update totals summed by the replay: asserted of `merge_poll`'s own counts and of
  `finish_run` writing them to the company's run row; the cycle's summing is
  `every_row_lands_exactly_once_across_pages` (src/sync/cycle/tests.rs).
- the order of a key refresh's calls, open items then pulls by key (`svc.calls ==
  [("pull_open", None), ("pull_keys", ...)]`): `a_key_refresh_follows_the_watermark_and_never_moves_it`
  (src/sync/cycle/tests.rs, its `steps` list); which keys are pulled, and that there is one
  batch, is asserted here of `collect_refresh_keys`/`collect_verify_keys` and
  `read_refresh_batches`.
- an unchanged company's verify makes no pull by key (`edu.calls == ["digests"]`): asserted here
  as `read_refresh_batches` giving EDU1's run no batch, and `finish_key_refresh` counting 0 keys
  refreshed; that the cycle pulls once per batch is `a_key_refresh_follows_the_watermark_and_never_moves_it`,
  and a verify of unchanged tables refreshing nothing end to end is
  `push_mode_converges_on_changes_that_move_no_watermark_and_verify_makes_tables_equal`
  (tests/push/sync.rs, one company).
- `replay()` finding the poll's company: the lookup replay_syspro_poll runs
  (sql/70_procedures/replay_syspro_poll.sql) is run here as a query, then the statements of
  replay_syspro_poll__<table>.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest

import snowside
from test_data_plane import Service, digested, invoice, open_invoice, pages_of, supplier

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
    """The same account (the same cursor), every statement bound to `company`: two of these can
    interleave, as two companies' runs do."""
    return snowside.SnowSide(side.cur, side.statements, company)


def rows_of(side, table: str, where: str = "true") -> dict[tuple[str, str], dict]:
    """(company_id, record_key) -> record of the target's rows."""
    rows = side.query(f"select company_id, record_key, record from syspro__{snowside.slug(table)} where {where}")
    return {(company, key): snowside.loads_exact(record) for company, key, record in rows}


def high_water(side, company: str, table: str):
    rows = side.query(
        "select high_water from syspro_sync_state where company_id = %(c)s and table_name = %(t)s", {"c": company, "t": table}
    )
    return rows[0][0] if rows else None


def per_company(side, sql: str) -> list[tuple[str, int]]:
    """`select company_id, count(*) ... group by 1 order by 1` as [(company, n)]."""
    return [(c, int(n)) for c, n in side.query(sql)]


def batches(side, run_id: str) -> list[tuple[int, int, list]]:
    """`read_refresh_batches`: (batch_number, key_count, keys) of the run's pulls by key."""
    return [(int(b), int(n), json.loads(keys)) for b, n, keys in side.run("read_refresh_batches", run_id=run_id)]


def counted(run: dict, *columns: str) -> tuple:
    return tuple(None if run[c] is None else int(run[c]) for c in columns)


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


def test_start_run_opens_a_run_only_for_a_company_in_the_control_table(group):
    # ('' is not a company of this account: start_run writes nothing, the procedure raises)
    run_id = str(uuid.uuid4())
    as_company(group, "").run("start_run", run_id=run_id, table_name="ApInvoice", run_kind="sync", poll_id=None)
    assert group.query("select count(*) from audit_syspro__runs")[0][0] == 0
    uk_run, _ = as_company(group, "UK1").start("ApInvoice")
    assert group.run_row(uk_run)["company_id"] == "UK1"


def test_colliding_keys_of_two_companies_are_two_rows_with_their_own_watermarks(group):
    uk, edu = as_company(group, "UK1"), as_company(group, "EDU1")
    uk.load("ApSupplier", *pages_of("ApSupplier", [supplier("S1", "Acme UK Ltd")]).pages)
    edu.load("ApSupplier", *pages_of("ApSupplier", [supplier("S1", "Acme Education")]).pages)
    suppliers = rows_of(group, "ApSupplier")
    assert {k: r["SupplierName"] for k, r in suppliers.items()} == {("EDU1", "S1"): "Acme Education", ("UK1", "S1"): "Acme UK Ltd"}

    # both companies' first invoice syncs, interleaved statement by statement
    uk_poll, edu_poll = str(uuid.uuid4()), str(uuid.uuid4())
    uk_run, uk_since = uk.start("ApInvoice")
    edu_run, edu_since = edu.start("ApInvoice")
    assert uk_since == edu_since  # no watermark yet: each starts from its control row's initial_since
    uk.land("ApInvoice", pages_of("ApInvoice", [gbp(invoice("S1", "0001", "2026-11-20", "100.00"))], poll_id=uk_poll).pages[0],
            run_id=uk_run, since=uk_since)
    edu.land("ApInvoice", pages_of("ApInvoice", [invoice("S1", "0001", "2026-11-10", "250.00")], poll_id=edu_poll).pages[0],
             run_id=edu_run, since=edu_since)
    landed = per_company(group, "select company_id, count(*) from raw_syspro__records where table_name = 'ApInvoice' group by 1 order by 1")
    assert landed == [("EDU1", 1), ("UK1", 1)]
    pages = per_company(group, "select company_id, count(*) from audit_syspro__pages where table_name = 'ApInvoice' group by 1 order by 1")
    assert pages == [("EDU1", 1), ("UK1", 1)]
    # a poll is its company's: bound to the other company, merging it merges nothing
    assert edu.merge("ApInvoice", uk_poll) == (0, 0) and uk.merge("ApInvoice", edu_poll) == (0, 0)
    assert rows_of(group, "ApInvoice") == {}
    assert uk.merge("ApInvoice", uk_poll) == (1, 0)
    assert edu.merge("ApInvoice", edu_poll) == (1, 0)  # a second row, not an update of UK1's
    uk.run("advance_watermark", run_id=uk_run, table_name="ApInvoice")
    assert high_water(group, "UK1", "ApInvoice") == dt.datetime(2026, 11, 20) and high_water(group, "EDU1", "ApInvoice") is None
    edu.run("advance_watermark", run_id=edu_run, table_name="ApInvoice")
    uk.finish(uk_run, "ApInvoice", poll_id=uk_poll, inserted=1, updated=0)
    edu.finish(edu_run, "ApInvoice", poll_id=edu_poll, inserted=1, updated=0)

    invoices = rows_of(group, "ApInvoice")
    assert {k: (r["MthInvBal1"], r["Currency"]) for k, r in invoices.items()} == {
        ("EDU1", "S1|0001"): (Decimal("250.00"), "ZAR"),
        ("UK1", "S1|0001"): (Decimal("100.00"), "GBP"),
    }
    # each company has its own watermark and its own runs, each run counting its own pages
    assert high_water(group, "UK1", "ApInvoice") == dt.datetime(2026, 11, 20)
    assert high_water(group, "EDU1", "ApInvoice") == dt.datetime(2026, 11, 10)
    for run_id, company, poll, new_high_water in (
        (uk_run, "UK1", uk_poll, dt.datetime(2026, 11, 20)),
        (edu_run, "EDU1", edu_poll, dt.datetime(2026, 11, 10)),
    ):
        run = group.run_row(run_id)
        assert (run["company_id"], run["status"], run["poll_id"], run["new_high_water"]) == (company, "succeeded", poll, new_high_water)
        assert counted(run, "pages", "rows_pulled", "rows_inserted", "rows_updated") == (1, 1, 1, 0)

    # the next run of each company starts from its own high water minus the overlap
    uk_next, uk_since = uk.start("ApInvoice")
    edu_next, edu_since = edu.start("ApInvoice")
    assert (uk_since, edu_since) == ("2026-11-17", "2026-11-07")
    uk_poll_2, *_ = uk.land("ApInvoice", pages_of("ApInvoice", []).pages[0], run_id=uk_next, since=uk_since)
    assert uk.merge("ApInvoice", uk_poll_2) == (0, 0)
    uk.run("advance_watermark", run_id=uk_next, table_name="ApInvoice")
    uk.finish(uk_next, "ApInvoice", poll_id=uk_poll_2, inserted=0, updated=0)
    uk_before = group.query("select poll_id, loaded_at, record from syspro__ap_invoice where company_id = 'UK1'")
    changed = [invoice("S1", "0001", "2026-11-10", "200.00")]
    edu_poll_2, *_ = edu.land("ApInvoice", pages_of("ApInvoice", changed).pages[0], run_id=edu_next, since=edu_since)
    # EDU1's change rewrites EDU1's row only
    assert edu.merge("ApInvoice", edu_poll_2) == (0, 1)
    edu.run("advance_watermark", run_id=edu_next, table_name="ApInvoice")
    edu.finish(edu_next, "ApInvoice", poll_id=edu_poll_2, inserted=0, updated=1)
    assert group.query("select poll_id, loaded_at, record from syspro__ap_invoice where company_id = 'UK1'") == uk_before
    assert rows_of(group, "ApInvoice")[("EDU1", "S1|0001")]["MthInvBal1"] == Decimal("200.00")
    assert counted(group.run_row(edu_next), "rows_inserted", "rows_updated") == (0, 1)
    assert high_water(group, "UK1", "ApInvoice") == dt.datetime(2026, 11, 20)
    assert high_water(group, "EDU1", "ApInvoice") == dt.datetime(2026, 11, 10)

    # replaying UK1's first poll (replay_syspro_poll: the poll's company and table from the
    # landing log, then replay_syspro_poll__ap_invoice's statements) changes nothing in either
    table, company = group.query(
        "select max(table_name), max(company_id) from raw_syspro__records where poll_id = %(p)s", {"p": uk_poll}
    )[0]
    assert (table, company) == ("ApInvoice", "UK1")
    replay = as_company(group, company)
    replayed = str(uuid.uuid4())
    replay.run("start_run", run_id=replayed, table_name=table, run_kind="replay", poll_id=uk_poll)
    assert replay.merge(table, uk_poll) == (0, 0)
    replay.finish(replayed, table, poll_id=uk_poll, inserted=0, updated=0)
    run = group.run_row(replayed)
    assert (run["company_id"], run["run_kind"], int(run["rows_pulled"])) == ("UK1", "replay", 1)
    assert rows_of(group, "ApInvoice")[("EDU1", "S1|0001")]["MthInvBal1"] == Decimal("200.00")
    assert len(rows_of(group, "ApInvoice")) == 2


def test_a_new_run_closes_only_its_own_companys_abandoned_runs(group):
    uk, edu = as_company(group, "UK1"), as_company(group, "EDU1")
    # a run of each company cut off (task timeout) two hours ago, its half-done page in the buffer
    stuck = {}
    for side in (uk, edu):
        run_id, since = side.start("ApInvoice")
        side.run("buffer_page", run_id=run_id, table_name="ApInvoice", page_number=1, since=since, page_cursor=None,
                 page=pages_of("ApInvoice", []).pages[0])
        stuck[side.company] = run_id
    group.query("update audit_syspro__runs set started_at = dateadd(hour, -2, started_at)")

    # UK1's next run closes UK1's cut-off run only
    uk_run, _ = uk.start("ApInvoice")
    uk.run("close_abandoned_runs", run_id=uk_run, table_name="ApInvoice")
    status = dict(group.query("select run_id, status from audit_syspro__runs"))
    assert (status[stuck["UK1"]], status[stuck["EDU1"]], status[uk_run]) == ("abandoned", "running", "running")
    # EDU1's next run closes EDU1's; before EDU1 clears its buffer, UK1 clears only UK1's
    edu_run, _ = edu.start("ApInvoice")
    edu.run("close_abandoned_runs", run_id=edu_run, table_name="ApInvoice")
    assert group.run_row(stuck["EDU1"])["status"] == "abandoned" and group.run_row(uk_run)["status"] == "running"
    uk.run("clear_abandoned_runs", table_name="ApInvoice")
    assert group.query("select company_id, run_id from work_syspro__pages") == [("EDU1", stuck["EDU1"])]
    edu.run("clear_abandoned_runs", table_name="ApInvoice")
    assert group.query("select count(*) from work_syspro__pages")[0][0] == 0


def test_verify_flags_and_re_pulls_only_its_own_companys_rows(group):
    listed = {company: [supplier("S1", f"Acme {company}"), supplier("S2", "Beta")] for company in COMPANIES}
    for company in COMPANIES:
        as_company(group, company).load("ApSupplier", digested("ApSupplier", listed[company]))
    # S2 was deleted in UK1's SYSPRO only, and UK1's S1 changed there
    uk = as_company(group, "UK1")
    svc = Service("ApSupplier", [supplier("S1", "Acme UK1 renamed")])
    run_id, since = uk.start("ApSupplier", kind="verify")
    assert since is None
    uk.land("ApSupplier", svc.digests("ApSupplier", None), run_id=run_id, buffer="buffer_digests_page", lands=("land_digests",))
    assert per_company(group, "select company_id, count(*) from work_syspro__verify_digests group by 1") == [("UK1", 1)]
    # UK1's list lacks S2: UK1's S2 is flagged, EDU1's S2 (which UK1's list never names) is not
    uk.run("verify_mark_deleted__ap_supplier", run_id=run_id)
    assert group.query("select company_id, record_key from syspro__ap_supplier where is_deleted") == [("UK1", "S2")]
    # S1's digest differs from UK1's row (EDU1's S1 is another record, never compared)
    uk.run("collect_verify_keys__ap_supplier", run_id=run_id)
    assert group.query("select company_id, record_key, reason from work_syspro__refresh_keys") == [("UK1", "S1", "changed")]
    assert batches(uk, run_id) == [(1, 1, [{"Supplier": "S1"}])]
    poll, *_ = uk.land("ApSupplier", svc.pull_keys("ApSupplier", [{"Supplier": "S1"}], None), run_id=run_id, page_number=2,
                       buffer="buffer_keys_batch_page", lands=("land_page", "land_missing"), batch_number=1)
    assert uk.merge("ApSupplier", poll) == (0, 1)
    uk.run("mark_missing_deleted__ap_supplier", run_id=run_id, batch_number=1)
    uk.run("finish_key_refresh__ap_supplier", run_id=run_id)
    uk.finish(run_id, "ApSupplier", inserted=0, updated=1, deleted=1)
    uk.run("clear_refresh_keys", run_id=run_id)
    uk.run("clear_verify_digests", run_id=run_id)

    run = group.run_row(run_id)
    assert (run["company_id"], run["run_kind"], run["status"]) == ("UK1", "verify", "succeeded")
    assert counted(run, "keys_compared", "keys_changed", "keys_absent", "keys_refreshed", "keys_flagged_deleted") == (1, 1, 0, 1, 1)
    live = {k: r["SupplierName"] for k, r in rows_of(group, "ApSupplier", "not is_deleted").items()}
    assert live == {("EDU1", "S1"): "Acme EDU1", ("EDU1", "S2"): "Beta", ("UK1", "S1"): "Acme UK1 renamed"}
    assert group.query("select count(*) from work_syspro__verify_digests")[0][0] == 0
    assert group.query("select count(*) from work_syspro__refresh_keys")[0][0] == 0

    # EDU1's verify compares EDU1's rows only: unchanged, nothing to re-pull or flag
    edu = as_company(group, "EDU1")
    edu_svc = Service("ApSupplier", listed["EDU1"])
    edu_run, _ = edu.start("ApSupplier", kind="verify")
    edu.land("ApSupplier", edu_svc.digests("ApSupplier", None), run_id=edu_run, buffer="buffer_digests_page", lands=("land_digests",))
    edu.run("verify_mark_deleted__ap_supplier", run_id=edu_run)
    edu.run("collect_verify_keys__ap_supplier", run_id=edu_run)
    assert batches(edu, edu_run) == []
    edu.run("finish_key_refresh__ap_supplier", run_id=edu_run)
    edu.finish(edu_run, "ApSupplier", inserted=0, updated=0, deleted=0)
    edu.run("clear_refresh_keys", run_id=edu_run)
    edu.run("clear_verify_digests", run_id=edu_run)
    assert counted(group.run_row(edu_run), "keys_compared", "keys_refreshed", "keys_flagged_deleted") == (2, 0, 0)
    assert group.query("select company_id, record_key from syspro__ap_supplier where is_deleted") == [("UK1", "S2")]
    # UK1's run row is as its own verify left it
    assert group.run_row(run_id) == run


def refresh_by_key(side, table: str, run_id: str, svc, *, page_number: int) -> tuple[int, int]:
    """The one batch of a run's pulls by key (refresh_by_key.sql's statements for batch 1):
    the keys answer landed with its missing keys, merged, the missing keys flagged."""
    [(batch, _, keys)] = batches(side, run_id)
    poll, *_ = side.land(table, svc.pull_keys(table, keys, None), run_id=run_id, page_number=page_number,
                         buffer="buffer_keys_batch_page", lands=("land_page", "land_missing"), batch_number=batch)
    merged = side.merge(table, poll)
    side.run(f"mark_missing_deleted__{snowside.slug(table)}", run_id=run_id, batch_number=batch)
    return merged


def test_the_key_refresh_of_one_company_never_reads_the_others_open_items(group):
    for company, balance in (("UK1", "50.00"), ("EDU1", "70.00")):
        as_company(group, company).load("ApInvoice", digested("ApInvoice", [invoice("S1", "0002", "2026-09-02", balance)]))
    # UK1 paid S1|0002 in full: its open-items pull no longer returns it. Steps (b) and (c) of
    # UK1's sync (key_refresh.sql), after a watermark step that found nothing new:
    uk = as_company(group, "UK1")
    paid = invoice("S1", "0002", "2026-09-02", "0.00")
    svc = Service("ApInvoice", [paid], is_open=open_invoice)
    run_id, _ = uk.start("ApInvoice")
    open_poll, *_ = uk.land("ApInvoice", svc.pull_open("ApInvoice", None), run_id=run_id, buffer="buffer_open_page")
    assert uk.merge("ApInvoice", open_poll) == (0, 0)
    uk.run("collect_refresh_keys__ap_invoice", run_id=run_id, poll_id=open_poll)
    # one pull by key, of UK1's row; EDU1's open S1|0002 is not UK1's to refresh
    assert group.query("select company_id, record_key, reason from work_syspro__refresh_keys") == [("UK1", "S1|0002", "open_item")]
    assert batches(uk, run_id) == [(1, 1, [{"Supplier": "S1", "Invoice": "0002"}])]
    assert refresh_by_key(uk, "ApInvoice", run_id, svc, page_number=2) == (0, 1)
    uk.run("advance_dependents_checked", run_id=run_id, table_name="ApInvoice")
    uk.run("finish_key_refresh__ap_invoice", run_id=run_id)
    uk.finish(run_id, "ApInvoice", inserted=0, updated=1, deleted=0)
    uk.run("clear_refresh_keys", run_id=run_id)

    balances = {k: r["MthInvBal1"] for k, r in rows_of(group, "ApInvoice").items()}
    assert balances == {("UK1", "S1|0002"): Decimal("0.00"), ("EDU1", "S1|0002"): Decimal("70.00")}
    assert counted(group.run_row(run_id), "keys_refreshed", "keys_flagged_deleted") == (1, 0)
    checked = group.query("select company_id, dependents_checked_at is not null from syspro_sync_state where table_name = 'ApInvoice' order by 1")
    assert checked == [("EDU1", False), ("UK1", True)]

    # a new open invoice S1|0003 in both companies, that SYSPRO then purges in UK1: only UK1's
    # row is flagged, and EDU1's open S1|0002 and S1|0003 are still not UK1 candidates
    for company in COMPANIES:
        as_company(group, company).load("ApInvoice", digested("ApInvoice", [invoice("S1", "0003", "2026-11-20", "30.00")]))
    gone = Service("ApInvoice", [], is_open=open_invoice)
    run_id, _ = uk.start("ApInvoice")
    open_poll, *_ = uk.land("ApInvoice", gone.pull_open("ApInvoice", None), run_id=run_id, buffer="buffer_open_page")
    assert uk.merge("ApInvoice", open_poll) == (0, 0)
    uk.run("collect_refresh_keys__ap_invoice", run_id=run_id, poll_id=open_poll)
    assert batches(uk, run_id) == [(1, 1, [{"Supplier": "S1", "Invoice": "0003"}])]
    assert refresh_by_key(uk, "ApInvoice", run_id, gone, page_number=2) == (0, 0)
    assert group.query("select company_id, record_key, is_missing from work_syspro__refresh_keys") == [("UK1", "S1|0003", True)]
    uk.run("finish_key_refresh__ap_invoice", run_id=run_id)
    uk.finish(run_id, "ApInvoice", inserted=0, updated=0, deleted=1)
    uk.run("clear_refresh_keys", run_id=run_id)
    flagged = group.query("select company_id, record_key, is_deleted, deleted_by_run_id from syspro__ap_invoice order by 1, 2")
    assert flagged == [
        ("EDU1", "S1|0002", False, None),
        ("EDU1", "S1|0003", False, None),
        ("UK1", "S1|0002", False, None),
        ("UK1", "S1|0003", True, run_id),
    ]
    assert counted(group.run_row(run_id), "keys_refreshed", "keys_flagged_deleted") == (1, 1)


def payments_page(rows) -> str:
    """One ApInvoicePay answer (a child of ApInvoice: a payment names its invoice)."""
    return json.dumps({
        "table": "ApInvoicePay", "poll_id": str(uuid.uuid4()), "fetched_at": "2026-11-30T10:00:00", "since": None,
        "rows": rows, "row_count": len(rows), "next_cursor": None,
        "high_water": max((r["JournalDate"] for r in rows), default=None),
        "key_columns": ["Supplier", "Invoice", "EntryNumber"], "watermark_column": "JournalDate",
    })


def test_a_companys_payments_name_only_its_own_invoices_for_a_refresh(group):
    settled = invoice("S2", "0009", "2026-08-01", "0.00")
    for company in COMPANIES:
        as_company(group, company).load("ApInvoice", digested("ApInvoice", [settled]))
    # a reversal re-opens EDU1's settled invoice: SYSPRO writes an ApInvoicePay row naming it
    payment = {"Supplier": "S2", "Invoice": "0009", "EntryNumber": 1, "JournalDate": "2026-11-30T00:00:00", "TrnValue": -40}
    as_company(group, "EDU1").load("ApInvoicePay", payments_page([payment]))
    nothing_open = Service("ApInvoice", [], is_open=open_invoice)
    refreshes = {}
    for company in ("UK1", "EDU1"):
        side = as_company(group, company)
        run_id, _ = side.start("ApInvoice")
        open_poll, *_ = side.land("ApInvoice", nothing_open.pull_open("ApInvoice", None), run_id=run_id, buffer="buffer_open_page")
        side.run("collect_refresh_keys__ap_invoice", run_id=run_id, poll_id=open_poll)
        refreshes[company] = batches(side, run_id)
        side.run("clear_refresh_keys", run_id=run_id)
    # UK1's S2|0009 is the same key, but no UK1 payment names it
    assert refreshes == {"UK1": [], "EDU1": [(1, 1, [{"Supplier": "S2", "Invoice": "0009"}])]}


def test_a_re_pulled_range_flags_only_its_companys_rows(group):
    for company in COMPANIES:
        as_company(group, company).load("ApInvoice", *pages_of("ApInvoice", [invoice("S1", "0001", "2026-11-10")]).pages)
    # UK1 re-pulls 2026-11-10 (repull_syspro_range__ap_invoice) and SYSPRO has nothing that day
    # any more
    uk = as_company(group, "UK1")
    run_id, _ = uk.start("ApInvoice", kind="repull")
    range_ = dict(since="2026-11-10", until_day="2026-11-11")
    poll, *_ = uk.land("ApInvoice", pages_of("ApInvoice", []).pages[0], run_id=run_id, buffer="buffer_range_page", **range_)
    assert uk.merge("ApInvoice", poll) == (0, 0)
    uk.run("mark_deleted_range__ap_invoice", run_id=run_id, **range_)
    uk.finish(run_id, "ApInvoice", poll_id=poll, inserted=0, updated=0, deleted=1)
    assert group.query("select company_id, is_deleted from syspro__ap_invoice order by 1") == [("EDU1", False), ("UK1", True)]
    assert group.query("select company_id, run_kind, status from audit_syspro__runs where run_id = %(r)s", {"r": run_id}) == [
        ("UK1", "repull", "succeeded")
    ]


def test_reconciliation_compares_syspro_with_the_companys_own_rows(group):
    for company, amount in (("UK1", "100.00"), ("EDU1", "250.00")):
        as_company(group, company).load("ApInvoice", *pages_of("ApInvoice", [invoice("S1", "0001", "2026-11-20", amount)]).pages)
    answer = {
        "table": "UK1.ApInvoice",
        "period_column": "JournalDate",
        "period_from": "2026-11-01",
        "period_to": "2026-12-01",
        "measures": ["OrigInvValue"],
        "periods": [{"period": "2026-11-20", "row_count": 1, "sums": {"OrigInvValue": "100.00"}}],
    }
    uk = as_company(group, "UK1")
    run_id, _ = uk.start("ApInvoice", kind="reconcile")
    binds = dict(run_id=run_id, table_name="ApInvoice", page_number=1, period_from="2026-11-01", period_to="2026-12-01")
    uk.run("buffer_reconcile", **binds, page=json.dumps(answer))
    uk.run("audit_page", **binds)
    uk.run("reconcile_compare__ap_invoice", **binds)
    # UK1's one row and sum match SYSPRO's (EDU1's S1|0001 of the same day is not counted)
    rows = group.query("select company_id, period, status, target_row_count from audit_syspro__reconciliation")
    assert [(c, p, s, int(n)) for c, p, s, n in rows] == [("UK1", "2026-11-20", "ok", 1)]
    uk.run("clear_page_buffer", run_id=run_id)
    assert group.query("select count(*) from work_syspro__pages")[0][0] == 0


def test_reports_history_and_typed_views_show_the_company(group):
    today = group.query("select current_date()")[0][0]
    due = (today - dt.timedelta(days=10)).isoformat()
    for company, currency, amount in (("UK1", "GBP", "100.00"), ("EDU1", "ZAR", "250.00")):
        side = as_company(group, company)
        side.load("ApSupplier", *pages_of("ApSupplier", [supplier("S1", f"Acme {company}")]).pages)
        side.load("ApInvoice", *pages_of("ApInvoice", [dict(invoice("S1", "0001", "2026-11-01", amount, due=due), Currency=currency)]).pages)
        stock = {"StockCode": "A", "Warehouse": "W1", "QtyOnHand": Decimal("2"), "UnitCost": Decimal(amount)}
        side.load("InvWarehouse", *pages_of("InvWarehouse", [stock]).pages)

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
    snow.load("ApInvoice", *pages_of("ApInvoice", [invoice("S1", "0001", "2026-11-20", "10.00")]).pages)
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
    # the single company's statements carry on: the same watermark chain, the same row
    run_id, since = snow.start("ApInvoice")
    assert since == "2026-11-17"
    poll, *_ = snow.land("ApInvoice", pages_of("ApInvoice", [invoice("S1", "0001", "2026-11-20", "7.00")]).pages[0],
                         run_id=run_id, since=since)
    assert snow.merge("ApInvoice", poll) == (0, 1)
    snow.run("advance_watermark", run_id=run_id, table_name="ApInvoice")
    snow.finish(run_id, "ApInvoice", poll_id=poll, inserted=0, updated=1)
    run = snow.run_row(run_id)
    assert (run["company_id"], run["status"], run["new_high_water"]) == ("", "succeeded", dt.datetime(2026, 11, 20))
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
        as_company(group, company).load("ApSupplier", *pages_of("ApSupplier", [supplier("S1", name)]).pages)

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
