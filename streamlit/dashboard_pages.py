"""The dashboard's pages. Every number comes from dashboard_data's queries over the audit trail
and the report views; every chart has its table beside it and a CSV download."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import dashboard_data as data

CACHE_SECONDS = 300


@st.cache_resource
def source() -> data.Source:
    return data.connect()


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def read(sql: str) -> pd.DataFrame:
    return source().query(sql)


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def read_health() -> pd.DataFrame:
    return data.health(source())


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def read_tasks():
    return data.tasks(source())


def download(frame: pd.DataFrame, name: str) -> None:
    st.download_button(
        f"Download {name}.csv",
        frame.to_csv(index=False).encode("utf-8"),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"download-{name}",
    )


def footer() -> None:
    st.caption(f"Source: {source().kind} · cached {CACHE_SECONDS // 60} min · refresh with the ⋮ menu → Rerun")


# -- Health ------------------------------------------------------------------------------------


def health_page() -> None:
    st.title("Sync health")
    frame = read_health()
    if frame.empty:
        st.info("The control table lists no SYSPRO tables yet: run the setup and a first sync.")
        return
    failed_last = frame["last_status"].eq("failed").sum()
    never = frame["last_success_at"].isna().sum()
    cols = st.columns(4)
    cols[0].metric("Tables", len(frame))
    cols[1].metric("Last sync failed", int(failed_last))
    cols[2].metric("Never synced", int(never))
    cols[3].metric("Most minutes behind", "—" if frame["minutes_behind"].isna().all() else f"{frame['minutes_behind'].max():,.1f}")

    st.subheader("Per table")
    st.caption(
        "minutes behind: since the last successful sync finished (UTC); high water: the latest SYSPRO date merged. "
        "Verify and reconciliation: their latest run."
    )
    shown = frame[
        [
            "table_name", "is_enabled", "schedule_group", "last_success_at", "minutes_behind", "high_water",
            "last_status", "last_started_at", "verify_status", "verified_at", "verify_keys_changed",
            "verify_keys_absent", "verify_keys_flagged_deleted", "reconciled_at", "reconciled_periods", "drift_periods",
        ]
    ]
    st.dataframe(shown, hide_index=True, use_container_width=True)
    download(shown, "sync_health")

    st.subheader("Runs and rows over time")
    runs = read(data.RUNS_BY_HOUR)
    if runs.empty:
        st.info("No runs in the last 14 days.")
    else:
        runs["run_hour"] = pd.to_datetime(runs["run_hour"])
        left, right = st.columns(2)
        with left:
            st.caption("Runs per hour, by table")
            st.bar_chart(runs, x="run_hour", y="runs", color="table_name")
        with right:
            st.caption("Rows pulled per hour, by table")
            st.bar_chart(runs, x="run_hour", y="rows_pulled", color="table_name")
        st.dataframe(runs, hide_index=True, use_container_width=True)
        download(runs, "runs_by_hour")

    st.subheader("Failures")
    failures = read(data.FAILURES)
    if failures.empty:
        st.success("No failed runs.")
    else:
        st.metric("Failed runs", len(failures))
        st.dataframe(failures, hide_index=True, use_container_width=True)
        download(failures, "failed_runs")

    st.subheader("Tasks")
    tasks = read_tasks()
    if tasks is None:
        st.info("Task state is read with SHOW TASKS, which only Snowflake answers (not this local engine).")
    else:
        suspended = tasks[tasks["state"].astype(str).str.lower() != "started"] if "state" in tasks else tasks.iloc[0:0]
        if len(suspended):
            st.warning(f"{len(suspended)} task(s) not started: " + ", ".join(suspended["name"].astype(str)))
        st.dataframe(tasks, hide_index=True, use_container_width=True)
    footer()


# -- Reconciliation ----------------------------------------------------------------------------


def reconciliation_page() -> None:
    st.title("Reconciliation")
    summary = read(data.RECONCILIATION_BY_TABLE)
    drift = read(data.DRIFT)
    cols = st.columns(3)
    cols[0].metric("Periods reconciled", int(summary["reconciled_periods"].sum()) if len(summary) else 0)
    cols[1].metric("Drifting periods", len(drift))
    cols[2].metric("Unresolved drift", int((~drift["is_resolved"].fillna(False).astype(bool)).sum()) if len(drift) else 0)
    if summary.empty:
        st.info("No reconciliation has run yet (task_syspro_reconcile, daily).")
        footer()
        return

    st.subheader("Per table")
    st.bar_chart(summary, x="table_name", y=["reconciled_periods", "drift_periods"], stack=False)
    st.dataframe(summary, hide_index=True, use_container_width=True)
    download(summary, "reconciliation_by_table")

    st.subheader("Drift by table × period")
    if drift.empty:
        st.success("Every reconciled period balanced.")
    else:
        grid = drift.pivot_table(
            index="table_name", columns="period", values="row_count_difference", aggfunc="sum"
        )
        st.caption("Row count difference, SYSPRO minus Snowflake (> 0: rows missing in Snowflake)")
        st.dataframe(grid, use_container_width=True)
        st.subheader("What was re-pulled")
        st.dataframe(drift, hide_index=True, use_container_width=True)
        download(drift, "reconciliation_drift")
    footer()


# -- Finance -----------------------------------------------------------------------------------


def pick(label: str, options, key: str) -> list:
    options = sorted(str(o) for o in options if o is not None and str(o) != "nan")
    chosen = st.multiselect(label, options, key=key, placeholder="All")
    return chosen or options


def finance_page() -> None:
    st.title("Finance")
    aging = read(data.AP_AGING)
    spend = read(data.SPEND)
    stock = read(data.STOCK)

    with st.container(border=True):
        left, middle, right = st.columns(3)
        with left:
            currencies = pick("Currency", set(aging["currency_code"]) | set(spend["currency_code"]), "currency")
        with middle:
            names = pd.concat([aging[["supplier_code", "supplier_name"]], spend[["supplier_code", "supplier_name"]]])
            names = names.drop_duplicates("supplier_code")
            labels = {f"{r.supplier_code} · {r.supplier_name}": r.supplier_code for r in names.itertuples()}
            suppliers = [labels[x] for x in pick("Supplier", labels, "supplier")]
        with right:
            warehouses = pick("Warehouse", stock["warehouse_code"], "warehouse")

    aging = aging[aging["currency_code"].astype(str).isin(currencies) & aging["supplier_code"].isin(suppliers)]
    spend = spend[spend["currency_code"].astype(str).isin(currencies) & spend["supplier_code"].isin(suppliers)]
    stock = stock[stock["warehouse_code"].astype(str).isin(warehouses)]

    # AP aging
    st.header("AP aging")
    st.caption("Open invoice balances (MthInvBal1, invoice currency) by days past due — report_syspro__ap_aging")
    if aging.empty:
        st.info("No open invoices for this selection.")
    else:
        by_currency = aging.groupby("currency_code", as_index=False)[list(data.AGING_BUCKETS) + ["balance_amount", "open_invoice_count"]].sum()
        cols = st.columns(max(len(by_currency), 1))
        for col, row in zip(cols, by_currency.itertuples()):
            col.metric(f"AP open {row.currency_code}", data.money(row.balance_amount))
            col.caption(f"{int(row.open_invoice_count):,} open invoices")
        buckets = by_currency.melt(id_vars="currency_code", value_vars=list(data.AGING_BUCKETS), var_name="bucket", value_name="amount")
        buckets["bucket"] = buckets["bucket"].map(data.AGING_BUCKETS)
        # one chart per currency: amounts in different currencies share no axis
        for col, currency in zip(st.columns(max(len(by_currency), 1)), by_currency["currency_code"]):
            with col:
                st.bar_chart(buckets[buckets["currency_code"] == currency], x="bucket", y="amount", height=220, x_label=currency)
        st.dataframe(by_currency.rename(columns=data.AGING_BUCKETS), hide_index=True, use_container_width=True)
        download(by_currency, "ap_aging_by_currency")

        st.subheader("Top suppliers by open balance")
        top = aging.sort_values("balance_amount", ascending=False).head(10)
        top = top.assign(supplier=top["supplier_code"] + " · " + top["supplier_name"].fillna("") + " (" + top["currency_code"] + ")")
        st.bar_chart(top, x="supplier", y=list(data.AGING_BUCKETS), horizontal=True)
        st.dataframe(aging, hide_index=True, use_container_width=True)
        download(aging, "ap_aging")

    # spend
    st.header("Spend by supplier")
    st.caption("Original invoice values (OrigInvValue, invoice currency) by invoice month — report_syspro__spend_by_supplier")
    if spend.empty:
        st.info("No invoices for this selection.")
    else:
        spend = spend.assign(invoice_month=pd.to_datetime(spend["invoice_month"]))
        totals = spend.groupby("currency_code", as_index=False)[["spend_amount", "invoice_count"]].sum()
        cols = st.columns(max(len(totals), 1))
        for col, row in zip(cols, totals.itertuples()):
            col.metric(f"Spend {row.currency_code}", data.money(row.spend_amount))
            col.caption(f"{int(row.invoice_count):,} invoices")
        monthly = spend.groupby(["invoice_month", "currency_code"], as_index=False)["spend_amount"].sum()
        st.line_chart(monthly, x="invoice_month", y="spend_amount", color="currency_code")
        st.dataframe(spend, hide_index=True, use_container_width=True)
        download(spend, "spend_by_supplier")

    # stock
    st.header("Stock by warehouse")
    st.caption("Quantity on hand and its value at unit cost (InvWarehouse) — report_syspro__stock_by_warehouse")
    if stock.empty:
        st.info("No stock for this selection.")
    else:
        cols = st.columns(2)
        cols[0].metric("Stock value", data.money(stock["stock_value_amount"].sum()))
        cols[1].metric("Stock codes", f"{int(stock['stock_code_count'].sum()):,}")
        st.bar_chart(stock, x="warehouse_code", y="stock_value_amount")
        st.dataframe(stock, hide_index=True, use_container_width=True)
        download(stock, "stock_by_warehouse")
    footer()
