-- Verify's delete check: flags rows whose key SYSPRO no longer lists. Only
-- rows loaded before the verify run started are judged (a sync running
-- during the scan may have loaded a row the scan could not see yet), and an
-- empty list flags nothing: it is treated as a broken answer, never as
-- "everything was deleted". A failed page fails the run before this runs.
-- Only the company's own rows are judged: the list is that company's.
update {{database}}.{{schema}}.syspro__{{table_slug}} as target
set
    is_deleted = true,
    deleted_at = sysdate(),
    deleted_by_run_id = :run_id
where
    target.company_id = :company_id
    and not target.is_deleted
    and target.loaded_at < (
        select max(runs.started_at)
        from {{database}}.{{schema}}.audit_syspro__runs as runs
        where runs.run_id = :run_id
    )
    and target.record_key not in (
        select listed.record_key
        from {{database}}.{{schema}}.work_syspro__verify_digests as listed
        where listed.run_id = :run_id
    )
    and exists (
        select 1
        from {{database}}.{{schema}}.work_syspro__verify_digests as listed
        where listed.run_id = :run_id
    )
