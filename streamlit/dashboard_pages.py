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
            "table", "is_enabled", "schedule_group", "last_success_at", "minutes_behind", "high_water",
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
        runs = data.with_table(runs)
        runs["run_hour"] = pd.to_datetime(runs["run_hour"])
        left, right = st.columns(2)
        with left:
            st.caption("Runs per hour, by table")
            st.bar_chart(runs, x="run_hour", y="runs", color="table")
        with right:
            st.caption("Rows pulled per hour, by table")
            st.bar_chart(runs, x="run_hour", y="rows_pulled", color="table")
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
    summary = data.with_table(summary)
    st.bar_chart(summary, x="table", y=["reconciled_periods", "drift_periods"], stack=False)
    st.dataframe(summary, hide_index=True, use_container_width=True)
    download(summary, "reconciliation_by_table")

    st.subheader("Drift by table × period")
    if drift.empty:
        st.success("Every reconciled period balanced.")
    else:
        grid = data.with_table(drift).pivot_table(
            index="table", columns="period", values="row_count_difference", aggfunc="sum"
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

    # a supplier code or a warehouse is its company's: the same code in two companies is two
    # suppliers, so they are picked, filtered and totalled as (company, code)
    group = sorted(set(aging["company_id"]) | set(spend["company_id"]) | set(stock["company_id"]))
    with st.container(border=True):
        left, middle, right = st.columns(3)
        with left:
            currencies = pick("Currency", set(aging["currency_code"]) | set(spend["currency_code"]), "currency")
            if group != [""]:
                companies = pick("Company", group, "company")
            else:
                companies = group
        with middle:
            columns = ["company_id", "supplier_code", "supplier_name"]
            names = pd.concat([aging[columns], spend[columns]]).drop_duplicates(["company_id", "supplier_code"])
            labels = {
                data.labelled(r.company_id, f"{r.supplier_code} · {r.supplier_name}"): (r.company_id, r.supplier_code)
                for r in names.itertuples()
            }
            suppliers = {labels[x] for x in pick("Supplier", labels, "supplier")}
        with right:
            places = {data.labelled(r.company_id, r.warehouse_code): (r.company_id, r.warehouse_code) for r in stock.itertuples()}
            warehouses = {places[x] for x in pick("Warehouse", places, "warehouse")}

    def of(frame: pd.DataFrame, chosen: set, code: str) -> pd.Series:
        picked = [c in companies and (c, k) in chosen for c, k in zip(frame["company_id"], frame[code])]
        return pd.Series(picked, index=frame.index, dtype=bool)

    aging = aging[aging["currency_code"].astype(str).isin(currencies) & of(aging, suppliers, "supplier_code")]
    spend = spend[spend["currency_code"].astype(str).isin(currencies) & of(spend, suppliers, "supplier_code")]
    stock = stock[of(stock, warehouses, "warehouse_code")]

    # AP aging
    st.header("AP aging")
    st.caption("Open invoice balances (MthInvBal1, invoice currency) by days past due — report_syspro__ap_aging")
    if aging.empty:
        st.info("No open invoices for this selection.")
    else:
        # per company and currency: amounts in different currencies are never added
        by_currency = aging.groupby(["company_id", "currency_code"], as_index=False)[list(data.AGING_BUCKETS) + ["balance_amount", "open_invoice_count"]].sum()
        by_currency.insert(0, "ledger", [data.labelled(c, cur) for c, cur in zip(by_currency["company_id"], by_currency["currency_code"])])
        cols = st.columns(max(len(by_currency), 1))
        for col, row in zip(cols, by_currency.itertuples()):
            col.metric(f"AP open {row.ledger}", data.money(row.balance_amount))
            col.caption(f"{int(row.open_invoice_count):,} open invoices")
        buckets = by_currency.melt(id_vars="ledger", value_vars=list(data.AGING_BUCKETS), var_name="bucket", value_name="amount")
        buckets["bucket"] = buckets["bucket"].map(data.AGING_BUCKETS)
        # one chart per company and currency: amounts in different currencies share no axis
        for col, ledger in zip(st.columns(max(len(by_currency), 1)), by_currency["ledger"]):
            with col:
                st.bar_chart(buckets[buckets["ledger"] == ledger], x="bucket", y="amount", height=220, x_label=ledger)
        st.dataframe(by_currency.rename(columns=data.AGING_BUCKETS), hide_index=True, use_container_width=True)
        download(by_currency, "ap_aging_by_currency")

        st.subheader("Top suppliers by open balance")
        top = aging.sort_values("balance_amount", ascending=False).head(10)
        top = top.assign(supplier=[
            data.labelled(c, f"{code} · {name or ''} ({cur})")
            for c, code, name, cur in zip(top["company_id"], top["supplier_code"], top["supplier_name"], top["currency_code"])
        ])
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
        totals = spend.groupby(["company_id", "currency_code"], as_index=False)[["spend_amount", "invoice_count"]].sum()
        cols = st.columns(max(len(totals), 1))
        for col, row in zip(cols, totals.itertuples()):
            col.metric(f"Spend {data.labelled(row.company_id, row.currency_code)}", data.money(row.spend_amount))
            col.caption(f"{int(row.invoice_count):,} invoices")
        spend = spend.assign(ledger=[data.labelled(c, cur) for c, cur in zip(spend["company_id"], spend["currency_code"])])
        monthly = spend.groupby(["invoice_month", "ledger"], as_index=False)["spend_amount"].sum()
        st.line_chart(monthly, x="invoice_month", y="spend_amount", color="ledger")
        st.dataframe(spend, hide_index=True, use_container_width=True)
        download(spend, "spend_by_supplier")

    # stock
    st.header("Stock by warehouse")
    st.caption("Quantity on hand and its value at unit cost (InvWarehouse) — report_syspro__stock_by_warehouse")
    if stock.empty:
        st.info("No stock for this selection.")
    else:
        # each company values its stock in its own currency: one total per company
        by_company = stock.groupby("company_id", as_index=False)[["stock_value_amount", "stock_code_count"]].sum()
        cols = st.columns(2 * max(len(by_company), 1))
        for i, row in enumerate(by_company.itertuples()):
            cols[2 * i].metric(data.labelled(row.company_id, "Stock value"), data.money(row.stock_value_amount))
            cols[2 * i + 1].metric(data.labelled(row.company_id, "Stock codes"), f"{int(row.stock_code_count):,}")
        stock = stock.assign(warehouse=[data.labelled(c, w) for c, w in zip(stock["company_id"], stock["warehouse_code"])])
        st.bar_chart(stock, x="warehouse", y="stock_value_amount")
        st.dataframe(stock, hide_index=True, use_container_width=True)
        download(stock, "stock_by_warehouse")
    footer()
