-- Flags rows whose key SYSPRO no longer has. Only rows loaded before the
-- key scan started are judged: a sync running during the scan may have
-- loaded a row the scan could not see yet. An empty key list is treated as
-- a broken answer, never as "everything was deleted".
update {{database}}.{{schema}}.syspro__{{table_slug}} as target
set
    is_deleted = true,
    deleted_at = sysdate(),
    deleted_by_run_id = :run_id
where
    not target.is_deleted
    and target.loaded_at < (
        select max(runs.started_at)
        from {{database}}.{{schema}}.audit_syspro__runs as runs
        where runs.run_id = :run_id
    )
    and target.record_key not in (
        select seen.record_key
        from {{database}}.{{schema}}.raw_syspro__seen_keys as seen
        where seen.run_id = :run_id
    )
    and exists (
        select 1
        from {{database}}.{{schema}}.raw_syspro__seen_keys as seen
        where seen.run_id = :run_id
    )
