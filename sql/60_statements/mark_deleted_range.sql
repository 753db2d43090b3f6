-- After a complete re-pull of [since, until_day): rows of that range that
-- SYSPRO did not return were hard-deleted there (or moved to another day,
-- whose own reconciliation brings them back). Only rows loaded before the
-- re-pull started are judged: a sync running meanwhile may have loaded a
-- row the re-pull could not see yet. A snapshot
-- table's whole-table re-pull passes null for both bounds. Only the
-- company's own rows are judged: another company's rows are never in this
-- re-pull's answer.
update {{database}}.{{schema}}.syspro__{{table_slug}} as target
set
    is_deleted = true,
    deleted_at = sysdate(),
    deleted_by_run_id = :run_id
where
    target.company_id = :company_id
    and not target.is_deleted
    and (:since is null or target.watermark_value >= to_timestamp_ntz(:since, 'YYYY-MM-DD'))
    and (:until_day is null or target.watermark_value < to_timestamp_ntz(:until_day, 'YYYY-MM-DD'))
    and target.loaded_at < (
        select max(runs.started_at)
        from {{database}}.{{schema}}.audit_syspro__runs as runs
        where runs.run_id = :run_id
    )
    and target.record_key not in (
        select records.record_key
        from {{database}}.{{schema}}.raw_syspro__records as records
        where records.run_id = :run_id
    )
