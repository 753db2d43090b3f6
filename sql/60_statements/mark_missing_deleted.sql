-- After a pull by key is merged: target rows whose key SYSPRO answered it
-- does not have were hard-deleted there. A row whose version was read from
-- SYSPRO after that answer (a concurrent sync) is newer evidence and is
-- left alone.
update {{database}}.{{schema}}.syspro__{{table_slug}} as target
set
    is_deleted = true,
    deleted_at = sysdate(),
    deleted_by_run_id = :run_id
where
    not target.is_deleted
    and exists (
        select 1
        from {{database}}.{{schema}}.work_syspro__refresh_keys as refresh
        where
            refresh.run_id = :run_id
            and refresh.batch_number = :batch_number
            and refresh.is_missing
            and refresh.record_key = target.record_key
            and target.fetched_at <= refresh.missing_fetched_at
    )
