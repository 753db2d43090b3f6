"""End to end: the SYSPRO simulator, the real service called exactly as Snowflake calls an external
function, and the data-plane statements on fakesnow run in the procedures' order. After several
cycles of SYSPRO changes (inserts, updates, back-dated rows, hard deletes) every target table must
equal the simulator's truth, the audit trail must account for every page and row, and replaying a
poll must change nothing.

Skipped only when the binaries are not built; if they exist and fail, the test fails.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import subprocess
import threading
import urllib.request
import uuid
from decimal import Decimal

import pytest

import snowside
from snowside import TARGET, loads_exact

SIMULATOR = TARGET / "mlc-simulator"
SERVICE = TARGET / "ml-connector"

TABLES = [
    "ApInvoice",
    "ApInvoicePay",
    "ApSupplier",
    "PorMasterHdr",
    "PorMasterDetail",
    "GenMaster",
    "GenHistory",
    "GenJournalDetail",
    "InvMaster",
    "InvWarehouse",
    "InvMovements",
    "GrnDetails",
    "ArCustomer",
]

pytestmark = pytest.mark.skipif(
    not (SIMULATOR.exists() and SERVICE.exists()),
    reason=f"needs {SIMULATOR.name} and {SERVICE.name} in {TARGET}: run `cargo build` first",
)


class Process:
    """A child process whose stdout lines are read on a thread, so waits can time out."""

    def __init__(self, args, env=None):
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr.append), daemon=True).start()

    @staticmethod
    def _pump(stream, sink):
        for line in stream:
            sink(line.rstrip("\n"))

    def wait_line(self, predicate, timeout=30.0) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"{self.proc.args[0]} printed nothing usable in {timeout}s; stderr: {self.stderr[-20:]}")
            if predicate(line):
                return line

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def http(method: str, url: str, body=None, headers=None) -> str:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read().decode()


@pytest.fixture(scope="module")
def simulator():
    sim = Process([str(SIMULATOR), "--listen", "127.0.0.1:0", "--seed", "7", "--page-cap", "200"])
    try:
        info = json.loads(sim.wait_line(lambda line: line.startswith("{")))
        yield info
    finally:
        sim.stop()


@pytest.fixture(scope="module")
def service(simulator):
    secret = secrets.token_hex(16)
    env = dict(
        os.environ,
        MLC_SERVER__LISTEN="127.0.0.1:0",
        MLC_SERVER__SECRET=secret,
        MLC_SYSPRO__ODATA_URL=simulator["odata_url"],
        MLC_SYSPRO__USER=simulator["user"],
        MLC_SYSPRO__PASSWORD=simulator["password"],
        # a dead SYSPRO should fail fast in tests; the error row is the same
        MLC_SYSPRO__MAX_ATTEMPTS="3",
        MLC_SYSPRO__RETRY_INITIAL_BACKOFF_MS="20",
        MLC_SYSPRO__RETRY_MAX_BACKOFF_MS="50",
    )
    svc = Process([str(SERVICE), "serve"], env=env)
    try:
        line = svc.wait_line(lambda line: "listening on http://" in line)
        yield ExternalFunctions(line.split("listening on ", 1)[1].strip(), secret)
    finally:
        svc.stop()


class ExternalFunctions:
    """Calls the service exactly as Snowflake calls SYSPRO_PULL / SYSPRO_KEYS / SYSPRO_SCHEMA."""

    def __init__(self, base_url: str, secret: str):
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.query_id = str(uuid.uuid4())

    def call(self, path: str, *args) -> str:
        """Returns the row's value as raw JSON text, so decimals reach SQL with every digit."""
        text = http(
            "POST",
            f"{self.base_url}{path}",
            {"data": [[0, *args]]},
            {
                "sf-external-function-format": "json",
                "sf-external-function-format-version": "1.0",
                "sf-external-function-query-batch-id": f"{self.query_id}:{uuid.uuid4()}",
                "sf-external-function-current-query-id": self.query_id,
                "sf-custom-mlc-secret": self.secret,
            },
        )
        envelope = json.loads(text)
        assert [row[0] for row in envelope["data"]] == [0], envelope
        start = text.index("[[") + 2
        start = text.index(",", start) + 1
        while text[start].isspace():
            start += 1
        _, end = json.JSONDecoder().raw_decode(text, start)
        return text[start:end]

    def pull(self, table, since, cursor) -> str:
        return self.call("/v1/pull", table, since, cursor)

    def keys(self, table, cursor) -> str:
        return self.call("/v1/keys", table, cursor)

    def schema(self, table) -> str:
        return self.call("/v1/schema", table)

    def pull_open(self, table, cursor) -> str:
        return self.call("/v1/pull_open", table, cursor)

    def digests(self, table, cursor) -> str:
        return self.call("/v1/digests", table, cursor)

    def pull_keys(self, table, keys, cursor) -> str:
        return self.call("/v1/pull_keys", table, keys, cursor)


def expected(simulator, table) -> list[dict]:
    return loads_exact(http("GET", f"{simulator['base_url']}/_sim/tables/{table}"))


def by_key(records, key_columns) -> dict:
    return {tuple(str(r[k]) for k in key_columns): r for r in records}


def test_targets_equal_syspro_after_cycles_of_changes_and_replays_change_nothing(snow, simulator, service):
    sim = simulator["base_url"]
    key_columns = {}
    for cycle in range(4):
        if cycle > 0:
            # SYSPRO moves on: new, changed, back-dated and hard-deleted rows, then a new day
            http("POST", f"{sim}/_sim/mutate", {"inserts": 5, "updates": 5, "backdated": 3, "deletes": 2, "backdate_max_days": 3})
            http("POST", f"{sim}/_sim/advance?days=1")
        for table in TABLES:
            run_id = snow.sync(table, service.pull)
            run = snow.run_row(run_id)
            assert run["status"] == "succeeded", run
            landed = snow.query("select count(*) from raw_syspro__records where run_id = %(r)s", {"r": run_id})[0][0]
            assert int(run["rows_pulled"]) == int(landed)
            if cycle > 0:
                deletes = snow.run_row(snow.detect_deletes(table, service.keys))
                assert deletes["status"] == "succeeded", deletes

        for table in TABLES:
            truth = expected(simulator, table)
            assert truth, f"simulator has no rows for {table}"
            key_columns[table] = json.loads(snow.query(
                "select key_columns from syspro_sync_control where table_name = %(t)s", {"t": table}
            )[0][0])
            got = list(snow.current_records(table).values())
            assert len(got) == len(truth), f"cycle {cycle}: {table} has {len(got)} rows, SYSPRO {len(truth)}"
            want = by_key(truth, key_columns[table])
            have = by_key(got, key_columns[table])
            assert have.keys() == want.keys(), f"cycle {cycle}: {table} keys differ"
            diffs = [k for k in want if have[k] != want[k]]
            assert not diffs, f"cycle {cycle}: {table} differs for {diffs[:3]}: {[(have[k], want[k]) for k in diffs[:1]]}"

    # the watermark rule at work: incremental tables re-read from high water - 3 days
    run = snow.query(
        "select since, stored_high_water from audit_syspro__runs where table_name = 'ApInvoice' and run_kind = 'sync' order by started_at desc limit 1"
    )[0]
    assert run[0] == (run[1].date() - __import__("datetime").timedelta(days=3)).isoformat()
    assert snow.query("select count(*) from audit_syspro__runs where since is not null and table_name = 'ApSupplier'")[0][0] == 0

    # the audit trail accounts for every page and row
    orphans = snow.query(
        "select count(*) from raw_syspro__records as r left join audit_syspro__runs as a on a.run_id = r.run_id where a.run_id is null"
    )[0][0]
    assert orphans == 0
    mismatched = snow.query(
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
    assert snow.query("select count(*) from audit_syspro__pages where error_kind is not null")[0][0] == 0
    deletes = snow.query("select sum(rows_deleted) from audit_syspro__runs where run_kind = 'detect_deletes'")[0][0]
    assert int(deletes) > 0, "the simulator deleted rows; delete detection must have flagged some"

    # replaying any landed poll is a no-op on the targets
    for table in ("ApInvoice", "InvMovements", "ApSupplier"):
        before = snow.query(f"select record_key, record_hash, poll_id, loaded_at, is_deleted from syspro__{snowside.slug(table)} order by 1")
        polls = snow.query("select distinct poll_id from raw_syspro__records where table_name = %(t)s", {"t": table})
        for (poll_id,) in polls:
            replay = snow.run_row(snow.replay(poll_id))
            assert replay["status"] == "succeeded"
            assert (int(replay["rows_inserted"]), int(replay["rows_updated"])) == (0, 0), (table, poll_id)
        after = snow.query(f"select record_key, record_hash, poll_id, loaded_at, is_deleted from syspro__{snowside.slug(table)} order by 1")
        assert after == before

    # typed views from the service's own schema answer
    for table in ("ApInvoice", "InvWarehouse"):
        snow.refresh_typed_view(table, service.schema(table))
        count = snow.query(f"select count(*) from stg_syspro__{snowside.slug(table)}")[0][0]
        assert count == len(expected(simulator, table))
    # history: the current version of every live record is the target's record
    for table in ("ApInvoice", "InvWarehouse"):
        current = snow.query(f"select record_key, record from hist_syspro__{snowside.slug(table)} where is_current")
        assert {k: loads_exact(r) for k, r in current} == snow.current_records(table)

    # reports agree with SYSPRO's truth
    invoices = expected(simulator, "ApInvoice")
    open_balance = sum(Decimal(str(r["MthInvBal1"])) for r in invoices)
    aged = snow.query("select sum(balance_amount) from report_syspro__ap_aging")[0][0]
    assert abs(Decimal(str(aged)) - open_balance) < Decimal("0.01")
    # spend keeps invoices SYSPRO purged (flagged deleted here): past spend never shrinks (#19)
    purged = [loads_exact(r) for (r,) in snow.query("select record from syspro__ap_invoice where is_deleted")]
    spend = snow.query(
        "select sum(spend_amount), sum(invoice_count), sum(deleted_invoice_count) from report_syspro__spend_by_supplier"
    )[0]
    want_spend = sum(Decimal(str(r["OrigInvValue"])) for r in invoices + purged)
    assert abs(Decimal(str(spend[0])) - want_spend) < Decimal("0.01")
    assert int(spend[1]) == len(invoices) + len(purged) and int(spend[2]) == len(purged)
    on_hand = snow.query("select sum(stock_value_amount) from report_syspro__stock_by_warehouse")[0][0]
    want = sum(Decimal(str(r["QtyOnHand"])) * Decimal(str(r["UnitCost"])) for r in expected(simulator, "InvWarehouse"))
    assert abs(Decimal(str(on_hand)) - want) < Decimal("0.01")


def test_a_syspro_outage_is_audited_and_leaves_the_watermark(snow, simulator, service):
    sim = simulator["base_url"]
    snow.sync("ApInvoice", service.pull)
    before = snow.high_water("ApInvoice")
    assert before is not None

    http("POST", f"{sim}/_sim/faults", {"rate": 1.0, "kinds": [{"kind": "status", "code": 503}]})
    run_id = str(uuid.uuid4())
    try:
        with pytest.raises(snowside.ServiceError):
            snow.sync("ApInvoice", service.pull, run_id=run_id)
    finally:
        http("POST", f"{sim}/_sim/faults", {"clear": True, "rate": 0.0, "kinds": []})

    run = snow.run_row(run_id)
    assert run["status"] == "failed" and run["error_kind"] and run["error_kind"] != "snowflake_error", run
    assert run["error_message"] and run["new_high_water"] == before == snow.high_water("ApInvoice")
    attempts = snow.query("select max(error_attempts) from audit_syspro__pages where run_id = %(r)s", {"r": run_id})[0][0]
    assert int(attempts) >= 1

    # SYSPRO is back: the next run re-reads from the same watermark and catches up
    snow.sync("ApInvoice", service.pull)
    truth = by_key(expected(simulator, "ApInvoice"), ["Supplier", "Invoice"])
    have = by_key(list(snow.current_records("ApInvoice").values()), ["Supplier", "Invoice"])
    assert have == truth
