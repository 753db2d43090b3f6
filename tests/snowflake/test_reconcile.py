"""Daily reconciliation and parallel backfill, end to end: the SYSPRO simulator, push mode
(`ml-connector sync --once`) loading the tables through the SQL API stand-in, and the real service
called exactly as Snowflake calls SYSPRO_RECONCILE and SYSPRO_PULL_RANGE. Reconciliation, re-pulls
and backfills are run only by the procedures (reconcile_syspro__<t>, repull_syspro_range__<t>,
backfill_syspro__<t>; push mode has none of them), and fakesnow cannot run procedures: their
statements are run here in the procedures' order, on the database push mode loaded.

- a clean sync reconciles to zero drift, with SYSPRO's exact sums per day;
- a back-dated row the incremental sync missed, a hard delete in SYSPRO, a changed balance and a
  row missing from the target each show up as drift in their own day, are re-pulled, and
  reconcile to zero afterwards, without moving the watermark;
- sums are compared exactly (number(38, 10)), never through floating point;
- a backfill by month ranges, pulled concurrently, lands the same target rows as a serial pull
  and leaves the watermark at the overall high water.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

import pushrig
import snowside
from pushrig import by_key, expected, http, loads_exact
from test_e2e import simulator  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(pushrig.binaries_missing() is not None, reason=pushrig.binaries_missing() or "")

KEYS = {"ApInvoice": ["Supplier", "Invoice"], "GenJournalDetail": ["GlYear", "GlPeriod", "Journal", "EntryNumber"]}
SNAPSHOTS = ["ApSupplier", "GenMaster", "InvWarehouse"]
WATERMARKED = ["ApInvoice", "ApInvoicePay", "GenJournalDetail", "InvMovements", "GrnDetails", "PorMasterHdr"]


class ServiceError(Exception):
    pass


@pytest.fixture(scope="module")
def service(simulator):  # noqa: F811
    process, functions = pushrig.start_service(simulator)
    try:
        yield functions
    finally:
        process.stop()


@pytest.fixture()
def snow(push, simulator):  # noqa: F811
    """Push mode pointed at the module's simulator (the `snow` of the statement-level tests is
    a bare fakesnow; here the database is the stand-in's)."""
    return push.use(simulator)


# -- the procedures only Snowflake runs, statement by statement -----------------------------------


def finish(snow, run_id, table, poll_id, status, inserted, updated, deleted, kind, message):
    snow.run("finish_run", run_id=run_id, table_name=table, poll_id=poll_id, run_status=status, rows_inserted=inserted,
             rows_updated=updated, rows_deleted=deleted, error_kind=kind, error_message=message)


def reconcile(snow, svc, table, period_from, period_to, run_id=None):
    """reconcile_syspro__<table>(run_id, period_from, period_to), re-pulls included. A table read
    whole drifts as 'all': the procedure then runs the table's sync and delete scan; push mode's
    equivalent is its cycle with a verify, which is what runs here."""
    run_id = run_id or str(uuid.uuid4())
    common = dict(run_id=run_id, table_name=table)
    snow.run("start_run", **common, run_kind="reconcile", poll_id=None)
    page = svc.call("/v1/reconcile", table, period_from, period_to)
    binds = dict(common, page_number=1)
    snow.run("buffer_reconcile", **binds, period_from=period_from, period_to=period_to, page=page)
    snow.run("audit_page", **binds)
    _, _, error_kind, error_message = snow.run("read_page", **binds)[0]
    if error_kind is not None:
        snow.run("clear_page_buffer", run_id=run_id)
        finish(snow, run_id, table, None, "failed", None, None, None, error_kind, error_message)
        raise ServiceError(f"{error_kind}: {error_message}")
    snow.run(f"reconcile_compare__{snowside.slug(table)}", **binds)
    snow.run("clear_page_buffer", run_id=run_id)
    for (period,) in snow.run("read_drift", run_id=run_id):
        if period == "all":
            repull_run_id = snow.sync(table, verify=True).run(table, "verify")["run_id"]
        else:
            until_day = (dt.date.fromisoformat(period) + dt.timedelta(days=1)).isoformat()
            repull_run_id = repull_range(snow, svc, table, period, until_day)
        snow.run("record_repull", run_id=run_id, period=period, repull_run_id=repull_run_id)
    finish(snow, run_id, table, None, "succeeded", None, None, None, None, None)
    return run_id


def repull_range(snow, svc, table, since, until_day, run_id=None):
    """repull_syspro_range__<table>(run_id, since, until_day)."""
    run_id = run_id or str(uuid.uuid4())
    common = dict(run_id=run_id, table_name=table)
    snow.run("start_run", **common, run_kind="repull", poll_id=None)
    cursor, page_number, poll_id = None, 0, None
    while True:  # the procedure's page loop, one range
        page_number += 1
        binds = dict(common, page_number=page_number, since=since, page_cursor=cursor)
        snow.run("buffer_range_page", **binds, page=svc.call("/v1/pull_range", table, since, until_day, cursor))
        snow.run("audit_page", **binds)
        poll_id, cursor, error_kind, error_message = snow.run("read_page", **binds)[0]
        if error_kind is not None:
            raise ServiceError(f"{error_kind}: {error_message}")
        snow.run(f"land_page__{snowside.slug(table)}", **binds)
        snow.run("clear_page_buffer", run_id=run_id)
        if cursor is None:
            break
    # one transaction in Snowflake
    inserted, updated = snow.run(f"merge_poll__{snowside.slug(table)}", poll_id=poll_id)[0]
    snow.run(f"mark_deleted_range__{snowside.slug(table)}", run_id=run_id, since=since, until_day=until_day)
    deleted = snow.rowcount
    finish(snow, run_id, table, poll_id, "succeeded", int(inserted), int(updated), deleted, None, None)
    return run_id


def backfill(snow, svc, table, since, range_months, rounds=None):
    """backfill_syspro__<table>(run_id, since, months_per_range): the fan-out round pulls the next
    page of every open range concurrently, as Snowflake sends MAX_BATCH_ROWS = 1 batches."""
    run_id = str(uuid.uuid4())
    common = dict(run_id=run_id, table_name=table)
    snow.run("start_run", **common, run_kind="backfill", poll_id=None)
    snow.run("plan_backfill_ranges", **common, since=since, range_months=range_months)
    range_count = snow.rowcount
    assert range_count > 0
    round_base = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        while True:
            open_ranges = snow.query(
                "select range_number, range_since, range_until, page_cursor from work_syspro__backfill_ranges"
                " where run_id = %(r)s and not is_done order by range_number",
                {"r": run_id},
            )
            if rounds is not None:
                rounds.append(len(open_ranges))
            answers = list(
                pool.map(lambda r: (r[0], svc.call("/v1/pull_range", table, r[1], r[2], r[3])), open_ranges)
            )
            pages = "{" + ", ".join(f'"{n}": {text}' for n, text in answers) + "}"
            snow.run("buffer_backfill_pages", run_id=run_id, page_number=round_base, pages=pages)
            if snow.rowcount == 0:
                break
            for offset in range(1, range_count + 1):
                binds = dict(common, page_number=round_base + offset)
                snow.run("audit_page", **binds)
                if snow.rowcount > 0:
                    _, _, error_kind, error_message = snow.run("read_page", **binds)[0]
                    if error_kind is not None:
                        raise ServiceError(f"{error_kind}: {error_message}")
                    snow.run(f"land_page__{snowside.slug(table)}", **binds)
            snow.run("advance_backfill_ranges", run_id=run_id, page_number=round_base)
            snow.run("clear_page_buffer", run_id=run_id)
            round_base += range_count
    # one transaction in Snowflake: every range's MERGE, then the watermark
    inserted = updated = 0
    for (poll_id,) in snow.run("read_run_polls", run_id=run_id):
        i, u = snow.run(f"merge_poll__{snowside.slug(table)}", poll_id=poll_id)[0]
        inserted, updated = inserted + int(i), updated + int(u)
    snow.run("advance_watermark", **common)
    finish(snow, run_id, table, None, "succeeded", inserted, updated, None, None, None)
    snow.run("clear_backfill_ranges", run_id=run_id)
    return run_id


# -- reading the report ---------------------------------------------------------------------------


def report(snow, run_id) -> dict[str, dict]:
    out = {}
    for rec in snow.rows("select * from audit_syspro__reconciliation where run_id = %(r)s", {"r": run_id}):
        for col in ("syspro_sums", "target_sums", "sum_differences"):
            rec[col] = loads_exact(rec[col]) if rec[col] is not None else None
        out[rec["period"]] = rec
    return out


def drift(snow, run_id) -> dict[str, dict]:
    return {p: r for p, r in report(snow, run_id).items() if r["status"] == "drift"}


def day_of(record, column) -> str:
    return record[column][:10]


def exact_sums(records, column, measures):
    out: dict[str, dict[str, Decimal]] = {}
    for r in records:
        sums = out.setdefault(day_of(r, column), {})
        for m in measures:
            if r.get(m) is not None:
                sums[m] = sums.get(m, Decimal(0)) + Decimal(str(r[m]))
    return out


WINDOW = ("2026-10-01", "2026-11-21")  # the simulator's business date is 2026-11-20


# -- tests ----------------------------------------------------------------------------------------


def test_a_clean_sync_reconciles_to_zero_drift_with_exact_sums(snow, simulator, service):  # noqa: F811
    snow.sync(WATERMARKED + SNAPSHOTS)
    for table in WATERMARKED:
        run_id = reconcile(snow, service, table, *WINDOW)
        rows = report(snow, run_id)
        assert rows, f"{table}: no periods reconciled"
        assert not drift(snow, run_id), f"{table} drifts after a clean sync: {list(drift(snow, run_id).items())[:2]}"
        assert all(r["row_count_difference"] == 0 and r["sum_differences"] == {} for r in rows.values())
        assert snow.run_row(run_id)["status"] == "succeeded"
    for table in SNAPSHOTS:
        rows = report(snow, reconcile(snow, service, table, None, None))
        assert list(rows) == ["all"] and rows["all"]["status"] == "ok", rows
        assert rows["all"]["syspro_row_count"] == len(expected(simulator, table))

    # SYSPRO's figures per day are exact: the simulator's truth summed as decimals
    run_id = reconcile(snow, service, "ApInvoice", *WINDOW)
    truth = [r for r in expected(simulator, "ApInvoice") if WINDOW[0] <= day_of(r, "JournalDate") < WINDOW[1]]
    want = exact_sums(truth, "JournalDate", ["OrigInvValue", "MthInvBal1"])
    rows = report(snow, run_id)
    assert set(rows) == set(want)
    for day, sums in want.items():
        assert {k: Decimal(str(v)) for k, v in rows[day]["syspro_sums"].items()} == sums, day
        assert {k: Decimal(str(v)) for k, v in rows[day]["target_sums"].items()} == sums, day
    assert sum(r["syspro_row_count"] for r in rows.values()) == len(truth)

    # a split column: GL debits and credits are reconciled apart
    rows = report(snow, reconcile(snow, service, "GenJournalDetail", *WINDOW))
    keys = set().union(*(r["syspro_sums"].keys() for r in rows.values()))
    assert {"EntryValue", "EntryValue:D", "EntryValue:C"} <= keys, keys
    assert all(r["status"] == "ok" for r in rows.values())

    # nothing drifts, so the drift report is empty and no re-pull ran
    assert snow.query("select count(*) from report_syspro__reconciliation_drift")[0][0] == 0
    assert snow.query("select count(*) from audit_syspro__runs where run_kind = 'repull'")[0][0] == 0


def test_missed_deleted_and_changed_rows_drift_in_their_day_and_the_repull_clears_them(snow, simulator, service, tmp_path):  # noqa: F811
    sim = simulator["base_url"]
    # a site with ApInvoice's open-items re-read turned off: its sync is the watermark pull
    # alone, which misses what this test makes SYSPRO do
    config = tmp_path / "no-open-items.toml"
    config.write_text('[tables.ApInvoice]\nopen_items = ""\n')
    watermark_only = {"MLC_CONFIG": str(config)}
    snow.sync("ApInvoice", extra_env=watermark_only)
    high_water = snow.high_water("ApInvoice")
    overlap_start = (high_water.date() - dt.timedelta(days=3)).isoformat()
    before = by_key(expected(simulator, "ApInvoice"), KEYS["ApInvoice"])

    def mutate(**plan):
        body = {"inserts": 0, "updates": 0, "backdated": 0, "deletes": 0, "backdate_max_days": 45, "tables": ["ApInvoice"], **plan}
        return json.loads(http("POST", f"{sim}/_sim/mutate", body))["tables"]["ApInvoice"]

    def key_of(k):
        return tuple(str(k[c]) for c in KEYS["ApInvoice"])

    days = {}
    # a row posted back-dated beyond the overlap window: the next incremental sync cannot see it
    for _ in range(50):
        inserted = mutate(backdated=1)["inserted"]
        record = by_key(expected(simulator, "ApInvoice"), KEYS["ApInvoice"])[key_of(inserted[0])]
        if WINDOW[0] <= day_of(record, "JournalDate") < overlap_start:
            days["backdated"] = day_of(record, "JournalDate")
            break
    # a balance changed on an old invoice (a payment): incremental pulls never re-read it
    for _ in range(50):
        updated = mutate(updates=1)["updated"]
        record = by_key(expected(simulator, "ApInvoice"), KEYS["ApInvoice"])[key_of(updated[0])]
        if WINDOW[0] <= day_of(record, "JournalDate") < overlap_start and day_of(record, "JournalDate") not in days.values():
            days["changed"] = day_of(record, "JournalDate")
            changed = (key_of(updated[0]), before[key_of(updated[0])], record)
            break
    # a hard delete in SYSPRO
    for _ in range(50):
        deleted = mutate(deletes=1)["deleted"]
        record = before.get(key_of(deleted[0]))
        if record and WINDOW[0] <= day_of(record, "JournalDate") < WINDOW[1] and day_of(record, "JournalDate") not in days.values():
            days["deleted"] = day_of(record, "JournalDate")
            break
    assert set(days) == {"backdated", "changed", "deleted"}, days

    snow.sync("ApInvoice", extra_env=watermark_only)  # the scheduled sync runs and misses all three
    # a row lost on the Snowflake side (e.g. removed by hand)
    truth = expected(simulator, "ApInvoice")
    lost = next(
        r for r in truth
        if WINDOW[0] <= day_of(r, "JournalDate") < WINDOW[1] and day_of(r, "JournalDate") not in days.values()
    )
    days["lost"] = day_of(lost, "JournalDate")
    lost_key = "|".join(str(lost[c]) for c in KEYS["ApInvoice"])
    snow.query("delete from syspro__ap_invoice where record_key = %(k)s", {"k": lost_key})
    high_water = snow.high_water("ApInvoice")

    run_id = reconcile(snow, service, "ApInvoice", *WINDOW)
    found = report(snow, run_id)
    drifting = {p: r for p, r in found.items() if r["status"] == "drift"}
    assert set(drifting) == set(days.values()), (days, sorted(drifting))
    assert drifting[days["backdated"]]["row_count_difference"] == 1
    assert drifting[days["lost"]]["row_count_difference"] == 1
    assert drifting[days["deleted"]]["row_count_difference"] == -1
    key, old, new = changed
    row = drifting[days["changed"]]
    assert row["row_count_difference"] == 0
    want = Decimal(str(new["MthInvBal1"])) - Decimal(str(old["MthInvBal1"]))
    assert {k: Decimal(str(v)) for k, v in row["sum_differences"].items()} == {"MthInvBal1": want}

    # every drifting day was re-pulled, recorded, and the watermark did not move
    for period, row in drifting.items():
        assert row["is_repull_triggered"] and row["repull_run_id"], row
        repull = snow.run_row(row["repull_run_id"])
        assert repull["run_kind"] == "repull" and repull["status"] == "succeeded", repull
        assert snow.query(
            "select min(requested_since) from audit_syspro__pages where run_id = %(r)s", {"r": row["repull_run_id"]}
        )[0][0] == period
    assert not any(r["is_repull_triggered"] for r in found.values() if r["status"] == "ok")
    assert int(snow.run_row(drifting[days["deleted"]]["repull_run_id"])["rows_deleted"]) == 1
    assert snow.high_water("ApInvoice") == high_water

    view = snow.query("select period, is_repull_triggered, repull_status, is_resolved from report_syspro__reconciliation_drift")
    assert {(p, bool(t), s, bool(r)) for p, t, s, r in view} == {(d, True, "succeeded", False) for d in days.values()}

    # after the re-pull the same window reconciles to zero and the target equals SYSPRO
    again = report(snow, reconcile(snow, service, "ApInvoice", *WINDOW))
    assert all(r["status"] == "ok" for r in again.values()), [r for r in again.values() if r["status"] != "ok"][:1]
    # (rows outside the window, e.g. deletes of older invoices, wait for their own reconciliation)
    def in_window(records):
        return by_key([r for r in records if WINDOW[0] <= day_of(r, "JournalDate") < WINDOW[1]], KEYS["ApInvoice"])

    assert in_window(snow.current_records("ApInvoice").values()) == in_window(expected(simulator, "ApInvoice"))
    assert all(r for (r,) in snow.query("select is_resolved from report_syspro__reconciliation_drift"))
    assert snow.high_water("ApInvoice") == high_water


def test_a_snapshot_table_drifts_as_a_whole_and_is_resynced(snow, simulator, service):  # noqa: F811
    snow.sync("ApSupplier")
    http("POST", f"{simulator['base_url']}/_sim/mutate", {"inserts": 0, "updates": 2, "backdated": 0, "deletes": 1, "backdate_max_days": 3, "tables": ["ApSupplier"]})
    found = report(snow, reconcile(snow, service, "ApSupplier", None, None))
    assert found["all"]["status"] == "drift" and found["all"]["row_count_difference"] == -1
    assert found["all"]["is_repull_triggered"]
    assert report(snow, reconcile(snow, service, "ApSupplier", None, None))["all"]["status"] == "ok"


def test_sums_are_compared_exactly_not_in_floating_point(snow):
    """Hand-made target rows and SYSPRO answer: 0.1 + 0.2 is 0.3 only in decimals, and a sum past
    a double's 15-16 significant digits keeps its cents."""
    from test_data_plane import encode, invoice, page

    rows = [
        invoice("A", "1", "2026-11-02", "0.10"),
        invoice("A", "2", "2026-11-02", "0.20"),
        invoice("B", "1", "2026-11-03", "9999999999999.99"),
        invoice("B", "2", "2026-11-03", "0.01"),
        invoice("B", "3", "2026-11-03", "1234567.89"),
    ]
    assert 0.1 + 0.2 != 0.3
    for r in rows:  # the target as a sync leaves it: one live row per key
        snow.query(
            "insert into syspro__ap_invoice (company_id, record_key, record, record_hash, watermark_value, poll_id,"
            " first_poll_id, fetched_at, loaded_at, first_loaded_at, is_deleted)"
            " select '', %(k)s, parse_json(%(r)s), md5(%(r)s), %(w)s::timestamp_ntz, 'hand-made', 'hand-made',"
            " current_timestamp(), current_timestamp(), current_timestamp(), false",
            {"k": f"{r['Supplier']}|{r['Invoice']}", "r": encode(r), "w": r["JournalDate"]},
        )

    def answer(day2: str, day3: str) -> str:
        return (
            '{"table": "ApInvoice", "period_column": "JournalDate", "period_from": "2026-11-01", "period_to": "2026-11-04",'
            ' "measures": ["OrigInvValue", "MthInvBal1"], "split_by": null, "periods": ['
            f'{{"period": "2026-11-02", "row_count": 2, "sums": {{"OrigInvValue": {day2}, "MthInvBal1": {day2}}}}},'
            f'{{"period": "2026-11-03", "row_count": 3, "sums": {{"OrigInvValue": {day3}, "MthInvBal1": {day3}}}}}]}}'
        )

    class Canned:
        """SYSPRO_RECONCILE answers a canned page; SYSPRO_PULL_RANGE (the re-pull) the day's rows."""

        def __init__(self, answer_page):
            self.answer_page = answer_page

        def call(self, path, table, since, until, cursor=None):
            if path == "/v1/reconcile":
                return self.answer_page
            assert path == "/v1/pull_range" and cursor is None, path
            day_rows = [r for r in rows if since <= r["JournalDate"][:10] < until]
            return page(table, day_rows, poll_id=str(uuid.uuid4()), since=since)

    window = ("2026-11-01", "2026-11-04")
    exact = reconcile(snow, Canned(answer("0.3", "10000001234567.89")), "ApInvoice", *window)
    assert {r["status"] for r in report(snow, exact).values()} == {"ok"}
    # one cent off on a 16-digit sum is drift, in that day only
    off_run = reconcile(snow, Canned(answer("0.3", "10000001234567.88")), "ApInvoice", *window)
    off = drift(snow, off_run)
    assert list(off) == ["2026-11-03"]
    assert off["2026-11-03"]["row_count_difference"] == 0
    diff = snow.query(
        "select sum_differences:MthInvBal1::varchar from audit_syspro__reconciliation"
        " where run_id = %(r)s and period = '2026-11-03'",
        {"r": off_run},
    )[0][0]
    assert Decimal(diff) == Decimal("-0.01")


def test_a_parallel_range_backfill_lands_the_same_rows_as_a_serial_pull(snow, simulator, service):  # noqa: F811
    for table in ("GenJournalDetail", "ApInvoice"):
        slug = snowside.slug(table)
        rounds: list[int] = []
        run_id = backfill(snow, service, table, "2026-05-01", 1, rounds=rounds)
        run = snow.run_row(run_id)
        assert run["status"] == "succeeded" and run["run_kind"] == "backfill", run
        assert rounds[0] >= 7, rounds  # May .. November, all in flight at once
        # each range pulled once, disjoint: no record landed twice
        landed, distinct = snow.query(
            "select count(*), count(distinct record_key) from raw_syspro__records where run_id = %(r)s", {"r": run_id}
        )[0]
        assert landed == distinct == int(run["rows_pulled"])
        # one poll (one cursor chain) per range
        polls = snow.query("select count(distinct poll_id) from audit_syspro__pages where run_id = %(r)s", {"r": run_id})[0][0]
        assert polls == rounds[0]
        assert snow.query("select count(*) from work_syspro__backfill_ranges")[0][0] == 0
        backfilled = snow.query(f"select record_key, record_hash, watermark_value, is_deleted from syspro__{slug} order by 1")
        backfill_high_water = snow.high_water(table)
        newest = snow.query(f"select max(watermark_value) from syspro__{slug}")[0][0]
        assert backfill_high_water is not None and backfill_high_water <= newest

        # the same table pulled serially from scratch
        snow.query(f"delete from syspro__{slug}")
        snow.query("delete from syspro_sync_state where table_name = %(t)s", {"t": table})
        snow.query("update syspro_sync_control set initial_since = '2026-05-01' where table_name = %(t)s", {"t": table})
        snow.sync(table)
        serial = snow.query(f"select record_key, record_hash, watermark_value, is_deleted from syspro__{slug} order by 1")
        assert backfilled == serial
        assert snow.high_water(table) == backfill_high_water
        assert len(serial) == len(expected(simulator, table))


def test_repulls_leave_the_watermark_and_the_backfill_moves_it_with_the_merge(setup_sql):
    """In the procedures themselves (which fakesnow cannot run): a re-pull never writes the
    watermark; a backfill writes it after its MERGEs, inside the same transaction."""
    import re

    bodies = dict(re.findall(r"^create or replace procedure [\w.]+\.(\w+)\(.*?^\$\$\n(.*?)^\$\$;", setup_sql, re.S | re.M))
    for table in WATERMARKED + SNAPSHOTS:
        slug = snowside.slug(table)
        for name in (f"repull_syspro_range__{slug}", f"reconcile_syspro__{slug}"):
            code = snowside.strip_comments(bodies[name])
            assert not re.search(r"(merge into|update|insert into|delete from) \S+\.syspro_sync_state", code), name
        code = snowside.strip_comments(bodies[f"backfill_syspro__{slug}"])
        transaction = code[code.index("begin transaction;") : code.index("commit;")]
        merge = transaction.index(f"merge into ml_connector.syspro.syspro__{slug} as target")
        assert merge < transaction.index("merge into ml_connector.syspro.syspro_sync_state as state"), table
        assert "rollback;" in code.split("exception", 1)[1]
