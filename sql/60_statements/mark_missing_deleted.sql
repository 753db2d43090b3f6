-- After a pull by key is merged: target rows whose key SYSPRO answered it
-- does not have were hard-deleted there. A row whose version was read from
-- SYSPRO after that answer (a concurrent sync) is newer evidence and is
-- left alone. The key is the company's: (company_id, record_key).
update {{database}}.{{schema}}.syspro__{{table_slug}} as target
set
    is_deleted = true,
    deleted_at = sysdate(),
    deleted_by_run_id = :run_id
where
    target.company_id = :company_id
    and not target.is_deleted
    and exists (
        select 1
        from {{database}}.{{schema}}.work_syspro__refresh_keys as refresh
        where
            refresh.company_id = target.company_id
            and refresh.run_id = :run_id
            and refresh.batch_number = :batch_number
            and refresh.is_missing
            and refresh.record_key = target.record_key
            and target.fetched_at <= refresh.missing_fetched_at
    )
