-- Reconciliation figures straight from SYSPRO: {table, period_column,
-- period_from, period_to, measures, split_by, periods: [{period, row_count,
-- sums: {measure: exact sum, "measure:split value": ...} }] }, one period per
-- day of the watermark column ('all' for snapshot tables), or {error, table}.
-- period_from is inclusive, period_to exclusive; null is unbounded (snapshot
-- tables take null for both).
-- MAX_BATCH_ROWS = 1: each row is a whole aggregation over SYSPRO (it streams
-- the window's measure columns), so one row per batch keeps every request
-- within the gateway's timeout and lets a query over several tables run
-- them side by side.
create or replace secure external function {{database}}.{{schema}}.syspro_reconcile(
    table_name varchar,
    period_from varchar,
    period_to varchar
)
    returns variant
    volatile
    comment = 'ml-connector: per-day row counts and exact sums of a SYSPRO table, for reconciliation'
    api_integration = {{integration}}
    headers = ('mlc-secret' = '{{secret}}')
    max_batch_rows = 1
    as '{{gateway_url}}/v1/reconcile';
