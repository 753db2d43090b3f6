"""The dashboard (streamlit/) in a real browser: the app runs on the local engine (fakesnow over
a DuckDB file) with demo data made by push mode from the simulator (dashboard_demo.py);
Debian's headless chromium loads every page; the figures the pages show must equal the report
views' and the audit trail's, queried directly; charts must render; no exception may show.
Screenshots go to target/dashboard-screenshots/.

Also checks what sqlfluff cannot parse: the rendered CREATE STREAMLIT (test_sql_parses.py).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import dashboard_demo
import snowside
from headless_chromium import Chromium, find_chromium
from pushrig import SERVICE, SIMULATOR

ROOT = snowside.ROOT
APP = ROOT / "streamlit" / "streamlit_app.py"
SHOTS = ROOT / "target" / "dashboard-screenshots"
CHROMIUM = find_chromium()

needs_binaries = pytest.mark.skipif(
    not (SIMULATOR.exists() and SERVICE.exists()),
    reason=f"needs {SIMULATOR.name} and {SERVICE.name}: run `cargo build --workspace` first",
)


def money(value) -> str:
    return f"{float(value):,.2f}"


def test_the_setup_creates_the_app_from_its_stage_and_grants_it_to_readers(setup_sql: str):
    database, schema = dashboard_demo.location(setup_sql)
    where = f"{database}.{schema}"
    stage = f"{where}.syspro_dashboard_stage"
    create = re.search(r"^create or replace streamlit (\S+)\n(.*?);$", setup_sql, re.S | re.M)
    assert create and create.group(1) == f"{where}.syspro_dashboard", "no CREATE STREAMLIT in the setup"
    options = " ".join(create.group(2).split())
    assert f"from '@{stage}'" in options and "main_file = 'streamlit_app.py'" in options
    assert re.search(r"query_warehouse = \w+", options)
    # the stage exists before the files are PUT, and the files before CREATE (FROM copies them)
    order = [setup_sql.index(s) for s in (f"create stage if not exists {stage}", "put 'file://streamlit/*.py'",
                                           "put 'file://streamlit/environment.yml'", create.group(0))]
    assert order == sorted(order)
    assert re.search(rf"^grant usage on streamlit {where}\.syspro_dashboard to role \w+;$", setup_sql, re.M)
    # what the PUTs upload is what the app needs, and nothing else
    assert APP.exists() and (APP.parent / "environment.yml").exists()
    assert {p.name for p in APP.parent.glob("*.py")} == {"streamlit_app.py", "dashboard_data.py", "dashboard_pages.py"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo database, and the figures the pages must show, read from the views directly
    (before the app opens the file: DuckDB lets one process at a time have it)."""
    import fakesnow
    import snowflake.connector

    folder = tmp_path_factory.mktemp("dashboard-db")
    database, schema = dashboard_demo.build(folder)
    with fakesnow.patch(db_path=folder):
        conn = snowflake.connector.connect(database=database, schema=schema)
        cur = conn.cursor()

        def rows(sql):
            cur.execute(sql)
            return cur.fetchall()

        want = dict(
            ap_open=rows("select currency_code, sum(balance_amount) from report_syspro__ap_aging group by currency_code"),
            spend=rows("select currency_code, sum(spend_amount) from report_syspro__spend_by_supplier group by currency_code"),
            stock=rows("select sum(stock_value_amount), sum(stock_code_count) from report_syspro__stock_by_warehouse")[0],
            tables=rows("select count(*) from syspro_sync_control")[0][0],
            failed=rows("select count(*) from audit_syspro__runs where status = 'failed'")[0][0],
            reconciled=rows("select count(*) from audit_syspro__reconciliation")[0][0],
            drift=rows("select count(*) from report_syspro__reconciliation_drift")[0][0],
        )
        conn.close()
    return folder, database, schema, want


@pytest.fixture(scope="module")
def app(demo):
    folder, database, schema, _ = demo
    port = free_port()
    env = dict(os.environ, MLC_DASHBOARD_DB=str(folder), MLC_DASHBOARD_DATABASE=database, MLC_DASHBOARD_SCHEMA=schema)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
         "--client.toolbarMode", "viewer"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"streamlit did not come up: {proc.stdout.read()[-3000:] if proc.poll() is not None else 'timeout'}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs the Debian package)")
        pytest.skip("needs chromium (Debian package `chromium`)")
    chrome = Chromium(CHROMIUM)
    yield chrome
    chrome.close()


PROBE = """(() => {
  const q = (s) => document.querySelectorAll(s).length;
  return {
    text: document.body ? document.body.innerText : '',
    charts: q('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'),
    tables: q('[data-testid="stDataFrame"]'),
    downloads: q('[data-testid="stDownloadButton"]'),
    exceptions: q('[data-testid="stException"]'),
    running: q('[data-testid="stStatusWidget"]'),
  };
})()"""


def metric(label: str, value: str) -> re.Pattern:
    """A st.metric as innerText shows it: its label, then its value."""
    return re.compile(rf"(^|\n){re.escape(label)}\s*\n\s*{re.escape(value)}(\n|$)")


def load(browser, url: str, name: str, expected: list[re.Pattern], charts: int):
    browser.goto(url)

    def ready(state):
        return (
            state["running"] == 0
            and "Source: local" in state["text"]  # the page's last line: the script ran to its end
            and state["charts"] >= charts
            and all(p.search(state["text"]) for p in expected)
        ) or state["exceptions"] > 0 or "Traceback" in state["text"]

    try:
        state = browser.wait_for(PROBE, ready, what=f"the {name} page")
    finally:
        browser.screenshot(SHOTS / f"{name}.png")
    assert state["exceptions"] == 0 and "Traceback" not in state["text"], f"{name} shows an exception:\n{state['text'][:3000]}"
    assert "Page not found" not in state["text"], name
    return state


@needs_binaries
def test_every_page_shows_the_figures_of_the_views_with_charts_and_no_exception(app, browser, demo):
    want = demo[3]

    health = load(browser, f"{app}/", "health", [
        metric("Tables", str(want["tables"])),
        metric("Failed runs", str(want["failed"])),
        re.compile("Runs per hour, by table"),
    ], charts=2)
    assert want["failed"] >= 1, "the demo has one failed sync (a SYSPRO outage)"
    assert "SHOW TASKS" in health["text"], "the local engine cannot list tasks, and says so"
    assert health["tables"] >= 3 and health["downloads"] >= 3

    rec = load(browser, f"{app}/reconciliation", "reconciliation", [
        metric("Periods reconciled", str(want["reconciled"])),
        metric("Drifting periods", str(want["drift"])),
        metric("Unresolved drift", "0"),
    ], charts=1)
    assert want["drift"] >= 1, "the demo loses a row in Snowflake: one drifting day, re-pulled"
    assert "What was re-pulled" in rec["text"] and rec["tables"] >= 3

    stock_value, stock_codes = want["stock"]
    expected = [metric(f"AP open {cur}", money(total)) for cur, total in want["ap_open"]]
    expected += [metric(f"Spend {cur}", money(total)) for cur, total in want["spend"]]
    expected += [metric("Stock value", money(stock_value)), metric("Stock codes", f"{int(stock_codes):,}")]
    assert len(want["ap_open"]) >= 2, "the demo's invoices are in several currencies"
    finance = load(browser, f"{app}/finance", "finance", expected, charts=4)
    for label in ("Currency", "Supplier", "Warehouse"):
        assert f"\n{label}\n" in finance["text"], f"no {label} filter"
    for name in ("ap_aging_by_currency", "ap_aging", "spend_by_supplier", "stock_by_warehouse"):
        assert f"Download {name}.csv" in finance["text"]
