-- Only the drift: every reconciled period whose row count or sums differed
-- between SYSPRO and Snowflake, with what differed (SYSPRO minus Snowflake),
-- the targeted re-pull it triggered and how that went, and whether a later
-- reconciliation of the same company, table and period found it in balance
-- again. Filter by company_id for one company.
create or replace view {{database}}.{{schema}}.report_syspro__reconciliation_drift as
with

reconciliations as (
    select * from {{database}}.{{schema}}.audit_syspro__reconciliation
),

runs as (
    select * from {{database}}.{{schema}}.audit_syspro__runs
),

latest as (
    select
        reconciliations.company_id,
        reconciliations.table_name,
        reconciliations.period,
        reconciliations.status as latest_status,
        reconciliations.reconciled_at as latest_reconciled_at
    from reconciliations
    qualify row_number() over (
        partition by reconciliations.company_id, reconciliations.table_name, reconciliations.period
        order by reconciliations.reconciled_at desc
    ) = 1
),

final as (
    select
        -- ids
        reconciliations.run_id,
        reconciliations.company_id,
        reconciliations.table_name,
        reconciliations.period,
        -- measures
        reconciliations.syspro_row_count,
        reconciliations.target_row_count,
        reconciliations.row_count_difference,
        reconciliations.sum_differences,
        reconciliations.syspro_sums,
        reconciliations.target_sums,
        -- the targeted re-pull
        reconciliations.is_repull_triggered,
        reconciliations.repull_run_id,
        runs.status as repull_status,
        runs.rows_inserted as repull_rows_inserted,
        runs.rows_updated as repull_rows_updated,
        runs.rows_deleted as repull_rows_deleted,
        -- resolution
        latest.latest_status = 'ok'
            and latest.latest_reconciled_at > reconciliations.reconciled_at as is_resolved,
        -- date/times
        reconciliations.reconciled_at
    from reconciliations
    left join runs
        on runs.run_id = reconciliations.repull_run_id
    left join latest
        on
            latest.company_id = reconciliations.company_id
            and latest.table_name = reconciliations.table_name
            and latest.period = reconciliations.period
    where reconciliations.status = 'drift'
)

select * from final;
