"""The dashboard's one way to its data: SQL text in, a pandas DataFrame out.

In Snowflake the app runs on the Snowpark session Streamlit in Snowflake hands it
(`get_active_session()`), with the database and schema of the Streamlit object, so every query
names the objects unqualified. Anywhere else it reads a local database made by
`scripts/dashboard.sh` (fakesnow over a DuckDB file: the engine the tests use), named by
`MLC_DASHBOARD_DB` (the folder), `MLC_DASHBOARD_DATABASE` and `MLC_DASHBOARD_SCHEMA`.

The queries use only what both engines run: plain selects, group by, `qualify`, `case`.
Every row carries its SYSPRO `company_id` ('' in a deployment of one company): a table, a
supplier code or a warehouse is its company's, so the pages key, join and total per company.
Column names come back lower case; numbers as floats (Snowflake's NUMBER arrives as Decimal or
float depending on the path), timestamps as pandas timestamps (UTC, no zone, like the audit).
"""

from __future__ import annotations

import decimal
import os
import threading

import pandas as pd


class Source:
    """Runs SQL on one engine. `kind` is `snowflake` or `local`."""

    def __init__(self, kind: str, run):
        self.kind = kind
        self._run = run
        self._lock = threading.Lock()  # Streamlit reruns on threads; a DuckDB connection is not shared safely

    def query(self, sql: str) -> pd.DataFrame:
        with self._lock:
            frame = self._run(sql)
        frame.columns = [str(c).lower() for c in frame.columns]
        for column in frame.columns:
            values = frame[column].dropna()
            if len(values) and frame[column].dtype == object and all(isinstance(v, decimal.Decimal) for v in values):
                frame[column] = frame[column].astype(float)
        return frame


def connect() -> Source:
    try:
        from snowflake.snowpark.context import get_active_session

        session = get_active_session()
    except Exception:  # not in Snowflake: no Snowpark, or no active session
        return _local()
    return Source("snowflake", lambda sql: session.sql(sql).to_pandas())


def _local() -> Source:
    import logging
    import warnings

    import fakesnow
    import snowflake.connector

    warnings.filterwarnings("ignore", module="fakesnow")  # DuckDB's notes on every query
    logging.getLogger("sqlglot").setLevel(logging.ERROR)

    folder = os.environ.get("MLC_DASHBOARD_DB")
    if not folder or not os.path.isdir(folder):
        raise RuntimeError(
            "not in Snowflake and MLC_DASHBOARD_DB names no folder: start the app with scripts/dashboard.sh"
        )
    patch = fakesnow.patch(db_path=folder)
    patch.__enter__()  # for the life of the process: the app's only connection
    conn = snowflake.connector.connect(
        database=os.environ.get("MLC_DASHBOARD_DATABASE", "ml_connector"),
        schema=os.environ.get("MLC_DASHBOARD_SCHEMA", "syspro"),
    )

    def run(sql: str) -> pd.DataFrame:
        cur = conn.cursor()
        cur.execute(sql)
        names = [d[0] for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=names)

    source = Source("local", run)
    source._keep = (patch, conn)  # the patch ends (and closes the database) when collected
    return source


# -- what the pages read ----------------------------------------------------------------------

TABLES = """
select company_id, table_name, schedule_group, verify_group, is_enabled, watermark_column
from syspro_sync_control
"""

STATE = """
select company_id, table_name, high_water, updated_at as state_updated_at
from syspro_sync_state
"""

LAST_SUCCESS = """
select company_id, table_name, max(finished_at) as last_success_at
from audit_syspro__runs
where run_kind = 'sync' and status = 'succeeded'
group by company_id, table_name
"""

LAST_RUN = """
select company_id, table_name, run_kind as last_run_kind, status as last_status, started_at as last_started_at
from audit_syspro__runs
where run_kind = 'sync'
qualify row_number() over (partition by company_id, table_name order by started_at desc) = 1
"""

LAST_VERIFY = """
select
    company_id,
    table_name,
    status as verify_status,
    finished_at as verified_at,
    keys_compared as verify_keys_compared,
    keys_changed as verify_keys_changed,
    keys_absent as verify_keys_absent,
    keys_flagged_deleted as verify_keys_flagged_deleted
from audit_syspro__runs
where run_kind = 'verify'
qualify row_number() over (partition by company_id, table_name order by started_at desc) = 1
"""

LAST_RECONCILIATION = """
with latest as (
    select company_id, table_name, run_id
    from audit_syspro__reconciliation
    qualify row_number() over (partition by company_id, table_name order by reconciled_at desc) = 1
)
select
    reconciliations.company_id,
    reconciliations.table_name,
    max(reconciliations.reconciled_at) as reconciled_at,
    count(*) as reconciled_periods,
    sum(case when reconciliations.status = 'drift' then 1 else 0 end) as drift_periods
from audit_syspro__reconciliation as reconciliations
inner join latest
    on
        latest.run_id = reconciliations.run_id
        and latest.company_id = reconciliations.company_id
        and latest.table_name = reconciliations.table_name
group by reconciliations.company_id, reconciliations.table_name
"""

RUNS_BY_HOUR = """
select
    date_trunc('hour', started_at) as run_hour,
    company_id,
    table_name,
    count(*) as runs,
    sum(case when status = 'failed' then 1 else 0 end) as failed_runs,
    sum(coalesce(rows_pulled, 0)) as rows_pulled
from audit_syspro__runs
where started_at >= dateadd(day, -14, current_timestamp())
group by date_trunc('hour', started_at), company_id, table_name
order by run_hour, company_id, table_name
"""

FAILURES = """
select started_at, company_id, table_name, run_kind, error_kind, error_message, run_id
from audit_syspro__runs
where status = 'failed'
order by started_at desc
limit 200
"""

TASKS = "show tasks like 'TASK_SYSPRO%' in schema"

RECONCILIATION_BY_TABLE = """
select
    company_id,
    table_name,
    count(*) as reconciled_periods,
    sum(case when status = 'drift' then 1 else 0 end) as drift_periods,
    sum(case when is_repull_triggered then 1 else 0 end) as repulls,
    max(reconciled_at) as last_reconciled_at
from audit_syspro__reconciliation
group by company_id, table_name
order by company_id, table_name
"""

DRIFT = """
select
    company_id,
    table_name,
    period,
    syspro_row_count,
    target_row_count,
    row_count_difference,
    to_varchar(sum_differences) as sum_differences,
    is_repull_triggered,
    repull_run_id,
    repull_status,
    repull_rows_inserted,
    repull_rows_updated,
    repull_rows_deleted,
    is_resolved,
    reconciled_at,
    run_id
from report_syspro__reconciliation_drift
order by reconciled_at desc, company_id, table_name, period
"""

AP_AGING = """
select
    company_id,
    supplier_code,
    supplier_name,
    currency_code,
    current_amount,
    past_due_1_30_amount,
    past_due_31_60_amount,
    past_due_61_90_amount,
    past_due_over_90_amount,
    balance_amount,
    open_invoice_count,
    aged_on_date
from report_syspro__ap_aging
order by balance_amount desc
"""

SPEND = """
select company_id, supplier_code, supplier_name, currency_code, invoice_month, spend_amount, invoice_count
from report_syspro__spend_by_supplier
order by invoice_month, company_id, supplier_code
"""

STOCK = """
select company_id, warehouse_code, stock_code_count, on_hand_quantity, stock_value_amount
from report_syspro__stock_by_warehouse
order by company_id, warehouse_code
"""

# labels that sort in bucket order (charts order categories by name)
AGING_BUCKETS = {
    "current_amount": "0 current",
    "past_due_1_30_amount": "1-30 days",
    "past_due_31_60_amount": "31-60 days",
    "past_due_61_90_amount": "61-90 days",
    "past_due_over_90_amount": "90+ days",
}


def health(source: Source) -> pd.DataFrame:
    """One row per table of the control table: freshness, last run, last verify, last reconciliation."""
    frame = source.query(TABLES)
    for sql in (STATE, LAST_SUCCESS, LAST_RUN, LAST_VERIFY, LAST_RECONCILIATION):
        frame = frame.merge(source.query(sql), on=["company_id", "table_name"], how="left")
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    last = pd.to_datetime(frame["last_success_at"])
    frame["minutes_behind"] = ((now - last).dt.total_seconds() / 60).round(1)
    frame.insert(0, "table", [qualified(c, t) for c, t in zip(frame["company_id"], frame["table_name"])])
    return frame.sort_values(["company_id", "table_name"]).reset_index(drop=True)


def qualified(company_id, table_name) -> str:
    """`UK1.ApInvoice`, or the bare name for the single company (''), as the service spells it."""
    company = "" if company_id is None or str(company_id) == "nan" else str(company_id)
    return f"{company}.{table_name}" if company else str(table_name)


def with_table(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with a `table` column: its company's qualified table name."""
    return frame.assign(table=[qualified(c, t) for c, t in zip(frame["company_id"], frame["table_name"])])


def labelled(company_id, name) -> str:
    """A label prefixed with its company, unless the deployment has just the one ('')."""
    company = "" if company_id is None or str(company_id) == "nan" else str(company_id)
    return f"{company} {name}" if company else str(name)


def tasks(source: Source) -> pd.DataFrame | None:
    """The schema's tasks and whether they run (SHOW TASKS); None where the engine cannot say."""
    try:
        frame = source.query(TASKS)
    except Exception:
        return None
    keep = [c for c in ("name", "state", "schedule", "warehouse", "last_committed_on", "last_suspended_on") if c in frame.columns]
    return frame[keep]


def money(value) -> str:
    """The one way the pages print amounts: two decimals, thousands separated."""
    return f"{float(value):,.2f}"
