-- Opens the run's audit row before any call, and decides `since` for a sync
-- in one place. The watermark rule: SYSPRO's business dates carry no time
-- and late postings arrive back-dated, so re-read from the stored high water
-- minus overlap_days, at day granularity, with `>=` on SYSPRO's side; the
-- MERGE dedupes on the key, so re-read rows are never doubled and rows
-- posted later on the same day are never lost. Snapshot tables always read
-- everything. Inserts nothing for a company x table missing from the
-- control table. Each company's watermark is its own.
insert into {{database}}.{{schema}}.audit_syspro__runs (
    run_id,
    run_kind,
    company_id,
    table_name,
    poll_id,
    since,
    stored_high_water,
    status,
    started_at
)
select
    :run_id,
    :run_kind,
    control.company_id,
    control.table_name,
    :poll_id,
    case
        when :run_kind <> 'sync' then null
        when control.watermark_column is null then null
        when state.high_water is null then to_varchar(control.initial_since, 'YYYY-MM-DD')
        else to_varchar(
            dateadd(day, -control.overlap_days, to_date(state.high_water)),
            'YYYY-MM-DD'
        )
    end,
    state.high_water,
    'running',
    sysdate()
from {{database}}.{{schema}}.syspro_sync_control as control
left join {{database}}.{{schema}}.syspro_sync_state as state
    on
        state.company_id = control.company_id
        and state.table_name = control.table_name
where
    control.company_id = :company_id
    and control.table_name = :table_name
