-- Removes the page-buffer rows an abandoned run of this company x table left behind
-- (close_abandoned_runs marked it); the landing log keeps its pages.
delete from {{database}}.{{schema}}.work_syspro__pages as buffer
where
    buffer.company_id = :company_id
    and buffer.run_id in (
    select runs.run_id
    from {{database}}.{{schema}}.audit_syspro__runs as runs
    where
        runs.company_id = :company_id
        and runs.table_name = :table_name
        and runs.status = 'abandoned'
)
