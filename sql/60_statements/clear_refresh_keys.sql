-- The run's pulls by key are merged (or it failed): drop its keys.
delete from {{database}}.{{schema}}.work_syspro__refresh_keys as refresh
where
    refresh.company_id = :company_id
    and refresh.run_id = :run_id
