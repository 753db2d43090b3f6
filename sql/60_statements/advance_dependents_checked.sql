-- After a successful key refresh: child rows loaded before this run started
-- have been looked at; the next refresh looks at rows loaded since.
update {{database}}.{{schema}}.syspro_sync_state as state
set dependents_checked_at = (
    select max(runs.started_at)
    from {{database}}.{{schema}}.audit_syspro__runs as runs
    where runs.run_id = :run_id
)
where
    state.company_id = :company_id
    and state.table_name = :table_name
