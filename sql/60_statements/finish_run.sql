-- Closes the run's audit row: counts from the page audit (or, for a replay,
-- from the landing log), the MERGE's counts, the watermark now stored, and
-- the outcome. On failure it runs after the rollback, so it records the
-- watermark the failed run left untouched.
update {{database}}.{{schema}}.audit_syspro__runs as runs
set
    poll_id = coalesce(
        runs.poll_id,
        (
            select max(pages.poll_id)
            from {{database}}.{{schema}}.audit_syspro__pages as pages
            where pages.run_id = :run_id
        )
    ),
    pages = (
        select count(*)
        from {{database}}.{{schema}}.audit_syspro__pages as pages
        where pages.run_id = :run_id
    ),
    rows_pulled = case
        when runs.run_kind = 'replay' then (
            select count(*)
            from {{database}}.{{schema}}.raw_syspro__records as records
            where records.poll_id = :poll_id
        )
        else (
            select coalesce(sum(pages.row_count), 0)
            from {{database}}.{{schema}}.audit_syspro__pages as pages
            where pages.run_id = :run_id
        )
    end,
    pulled_high_water = (
        select max(pages.high_water)
        from {{database}}.{{schema}}.audit_syspro__pages as pages
        where pages.run_id = :run_id
    ),
    new_high_water = (
        select max(state.high_water)
        from {{database}}.{{schema}}.syspro_sync_state as state
        where
            state.company_id = :company_id
            and state.table_name = :table_name
    ),
    -- null: keep what count_merge added page by page (push mode's pages)
    rows_inserted = coalesce(:rows_inserted, runs.rows_inserted),
    rows_updated = coalesce(:rows_updated, runs.rows_updated),
    rows_deleted = :rows_deleted,
    status = :run_status,
    error_kind = :error_kind,
    error_message = left(:error_message, 4000),
    finished_at = sysdate()
where
    runs.company_id = :company_id
    and runs.run_id = :run_id
