-- The run's pulls by key are merged (or it failed): drop its keys.
delete from {{database}}.{{schema}}.work_syspro__refresh_keys as refresh
where refresh.run_id = :run_id
