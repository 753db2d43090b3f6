-- Records on the run's audit row what its pulls by key did: keys re-pulled
-- and target rows flagged deleted (sync and verify), and for verify what the
-- digest scan compared: keys listed, changed and absent. Counted from the
-- work tables and the target, so it is right after a partial failure too.
-- finish_run then closes the row.
update {{database}}.{{schema}}.audit_syspro__runs as runs
set
    keys_compared = case
        when runs.run_kind = 'verify' then (
            select count(*)
            from {{database}}.{{schema}}.work_syspro__verify_digests as listed
            where listed.run_id = :run_id
        )
    end,
    keys_changed = case
        when runs.run_kind = 'verify' then (
            select count(*)
            from {{database}}.{{schema}}.work_syspro__refresh_keys as refresh
            where refresh.run_id = :run_id and refresh.reason = 'changed'
        )
    end,
    keys_absent = case
        when runs.run_kind = 'verify' then (
            select count(*)
            from {{database}}.{{schema}}.work_syspro__refresh_keys as refresh
            where refresh.run_id = :run_id and refresh.reason = 'absent'
        )
    end,
    keys_refreshed = (
        select count(*)
        from {{database}}.{{schema}}.work_syspro__refresh_keys as refresh
        where refresh.run_id = :run_id
    ),
    keys_flagged_deleted = (
        select count(*)
        from {{database}}.{{schema}}.syspro__{{table_slug}} as target
        where
            target.company_id = :company_id
            and target.deleted_by_run_id = :run_id
    )
where
    runs.company_id = :company_id
    and runs.run_id = :run_id
